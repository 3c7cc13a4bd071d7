"""The live figures of a rolled-out use case, and the gates and guard metrics judged on them.

Every question of a use case is tagged on the request path (``settings.rollout`` of its audit
row: the use case, and the open wave that served it, or none when the asker got the previous
behaviour). The figures of a window are read from those audit rows, the rows the assistant
served, with the same definitions as `steward report` (docs/metrics.md) where one exists:

- ``questions``: questions of the use case the assistant served (its asker was inside an open
  wave); a client's own mistakes (a bad request, a conversation not theirs) are not questions;
- ``resolution_rate``: (answered - reopened) / questions, an answer being reopened as the
  rollups mark it (handed off, negative feedback, found wrong or corrected within the reopen
  window);
- ``escalation_rate``: handed to a person / questions;
- ``satisfaction``: mean feedback on those answers, 1-5 (a rating; thumbs up 5, down 1);
  its sample is the feedback given;
- ``answer_precision``: reviewers' "right" verdicts / verdicts; its sample is the verdicts;
- ``latency_ms_p50`` / ``latency_ms_p95``: the total latency's percentile, in ms;
- ``cost_per_interaction``: model spend (USD, the row's own ``cost_usd``) / questions; no
  figure while any served question used a model without a price;
- ``error_rate``: questions that ended in a server error / questions;
- ``leaks`` / ``leak_rate``: questions whose personal-data check failed (the guard failed
  closed: ``guard.fail-closed`` or ``error.guard_failed``), a leak Steward could not rule out,
  as the canary guard counts them; and that count / questions.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, select

from steward.config.settings import OperationsSettings
from steward.core import channels
from steward.operations.rollup import CLIENT_ERRORS, error_code, fold, hour_of, satisfaction_of
from steward.store import Store
from steward.store.models import AuditRecord, Feedback, MetricRollup, ReviewItem

MAX_ROWS = 200_000  # the newest rows of a window that are read (a window is hours to days)
FAIL_CLOSED = "guard.fail-closed"
GUARD_FAILED = "guard_failed"

# name -> (label, unit, what its sample counts)
METRICS: dict[str, tuple[str, str, str]] = {
    "questions": ("Questions served", "count", "questions"),
    "resolution_rate": ("Resolution rate", "ratio", "questions"),
    "escalation_rate": ("Escalation rate", "ratio", "questions"),
    "satisfaction": ("Satisfaction", "score", "feedback"),
    "answer_precision": ("Answer precision", "ratio", "verdicts"),
    "latency_ms_p50": ("Latency p50", "ms", "questions"),
    "latency_ms_p95": ("Latency p95", "ms", "questions"),
    "cost_per_interaction": ("Cost per interaction", "USD", "questions"),
    "error_rate": ("Error rate", "ratio", "questions"),
    "leaks": ("Leaks", "count", "questions"),
    "leak_rate": ("Leak rate", "ratio", "questions"),
}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Figure:
    """One metric's value over a window (None: no data) and the size of its sample."""

    value: float | None
    sample: int


@dataclass
class Figures:
    """A use case's figures over one window, and who its questions went to."""

    since: datetime
    until: datetime
    metrics: dict[str, Figure] = field(default_factory=dict)
    by_wave: dict[str, int] = field(default_factory=dict)  # questions each wave served
    previous: int = 0  # questions that got the previous behaviour (asker outside every wave)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "metrics": {k: {"value": f.value, "sample": f.sample} for k, f in self.metrics.items()},
            "by_wave": dict(self.by_wave),
            "previous": self.previous,
        }


@dataclass(slots=True)
class _Row:
    id: str
    action: str
    reason: str
    wave: str | None
    total_ms: float | None
    cost: float | None


def _rows(store: Store, usecase: str, since: datetime, until: datetime) -> list[_Row]:
    """The question rows of the window tagged with this use case (newest first)."""
    q = (
        select(
            AuditRecord.id,
            AuditRecord.action,
            AuditRecord.reason,
            cast(AuditRecord.settings, Text).label("settings"),
            cast(AuditRecord.latency_ms, Text).label("latency_ms"),
        )
        .where(
            AuditRecord.kind == "question",
            # UTC: SQLite keeps the wall time of UTC without its zone.
            AuditRecord.ts >= since.astimezone(UTC),
            AuditRecord.ts <= until.astimezone(UTC),
            AuditRecord.channel.not_in(sorted(channels.OFFLINE)),
            # A cheap pre-filter (only tagged rows name a use case); the tag is checked below.
            cast(AuditRecord.settings, Text).like("%usecase%"),
        )
        .order_by(AuditRecord.seq.desc())
        .limit(MAX_ROWS)
    )
    out: list[_Row] = []
    with store.read() as s:
        for r in s.execute(q):
            settings = json.loads(r.settings) if r.settings else {}
            tag = settings.get("rollout") if isinstance(settings, dict) else None
            if not isinstance(tag, dict) or tag.get("usecase") != usecase:
                continue
            latency = json.loads(r.latency_ms) if r.latency_ms else {}
            total = latency.get("total") if isinstance(latency, dict) else None
            cost = settings.get("cost_usd")
            wave = tag.get("wave")
            out.append(
                _Row(
                    r.id,
                    r.action,
                    r.reason or "",
                    str(wave) if wave else None,
                    float(total) if isinstance(total, int | float) else None,
                    float(cost) if isinstance(cost, int | float) else None,
                )
            )
    return out


