"""The six metrics, adoption and deflection, per center and period, against their targets.

Everything is read from the hourly and daily rollups :mod:`steward.operations.rollup` folds from
the audit trail (each call folds what is new first), so a report over a million audit rows reads
a few hundred small rows. Definitions are in docs/metrics.md; a metric with no data is ``None``,
never a made-up value, and so is its status.

>>> report(rt, center="north", since=parse_since("7d"))["resolution_rate"]  # doctest: +SKIP
0.8125
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, or_, select

from steward.config.settings import DEFAULT_TARGETS, OperationsSettings
from steward.core.errors import ConfigError, InputError, NotFoundError
from steward.operations.rollup import (
    ASKERS,
    DAILY,
    EDGES,
    N_BUCKETS,
    ROLLUPS,
    day_of,
    fold,
    hour_of,
    utc,
    watermark,
)
from steward.store import Store
from steward.store.models import Center

if TYPE_CHECKING:
    from steward.runtime import Runtime

# name -> (label, what it means in one sentence, unit); the dashboard's order.
METRICS: dict[str, tuple[str, str, str]] = {
    "resolution_rate": (
        "Resolution rate",
        "Share of questions answered and not handed off, reopened or corrected within the "
        "reopen window.",
        "ratio",
    ),
    "escalation_rate": (
        "Escalation rate",
        "Share of questions handed to a person.",
        "ratio",
    ),
    "answer_precision": (
        "Answer precision",
        "Share of the answers reviewers checked that they marked right.",
        "ratio",
    ),
    "latency_ms_p50": (
        "Latency p50",
        "Half of the questions got their reply faster than this.",
        "ms",
    ),
    "latency_ms_p95": (
        "Latency p95",
        "95 of 100 questions got their reply faster than this.",
        "ms",
    ),
    "cost_per_resolved": (
        "Cost per resolved question",
        "Model spend divided by the questions resolved.",
        "USD",
    ),
    "satisfaction": (
        "Satisfaction",
        "Mean feedback on a 1-5 scale (thumbs up counts 5, thumbs down 1).",
        "score",
    ),
    "deflection": (
        "Deflection",
        "Share of questions that never needed a person (no hand-off then or within the window).",
        "ratio",
    ),
    "active_askers_7d": ("Active askers, 7 days", "People who asked in the last 7 days.", "count"),
    "active_askers_30d": (
        "Active askers, 30 days",
        "People who asked in the last 30 days.",
        "count",
    ),
    "active_askers_90d": (
        "Active askers, 90 days",
        "People who asked in the last 90 days.",
        "count",
    ),
    "returning_askers": (
        "Returning askers",
        "People who asked in the period and had asked before it, or asked on two days or more.",
        "count",
    ),
    "questions": ("Questions", "Questions asked in the period.", "count"),
}
SIX = (
    "resolution_rate",
    "escalation_rate",
    "answer_precision",
    "latency_ms_p50",
    "latency_ms_p95",
    "cost_per_resolved",
    "satisfaction",
)
# Metrics with a trend (series): those the hourly rollups hold; distinct askers do not add up
# across hours, so adoption has no trend line.
TRENDS = (*SIX, "deflection", "questions")
Bucket = Literal["hour", "day"]
SINCE_PATTERN = r"^[1-9][0-9]{0,3}[hdw]$"  # the HTTP query's schema says the same
_SINCE = re.compile(r"([1-9][0-9]{0,3})([hdw])")
_TARGET = re.compile(r"\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)\s*")
_UNITS = {"h": 1, "d": 24, "w": 24 * 7}
MAX_SINCE = timedelta(weeks=9999)
MAX_POINTS = 5000  # the most points one trend has
_CACHE_SIZE = 16


def parse_since(text: str) -> timedelta:
    """``24h``, ``7d``, ``30d``, ``12w`` (1 to 9999 of a unit) -> a timedelta; anything else is
    an InputError."""
    m = _SINCE.fullmatch(text.strip().lower())
    if not m:
        raise InputError(
            f"Bad period {text[:40]!r}: write a number from 1 to 9999 and h, d or w "
            "(e.g. 24h, 7d, 30d)."
        )
    return timedelta(hours=int(m.group(1)) * _UNITS[m.group(2)])


def _check(since: timedelta, center: str | None) -> None:
    if not timedelta(0) < since <= MAX_SINCE:
        raise InputError("The period must be more than 0 and at most 9999 weeks.")
    if center is not None and not 0 < len(center) <= 64:
        raise InputError("A center id has 1 to 64 characters.")


def _known(store: Store, center: str | None) -> None:
    """A center the directory does not have is refused, naming those it has: a typo would
    otherwise read as a center with no traffic (every figure null)."""
    if center is None:
        return
    with store.read() as s:
        known = sorted(s.scalars(select(Center.id)))
    if center not in known:
        listed = ", ".join(known) or "none (import the directory first)"
        raise NotFoundError(f"Unknown center {center[:64]!r}; the directory's centers: {listed}.")


# ------------------------------------------------------------------ reading the rollups

Sums = tuple[dict[str, float], list[int]]  # counts, latency buckets


@dataclass
class _View:
    """The rollups of one center (or all) from ``first`` on, as of watermark ``as_of``: each
    cell, and each hour summed over its cells."""

    as_of: int
    first: datetime
    cells: dict[tuple[datetime, str], Sums] = field(default_factory=dict)
    hours: dict[datetime, Sums] = field(default_factory=dict)

    def load(self, rows: Iterable[Any]) -> None:
        dirty: set[datetime] = set()
        for hour, center, counts, buckets in rows:
            h = utc(hour)
            self.cells[(h, center)] = (counts or {}, buckets or [])
            dirty.add(h)
        if not dirty:
            return
        by_hour: dict[datetime, list[Sums]] = {}
        for (h, _c), cell in self.cells.items():
            if h in dirty:
                by_hour.setdefault(h, []).append(cell)
        for h, cells in by_hour.items():
            self.hours[h] = _sum(cells)


_views: OrderedDict[tuple[str, str | None], _View] = OrderedDict()
_views_lock = threading.Lock()


def _hours(store: Store, center: str | None, first: datetime) -> dict[datetime, Sums]:
    """Hour -> summed rollups of one center (or all), from ``first`` on. Kept between calls and
    brought up to date by reading only the rollup rows folded since (their ``seq``): every
    change to a rollup row moves the watermark and stamps the row in the same transaction."""
    key = (store.url, center)
    with _views_lock:
        mark = watermark(store)
        view = _views.get(key)
        if view is None or first < view.first:
            view = _View(mark, first)
            since = None
        elif view.as_of == mark:
            _views.move_to_end(key)
            return dict(view.hours)
        else:
            since = view.as_of
        t = ROLLUPS.c
        q = select(t.hour, t.center, t.counts, t.latency_buckets).where(t.hour >= view.first)
        if since is not None:
            q = q.where(t.seq > since)
        if center is not None:
            q = q.where(t.center == center)
        with store.read() as s:
            view.load(s.execute(q))
        view.as_of = mark
        _views[key] = view
        _views.move_to_end(key)
        while len(_views) > _CACHE_SIZE:
            _views.popitem(last=False)
        return dict(view.hours)


def _kept(store: Store, center: str | None, first: datetime) -> bool:
    """Whether this process keeps the hours of one center (or all) back to ``first``."""
    with _views_lock:
        view = _views.get((store.url, center))
        return view is not None and view.first <= first


def _stored_sums(store: Store, center: str | None, first: datetime, last: datetime) -> Sums:
    """The rollups of the hours ``first`` through ``last`` summed, straight from the store:
    whole days from the daily rows, the hours of a partial day at either end from the hourly
    ones (what a new `steward report` process does: ~30 rows a center for a month)."""
    whole_from = day_of(first) if first == day_of(first) else day_of(first) + timedelta(days=1)
    whole_to = day_of(last + timedelta(hours=1))  # exclusive
    h, d = ROLLUPS.c, DAILY.c
    hourly = select(h.counts, h.latency_buckets).where(h.hour >= first, h.hour <= last)
    daily = None
    if whole_from < whole_to:
        hourly = hourly.where(or_(h.hour < whole_from, h.hour >= whole_to))
        daily = select(d.counts, d.latency_buckets).where(d.day >= whole_from, d.day < whole_to)
    if center is not None:
        hourly = hourly.where(h.center == center)
        daily = daily.where(d.center == center) if daily is not None else None
    with store.read() as s:
        cells: list[Sums] = [(c or {}, b or []) for c, b in s.execute(hourly)]
        if daily is not None:
            cells += [(c or {}, b or []) for c, b in s.execute(daily)]
    return _sum(cells)


def forget() -> None:
    """Drop what this process keeps between reports (the next one reads the store afresh, as
    a new `steward report` process does)."""
    with _views_lock:
        _views.clear()
        _askers.clear()


def _range(hours: dict[datetime, Sums], first: datetime, last: datetime) -> list[Sums]:
    return [v for h, v in hours.items() if first <= h <= last]


def _sum(cells: Iterable[Sums]) -> Sums:
    counts: dict[str, float] = {}
    buckets = [0] * N_BUCKETS
    for c, b in cells:
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
        for i, n in enumerate(b):
            if n:
                buckets[i] += n
    return counts, buckets


def percentile(buckets: list[int], q: float) -> float | None:
    """The ``q`` quantile of the latency histogram, by linear interpolation inside the bucket
    that holds it; the open last bucket (over 131 s) answers its lower edge."""
    n = sum(buckets)
    if n == 0:
        return None
    target, seen = q * n, 0
    for i, c in enumerate(buckets):
        if c and seen + c >= target:
            if i >= len(EDGES):
                return EDGES[-1]
            lo = 0.0 if i == 0 else EDGES[i - 1]
            return lo + (EDGES[i] - lo) * (target - seen) / c
        seen += c
    return EDGES[-1]


def _ratio(num: float, den: float, digits: int = 4) -> float | None:
    return round(num / den, digits) if den > 0 else None


def compute(counts: dict[str, float], buckets: list[int]) -> dict[str, Any]:
    """The metrics of summed rollup counts (docs/metrics.md has each definition)."""
    g = counts.get
    questions = int(g("questions", 0))
    resolved = g("answered", 0) - g("reopened", 0)
    reviewed = g("verdict_right", 0) + g("verdict_wrong", 0)
    p50, p95 = percentile(buckets, 0.5), percentile(buckets, 0.95)
    priced = g("unpriced", 0) == 0  # one unpriced answer and the spend is unknown
    return {
        "questions": questions,
        "resolution_rate": _ratio(resolved, questions),
        "escalation_rate": _ratio(g("escalated", 0), questions),
        "answer_precision": _ratio(g("verdict_right", 0), reviewed),
        "latency_ms_p50": round(p50, 1) if p50 is not None else None,
        "latency_ms_p95": round(p95, 1) if p95 is not None else None,
        "cost_per_resolved": _ratio(g("cost", 0), resolved, 6) if priced else None,
        "satisfaction": _ratio(g("sat_sum", 0), g("sat_count", 0), 3),
        "deflection": _ratio(questions - g("escalated", 0) - g("handed_off_later", 0), questions),
    }


def _counts(counts: dict[str, float]) -> dict[str, Any]:
    names = (
        "answered",
        "abstained",
        "escalated",
        "refused",
        "errors",
        "rejected",
        "cached",
        "reopened",
        "handed_off_later",
        "feedback",
        "thumbs_up",
        "thumbs_down",
        "rating_count",
        "verdict_right",
        "verdict_wrong",
        "corrections",
        "tickets_resolved",
        "tokens_in",
        "tokens_out",
        "unpriced",
    )
    out: dict[str, Any] = {n: int(counts.get(n, 0)) for n in names}
    out["cost_usd"] = round(float(counts.get("cost", 0.0)), 6)
    return out


ADOPTION = ("active_askers_7d", "active_askers_30d", "active_askers_90d", "returning_askers")

# user, first seen, last seen (POSIX seconds: compared 20,000 times a report), days active
Seen = tuple[str, float, float, int]


@dataclass
class _Askers:
    """The askers table (one center or all) as of watermark ``as_of``."""

    as_of: int
    rows: dict[tuple[str, str], Seen] = field(default_factory=dict)


_askers: OrderedDict[tuple[str, str | None], _Askers] = OrderedDict()


def _asker_rows(store: Store, center: str | None) -> list[Seen]:
    """(user, seen) per asker row, kept between calls and refreshed with the rows folded since
    (``askers.seq``), as :func:`_hours` does for the rollups."""
    key = (store.url, center)
    with _views_lock:
        mark = watermark(store)
        view = _askers.get(key)
        if view is None or view.as_of != mark:
            t = ASKERS.c
            q = select(t.user_id, t.center, t.first_seen, t.last_seen, t.days_active)
            if view is not None:
                q = q.where(t.seq > view.as_of)
            else:
                view = _Askers(mark)
            if center is not None:
                q = q.where(t.center == center)
            with store.read() as s:
                for user, c, first, last, days in s.execute(q):
                    seen = (user, utc(first).timestamp(), utc(last).timestamp(), int(days))
                    view.rows[(user, c)] = seen
            view.as_of = mark
            _askers[key] = view
        _askers.move_to_end(key)
        while len(_askers) > _CACHE_SIZE:
            _askers.popitem(last=False)
        return list(view.rows.values())


def adoption(
    store: Store, center: str | None, start: datetime, now: datetime, *, kept: bool = True
) -> dict[str, Any]:
    """Active askers over 7, 30 and 90 days before ``now``, and returning askers of the period
    (asked in it and before it, or on two days or more); None with no askers at all.
    ``kept``: read the askers this process keeps (a server); False counts them in the store."""
    if not kept:
        return _stored_adoption(store, center, start, now)
    rows = _asker_rows(store, center)
    if not rows:
        return dict.fromkeys(ADOPTION)
    d7, d30, d90 = ((now - timedelta(days=n)).timestamp() for n in (7, 30, 90))
    begin = start.timestamp()
    a7: set[str] = set()
    a30: set[str] = set()
    a90: set[str] = set()
    back: set[str] = set()
    for user, first, last, days in rows:
        if last >= d90:
            a90.add(user)
            if last >= d30:
                a30.add(user)
                if last >= d7:
                    a7.add(user)
        if last >= begin and (first < begin or days >= 2):
            back.add(user)
    return {
        "active_askers_7d": len(a7),
        "active_askers_30d": len(a30),
        "active_askers_90d": len(a90),
        "returning_askers": len(back),
    }


def _stored_adoption(
    store: Store, center: str | None, start: datetime, now: datetime
) -> dict[str, Any]:
    """:func:`adoption` counted by the store, for a process that keeps no askers."""
    t = ASKERS.c

    def distinct(*where: Any) -> Any:
        q = select(func.count(func.distinct(t.user_id))).where(*where)
        return q.where(t.center == center) if center is not None else q

    with store.read() as s:
        if not s.execute(distinct()).scalar():
            return dict.fromkeys(ADOPTION)
        active = [
            int(s.execute(distinct(t.last_seen >= now - timedelta(days=n))).scalar() or 0)
            for n in (7, 30, 90)
        ]
        back = s.execute(
            distinct(t.last_seen >= start, or_(t.first_seen < start, t.days_active >= 2))
        ).scalar()
    return dict(zip(ADOPTION, [*active, int(back or 0)], strict=True))


# ------------------------------------------------------------------ targets


def targets(ops: OperationsSettings) -> dict[str, dict[str, Any]]:
    """metric -> {target, comparison}: STEWARD_METRIC_TARGETS over the defaults (a ``null``
    target removes it); a target that is not ``>= N`` or ``<= N`` is a ConfigError."""
    out: dict[str, dict[str, Any]] = {}
    for metric, text in {**DEFAULT_TARGETS, **ops.metric_targets}.items():
        if text is None:
            continue
        m = _TARGET.fullmatch(str(text))
        if m is None or metric not in METRICS:
            raise ConfigError(
                f"STEWARD_METRIC_TARGETS: {metric[:40]!r}: {str(text)[:40]!r} is no target; "
                f"write a metric of docs/metrics.md and `>= N` or `<= N`."
            )
        out[metric] = {"target": float(m.group(2)), "comparison": m.group(1)}
    return out


def status_of(value: float | None, target: dict[str, Any], band: float) -> str | None:
    """green: meets the target; amber: misses it by at most ``band`` of the target; red:
    further; None: no value."""
    if value is None:
        return None
    t = float(target["target"])
    if target["comparison"] == ">=":
        return "green" if value >= t else "amber" if value >= t - abs(t) * band else "red"
    return "green" if value <= t else "amber" if value <= t + abs(t) * band else "red"


# ------------------------------------------------------------------ the entry points


def _window(since: timedelta, now: datetime | None) -> tuple[datetime, datetime, datetime]:
    end = utc(now) if now is not None else datetime.now(UTC)
    start = end - since
    return end, hour_of(start), hour_of(end)


def report(
    rt: Runtime,
    *,
    center: str | None = None,
    since: timedelta = timedelta(days=30),
    now: datetime | None = None,
) -> dict[str, Any]:
    """The metrics of one center (None: all) over the period before ``now``, folded first.

    The period is counted in whole hours: from the hour holding ``now - since`` through the
    hour holding ``now``."""
    center = center or None  # an empty filter (a form left at "all") is every center
    _check(since, center)
    _known(rt.store, center)
    ops = rt.settings.operations
    fold(rt.store, settings=ops)
    end, first, last = _window(since, now)
    # A server that keeps this center's hours reads only what was folded since; a process
    # that keeps nothing (a new `steward report`) sums the daily rows instead.
    kept = _kept(rt.store, center, first)
    if kept:
        counts, buckets = _sum(_range(_hours(rt.store, center, first), first, last))
    else:
        counts, buckets = _stored_sums(rt.store, center, first, last)
    values = compute(counts, buckets)
    values.update(adoption(rt.store, center, end - since, end, kept=kept))
    goals = targets(ops)
    return {
        "center": center,
        "since": first.isoformat(),
        "until": end.isoformat(),
        **values,
        "counts": _counts(counts),
        "targets": goals,
        "status": {
            m: status_of(values.get(m), goal, ops.metric_amber_band) for m, goal in goals.items()
        },
    }


def series(
    rt: Runtime,
    *,
    metric: str,
    center: str | None = None,
    since: timedelta = timedelta(days=30),
    bucket: Bucket = "day",
    now: datetime | None = None,
) -> list[tuple[datetime, float | None]]:
    """The trend of one metric: one point per hour or day of the period (None where that
    bucket has no data), oldest first."""
    if metric not in TRENDS:
        raise InputError(f"No trend for {metric[:40]!r}; trends exist for: {', '.join(TRENDS)}.")
    if bucket not in ("hour", "day"):
        raise InputError("bucket is hour or day.")
    center = center or None  # an empty filter (a form left at "all") is every center
    _check(since, center)
    _known(rt.store, center)
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    if since / step > MAX_POINTS:
        raise InputError(f"At most {MAX_POINTS} points: take a shorter period or day buckets.")
    fold(rt.store, settings=rt.settings.operations)
    _end, first, last = _window(since, now)

    def start_of(h: datetime) -> datetime:
        return h if bucket == "hour" else h.replace(hour=0)

    groups: dict[datetime, list[Sums]] = {}
    for hour, sums in _hours(rt.store, center, first).items():
        if first <= hour <= last:
            groups.setdefault(start_of(hour), []).append(sums)
    out: list[tuple[datetime, float | None]] = []
    point = start_of(first)
    while point <= last:
        rows = groups.get(point)
        out.append((point, compute(*_sum(rows))[metric] if rows else None))
        point += step
    return out


def shown(value: float | None, unit: str) -> str:
    """A metric as a person reads it (the CLI's table and the console alike)."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "USD":
        return f"${value:,.4f}"
    if unit == "score":
        return f"{value:.2f} / 5"
    return f"{value:,.0f}"
