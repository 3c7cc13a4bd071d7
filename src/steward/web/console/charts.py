"""Trend charts as inline SVG computed on the server: no script, no style attribute (the page's
CSP allows neither inline), only SVG presentation attributes the template writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT, PAD = 240, 64, 4


@dataclass(frozen=True)
class Chart:
    """A line per run of known values (a gap where a day has no data), the points, and the
    range its text alternative names."""

    lines: list[str]  # SVG polyline `points` attributes
    dots: list[tuple[float, float]]
    low: float | None
    high: float | None
    first: str
    last: str
    known: int

    @property
    def empty(self) -> bool:
        return self.known == 0


def chart(series: Sequence[tuple[datetime, float | None]]) -> Chart:
    values = [v for _, v in series if v is not None]
    if not series or not values:
        return Chart([], [], None, None, "", "", 0)
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(series) - 1)
    lines: list[str] = []
    dots: list[tuple[float, float]] = []
    run: list[str] = []
    for i, (_, v) in enumerate(series):
        if v is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        x = PAD + i * step
        y = HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD)
        run.append(f"{x:.1f},{y:.1f}")
        dots.append((round(x, 1), round(y, 1)))
    if len(run) > 1:
        lines.append(" ".join(run))
    return Chart(
        lines,
        dots,
        low,
        high,
        series[0][0].date().isoformat(),
        series[-1][0].date().isoformat(),
        len(values),
    )