def _chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _reopened(store: Store, ids: set[str], since: datetime, until: datetime) -> int:
    """How many of these answers the rollups marked reopened (operations/rollup.py)."""
    if not ids:
        return 0
    q = select(MetricRollup.marks).where(
        MetricRollup.hour >= hour_of(since), MetricRollup.hour <= hour_of(until)
    )
    with store.read() as s:
        return sum(
            1
            for marks in s.scalars(q)
            for audit_id, flags in (marks or {}).items()
            if audit_id in ids and "r" in str(flags)
        )


def _feedback(store: Store, ids: list[str]) -> list[int]:
    out: list[int] = []
    with store.read() as s:
        for part in _chunks(ids):
            for thumb, rating in s.execute(
                select(Feedback.thumb, Feedback.rating).where(Feedback.audit_id.in_(part))
            ):
                value = satisfaction_of(thumb, rating)
                if value is not None:
                    out.append(value)
    return out


def _verdicts(store: Store, ids: list[str]) -> list[str]:
    out: list[str] = []
    with store.read() as s:
        for part in _chunks(ids):
            out += [
                str(v)
                for v in s.scalars(
                    select(ReviewItem.verdict).where(
                        ReviewItem.audit_id.in_(part), ReviewItem.verdict.is_not(None)
                    )
                )
            ]
    return out


def _ratio(num: float, den: int) -> float | None:
    return round(num / den, 4) if den > 0 else None


def _leak(row: _Row) -> bool:
    if row.reason.startswith(FAIL_CLOSED):
        return True
    return row.action == "error" and error_code(row.reason) == GUARD_FAILED


def measure(
    store: Store,
    usecase: str,
    since: datetime,
    until: datetime,
    ops: OperationsSettings | None = None,
) -> Figures:
    """The use case's figures over ``since``..``until`` (docstring of this module)."""
    fold(store, settings=ops)  # the reopened marks of answers up to now
    rows = _rows(store, usecase, since, until)
    out = Figures(since, until)
    served: list[_Row] = []
    for r in rows:
        if r.action == "error" and error_code(r.reason) in CLIENT_ERRORS:
            continue  # the client's mistake: neither a question nor an error
        if r.wave is None:
            out.previous += 1
            continue
        served.append(r)
        out.by_wave[r.wave] = out.by_wave.get(r.wave, 0) + 1
    n = len(served)
    answered = {r.id for r in served if r.action == "answer"}
    ids = [r.id for r in served]
    scores = _feedback(store, ids)
    verdicts = _verdicts(store, ids)
    latencies = [r.total_ms for r in served if r.total_ms is not None]
    costs = [r.cost for r in served]
    leaks = sum(1 for r in served if _leak(r))
    resolved = len(answered) - _reopened(store, answered, since, until)

    def pct(q: int) -> Figure:
        if not latencies:
            return Figure(None, 0)
        return Figure(round(float(np.percentile(latencies, q)), 1), len(latencies))

    out.metrics = {
        "questions": Figure(float(n), n),
        "resolution_rate": Figure(_ratio(resolved, n), n),
        "escalation_rate": Figure(_ratio(sum(r.action == "escalate" for r in served), n), n),
        "satisfaction": Figure(
            round(sum(scores) / len(scores), 3) if scores else None, len(scores)
        ),
        "answer_precision": Figure(_ratio(verdicts.count("right"), len(verdicts)), len(verdicts)),
        "latency_ms_p50": pct(50),
        "latency_ms_p95": pct(95),
        "cost_per_interaction": Figure(
            round(sum(c for c in costs if c is not None) / n, 6)
            if n and all(c is not None for c in costs)
            else None,
            n,
        ),
        "error_rate": Figure(_ratio(sum(r.action == "error" for r in served), n), n),
        "leaks": Figure(float(leaks) if n else None, n),
        "leak_rate": Figure(_ratio(leaks, n), n),
    }
    return out


def judged(figure: Figure, comparison: str, threshold: float, min_sample: int) -> str:
    """``pass`` when the figure meets ``comparison threshold`` on at least ``min_sample``;
    ``insufficient`` without a figure or enough sample; ``fail`` otherwise."""
    if figure.value is None or figure.sample < min_sample:
        return "insufficient"
    return "pass" if COMPARE[comparison](figure.value, threshold) else "fail"


def window_start(now: datetime, window: timedelta, reset: datetime | None = None) -> datetime:
    """Where a window that ends ``now`` starts; never before ``reset`` when given."""
    start = now - window
    return max(start, reset) if reset is not None else start
