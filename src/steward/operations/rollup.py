"""Fold the audit trail into hourly counts, so that a report over a million rows reads hundreds.

The audit trail is the one source of the six metrics (docs/metrics.md). :func:`fold` reads the
rows written since the last fold (a watermark on ``audit.seq`` kept in ``meta``), in batches of
:data:`BATCH`, and adds them to ``metric_rollups`` (one row per hour and center, ``''`` for none)
and ``askers`` (first and last question and days active per asker and center).

Two workers may fold at once (every replica's report folds first): the watermark moves by a
compare-and-swap UPDATE in the same transaction as the counts it covers, so only one of them
commits a batch; the other rolls back and reads on from the new watermark. Audit seqs are handed
out under the chain's lock and commit in order, so no row appears behind the watermark later.

What a row adds (``counts`` keys):

- a ``question`` row (not of the ``eval`` channel): ``questions``, its action (``answered``,
  ``abstained``, ``escalated``, ``refused``, ``errors``), ``cached``, ``tokens_in``/``_out``,
  ``cost`` (USD, also split as ``cost_model:<model>`` and ``cost_intent:<intent>`` for the
  budgets), ``unpriced`` (tokens of a model with no price), ``latency_sum`` and one count in
  ``latency_buckets`` (fixed log-spaced buckets of the total latency, :data:`EDGES`);
- a failed request (action ``error``) whose code is the client's mistake (:data:`CLIENT_ERRORS`:
  a conversation not theirs, a malformed or over-limit request, a refused permission, a rate
  limit) adds only ``rejected``: it is neither a question nor a server error, so a client's bad
  requests cannot raise the error rate. Every other failure (internal errors, an unavailable
  provider or embedder, a client gone mid-answer) is a question and an ``errors`` count;
- ``feedback-given``: ``thumbs_up``/``thumbs_down``, ``rating_sum``/``rating_count`` and the
  satisfaction they make (``sat_sum``/``sat_count``), in the hour of the answer it rates; a
  changed feedback first takes back what the earlier one added;
- ``review-verdict``: ``verdict_right``/``verdict_wrong``, in the hour of the answer;
- ``ticket-claimed``/``-answered``/``-resolved``: ``tickets_*``; a resolution saved as a
  correction, or a ``correction-saved`` event, adds ``corrections``.

An answer counts as ``reopened`` (in its own hour, once) when within ``STEWARD_REOPEN_WINDOW_H``
its conversation is handed off, its asker gives negative feedback (thumbs down or a rating of 2 or
less), a reviewer finds it wrong or a correction names it. An answer or abstention followed by a
hand-off in the window also counts as ``handed_off_later`` (deflection leaves it out).
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import cast as typed

from sqlalchemy import Table, Text, and_, bindparam, case, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from steward.config.settings import OperationsSettings
from steward.core import channels
from steward.core.errors import ConfigError
from steward.store import Store
from steward.store.models import Asker, AuditRecord, Meta, MetricRollup, MetricRollupDaily, Turn

log = logging.getLogger(__name__)

WATERMARK = "ops_rollup_seq"  # meta key: the highest audit seq folded
BATCH = 5000
# Upper edges of the latency buckets, in ms: 2^(k/4) for k = 0..68, 1 ms to 131 s (each bucket
# 19% wide). Bucket 0 is [0, 1 ms), bucket k is [EDGES[k-1], EDGES[k]), the last is >= 131 s.
EDGES: tuple[float, ...] = tuple(2 ** (k / 4) for k in range(69))
N_BUCKETS = len(EDGES) + 1
ACTIONS = {
    "answer": "answered",
    "abstain": "abstained",
    "escalate": "escalated",
    "refuse": "refused",
    "error": "errors",
}
# Codes of failed requests that are the client's mistake, not the server's (core/errors.py):
# the audit row of a failure has the reason ``error.<code>: ...`` (pipeline/record.py).
CLIENT_ERRORS = frozenset(
    {
        "bad_request",
        "invalid_question",
        "invalid_request",
        "bad_source_item",
        "payload_too_large",
        "unauthorized",
        "rate_limited",
        "forbidden",
        "not_found",
        "conflict",
    }
)
UNREPORTED = "unreported"  # route["usage"] of a streamed answer its server did not count
NOT_TRAFFIC = channels.OFFLINE  # evaluation runs and shadow replays are no askers' questions
COST_MODEL = "cost_model:"  # + the row's model: its USD (counts keys)
COST_INTENT = "cost_intent:"  # + the intent the understand stage found: its USD
FEEDBACK_GIVEN = "feedback-given"
REVIEW_CLAIMED = "review-claimed"
REVIEW_VERDICT = "review-verdict"
CORRECTION_SAVED = "correction-saved"
TICKETS = {
    "ticket-claimed": "tickets_claimed",
    "ticket-answered": "tickets_answered",
    "ticket-resolved": "tickets_resolved",
}
_MAX_RETRIES = 50
# JSON columns are read as text and parsed here only where a row needs them (a million-row
# catch-up spends most of its time decoding otherwise).
_COLUMNS = (
    AuditRecord.seq,
    AuditRecord.id,
    AuditRecord.ts,
    AuditRecord.kind,
    AuditRecord.channel,
    AuditRecord.user_id,
    AuditRecord.center,
    AuditRecord.action,
    AuditRecord.provider,
    AuditRecord.model,
    cast(AuditRecord.settings, Text).label("settings"),
    cast(AuditRecord.latency_ms, Text).label("latency_ms"),
    cast(AuditRecord.payload, Text).label("payload"),
    # Only a failed request's reason is read (it names the error's code).
    case((AuditRecord.action == "error", AuditRecord.reason), else_=None).label("reason"),
)

Key = tuple[datetime, str]  # (hour, center)
ROLLUPS = typed(Table, MetricRollup.__table__)
DAILY = typed(Table, MetricRollupDaily.__table__)
ASKERS = typed(Table, Asker.__table__)
META = typed(Table, Meta.__table__)


def bucket_of(ms: float) -> int:
    """The latency bucket of ``ms`` milliseconds."""
    return bisect_right(EDGES, ms)


def utc(ts: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives naive UTC back)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def hour_of(ts: datetime) -> datetime:
    return utc(ts).replace(minute=0, second=0, microsecond=0)


def day_of(ts: datetime) -> datetime:
    return utc(ts).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class _Row:
    """One audit row as the fold reads it (times in UTC, JSON parsed where needed)."""

    seq: int
    id: str
    ts: datetime
    key: Key
    kind: str
    channel: str
    user_id: str
    action: str
    provider: str
    model: str
    settings: dict[str, Any]
    total: float | None
    payload: dict[str, Any]
    reason: str | None = None


def error_code(reason: str | None) -> str:
    """The error code of a failed request's audit reason (``error.not_found: ...``)."""
    rule = (reason or "").split(":", 1)[0].split("+", 1)[0]
    return rule.removeprefix("error.") if rule.startswith("error.") else "internal_error"


def _row(r: Any) -> _Row:
    ts = utc(r.ts)
    question = r.kind == "question"
    settings = json.loads(r.settings) if question and r.settings else {}
    latency = json.loads(r.latency_ms) if question and r.latency_ms else {}
    total = latency.get("total") if isinstance(latency, dict) else None
    payload = json.loads(r.payload) if not question and r.payload else {}
    return _Row(
        r.seq,
        r.id,
        ts,
        (ts.replace(minute=0, second=0, microsecond=0), r.center or ""),
        r.kind,
        r.channel,
        r.user_id,
        r.action,
        r.provider,
        r.model,
        settings if isinstance(settings, dict) else {},
        float(total) if isinstance(total, int | float) else None,
        payload if isinstance(payload, dict) else {},
        r.reason,
    )


@dataclass(frozen=True)
class _Answer:
    """What a later event needs of the question row it is about."""

    id: str
    ts: datetime
    key: Key
    action: str
    counted: bool  # not an evaluation row


@dataclass
class _Cell:
    counts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    buckets: list[int] = field(default_factory=lambda: [0] * N_BUCKETS)
    marks: dict[str, str] = field(default_factory=dict)
    stored: bool = False
    # What the stored row held before this batch: the daily row gets the difference.
    before: tuple[dict[str, float], list[int]] = field(default_factory=lambda: ({}, []))


class _Lost(Exception):
    """Another worker moved the watermark first: this batch is theirs."""


def _insert(store: Store, table: Table) -> Any:
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    return dialect.insert(table)


def _ensure_watermark(store: Store) -> None:
    if store.get_meta(WATERMARK):
        return
    with store.write() as (s, _):
        stmt = _insert(store, META).values(key=WATERMARK, value="0")
        s.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))


def watermark(store: Store) -> int:
    """The highest audit seq folded so far."""
    return int(store.get_meta(WATERMARK, "0") or 0)


def fold(
    store: Store,
    now: datetime | None = None,
    *,
    settings: OperationsSettings | None = None,
    batch: int = BATCH,
) -> int:
    """Fold every audit row not folded yet; returns how many rows this call folded.

    ``now`` is accepted for symmetry with the report (rows are folded by their own time);
    ``settings`` gives the reopen window and the prices (defaults otherwise)."""
    del now
    ops = settings or OperationsSettings()
    _ensure_watermark(store)
    with store.read() as s:
        newest = s.execute(select(func.max(AuditRecord.seq))).scalar()
    if newest is None or int(newest) <= watermark(store):
        return 0  # nothing new: no write transaction at all
    total = lost = 0
    while True:
        try:
            n = _fold_batch(store, ops, batch)
        except _Lost:
            n = -1
        except OperationalError as exc:
            # SQLite: another writer's commit made this transaction's snapshot stale.
            if store.dialect != "sqlite":
                raise
            log.debug("rollup batch retried", extra={"err": type(exc).__name__})
            n = -1
        if n == 0:
            return total
        if n < 0:
            lost += 1
            if lost > _MAX_RETRIES:
                return total  # the others are folding; the next call reads on
            continue
        total += n


def _fold_batch(store: Store, ops: OperationsSettings, batch: int) -> int:
    with store.write() as (s, _):
        conn = s.connection()
        mark = conn.execute(select(Meta.value).where(Meta.key == WATERMARK)).scalar_one()
        rows = conn.execute(
            select(*_COLUMNS)
            .where(AuditRecord.seq > int(mark))
            .order_by(AuditRecord.seq)
            .limit(batch)
        ).all()
        if not rows:
            return 0
        moved = conn.execute(
            update(META)
            .where(Meta.key == WATERMARK, Meta.value == mark)
            .values(value=str(rows[-1].seq))
        )
        if getattr(moved, "rowcount", 0) != 1:
            raise _Lost  # rolls the transaction back: nothing of this batch is written
        _Batch(conn, ops, [_row(r) for r in rows]).apply()
    return len(rows)


class _Batch:
    """One batch of audit rows, turned into additions to rollup cells and askers."""

    def __init__(self, conn: Connection, ops: OperationsSettings, rows: list[_Row]):
        self.s, self.ops, self.rows = conn, ops, rows
        self.seq = rows[-1].seq
        self.window = timedelta(hours=ops.reopen_window_h)
        self.prices = prices(ops)
        self.cells: dict[Key, _Cell] = {}
        self.askers: dict[tuple[str, str], list[Any]] = {}  # [first, last, dates]

    def apply(self) -> None:
        answers = self._answers()
        handoffs = self._handoffs(answers)
        self._load_cells(answers)
        for r in self.rows:
            if r.kind == "question":
                self._question(r, handoffs.get(r.id, []))
            else:
                self._event(r, answers)
        self._write_cells()
        self._write_days()
        self._write_askers()

    # -- lookups (one query each per batch)

    def _answers(self) -> dict[str, _Answer]:
        """The question rows later events of this batch refer to, by audit id."""
        wanted: set[str] = set()
        for r in self.rows:
            ref = r.payload.get("audit_id")
            if r.kind != "question" and isinstance(ref, str):
                wanted.add(ref)
        here = {r.id: r for r in self.rows if r.kind == "question"}
        found = {a: self._answer(here[a]) for a in wanted if a in here}
        missing = wanted - set(found)
        if missing:
            q = select(
                AuditRecord.id,
                AuditRecord.ts,
                AuditRecord.center,
                AuditRecord.action,
                AuditRecord.channel,
            ).where(AuditRecord.id.in_(sorted(missing)), AuditRecord.kind == "question")
            for row in self.s.execute(q):
                found[row.id] = self._answer(row)
        return found

    @staticmethod
    def _answer(r: Any) -> _Answer:
        if isinstance(r, _Row):
            return _Answer(r.id, r.ts, r.key, r.action, r.channel not in NOT_TRAFFIC)
        return _Answer(
            r.id, utc(r.ts), (hour_of(r.ts), r.center or ""), r.action, r.channel not in NOT_TRAFFIC
        )

    def _handoffs(self, answers: dict[str, _Answer]) -> dict[str, list[_Answer]]:
        """Escalated rows of this batch -> the answers and abstentions of their conversation
        within the reopen window before them."""
        convs: dict[str, list[Any]] = defaultdict(list)
        for r in self.rows:
            conv = r.settings.get("conversation_id") if r.kind == "question" else None
            if r.action == "escalate" and isinstance(conv, str):
                convs[conv].append(r)
        if not convs:
            return {}
        earlier: dict[str, list[str]] = defaultdict(list)
        q = select(Turn.conversation_id, Turn.audit_id).where(
            Turn.conversation_id.in_(sorted(convs)),
            Turn.role == "assistant",
            Turn.action.in_(("answer", "abstain")),
            Turn.audit_id.is_not(None),
        )
        for conv, audit_id in self.s.execute(q):
            earlier[conv].append(str(audit_id))
        here = {r.id: r for r in self.rows if r.kind == "question"}
        for a in {a for ids in earlier.values() for a in ids} - set(answers):
            if a in here:
                answers[a] = self._answer(here[a])
        missing = {a for ids in earlier.values() for a in ids} - set(answers)
        if missing:
            q2 = select(
                AuditRecord.id,
                AuditRecord.ts,
                AuditRecord.center,
                AuditRecord.action,
                AuditRecord.channel,
            ).where(AuditRecord.id.in_(sorted(missing)))
            for row in self.s.execute(q2):
                answers[row.id] = self._answer(row)
        out: dict[str, list[_Answer]] = {}
        for conv, escalations in convs.items():
            prior = [answers[a] for a in earlier.get(conv, []) if a in answers]
            for e in escalations:
                ts = e.ts
                out[e.id] = [
                    a
                    for a in prior
                    if a.action in ("answer", "abstain") and a.ts < ts <= a.ts + self.window
                ]
        return out

    def _load_cells(self, answers: dict[str, _Answer]) -> None:
        keys = {r.key for r in self.rows}
        keys |= {a.key for a in answers.values()}
        table = ROLLUPS
        hours = sorted({k[0] for k in keys})
        for start in range(0, len(hours), 500):
            q = select(
                table.c.hour, table.c.center, table.c.counts, table.c.latency_buckets, table.c.marks
            ).where(table.c.hour.in_(hours[start : start + 500]))
            for row in self.s.execute(q):
                key = (utc(row.hour), row.center)
                if key not in keys:
                    continue
                cell = _Cell(stored=True)
                cell.counts.update(row.counts or {})
                stored = list(row.latency_buckets or [])
                cell.buckets[: len(stored)] = stored
                cell.marks = dict(row.marks or {})
                cell.before = (dict(cell.counts), list(cell.buckets))
                self.cells[key] = cell

    def _cell(self, key: Key) -> _Cell:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = _Cell()
        return cell

    # -- what each row adds

    def _question(self, r: _Row, handed: list[_Answer]) -> None:
        if r.channel in NOT_TRAFFIC:
            return
        c = self._cell(r.key)
        if r.action == "error" and error_code(r.reason) in CLIENT_ERRORS:
            c.counts["rejected"] += 1  # the client's mistake: not a question, not an error
            return
        c.counts["questions"] += 1
        c.counts[ACTIONS.get(r.action, "other")] += 1
        settings = r.settings
        if settings.get("cache") in ("exact", "semantic"):
            c.counts["cached"] += 1
        tokens = settings.get("tokens") or [0, 0]
        t_in, t_out = int(tokens[0] or 0), int(tokens[1] or 0)
        c.counts["tokens_in"] += t_in
        c.counts["tokens_out"] += t_out
        cost = self._cost(r.provider, r.model, settings, t_in, t_out)
        judge = settings.get("judge")
        if cost is not None and isinstance(judge, dict) and judge.get("tokens"):
            # The model judge's second opinion is spent on the same question.
            j_in, j_out = (int(n or 0) for n in [*judge["tokens"], 0, 0][:2])
            judged = self._cost("judge", str(judge.get("model")), {}, j_in, j_out)
            cost = None if judged is None else cost + judged
        if cost is None:
            c.counts["unpriced"] += 1
        else:
            c.counts["cost"] += cost
            # Month-to-date spend per model and per intent, for the budgets (budgets.py).
            c.counts[COST_MODEL + r.model] += cost
            intent = settings.get("intent")
            if isinstance(intent, str) and intent:
                c.counts[COST_INTENT + intent] += cost
        if r.total is not None:
            c.counts["latency_sum"] += r.total
            c.buckets[bucket_of(r.total)] += 1
        for a in handed:
            self._mark(a, "h", "handed_off_later")
            if a.action == "answer":
                self._mark(a, "r", "reopened")
        self._asker(r.user_id, r.key[1], r.ts)

    def _cost(
        self, provider: str, model: str, settings: dict[str, Any], t_in: int, t_out: int
    ) -> float | None:
        """USD for one answer: the router's own price, else the configured one; None when a
        model that used tokens has no price (counted as ``unpriced``, never guessed)."""
        route = settings.get("route") or {}
        if route.get("usage") == UNREPORTED:
            return None  # a streamed answer whose server did not say what it used
        if isinstance(route.get("cost_usd"), int | float):
            return float(route["cost_usd"])
        if t_in == 0 and t_out == 0:
            return 0.0  # extractive, cached and undecided rows used no model
        price = self.prices.get(model) or self.prices.get(provider)
        if price is None:
            return None
        return t_in / 1e6 * price[0] + t_out / 1e6 * price[1]

    def _mark(self, a: _Answer, flag: str, counter: str) -> None:
        if not a.counted:
            return
        c = self._cell(a.key)
        have = c.marks.get(a.id, "")
        if flag in have:
            return
        c.marks[a.id] = have + flag
        c.counts[counter] += 1

    def _reopen(self, ref: _Answer | None) -> None:
        if ref is not None:
            self._mark(ref, "r", "reopened")

    def _event(self, r: _Row, answers: dict[str, _Answer]) -> None:
        payload = r.payload
        ref = answers.get(str(payload.get("audit_id", "")))
        if ref is not None and not ref.counted:
            return
        key = ref.key if ref is not None else r.key
        # Within the window, an answer this event finds fault with was not resolved.
        reopens = ref is not None and ref.action == "answer" and r.ts <= ref.ts + self.window
        if r.kind == FEEDBACK_GIVEN:
            self._feedback(key, payload)
            if reopens and negative(payload):
                self._reopen(ref)
        elif r.kind == REVIEW_VERDICT:
            c = self._cell(key)
            previous = payload.get("previous")
            if previous in ("right", "wrong"):
                c.counts[f"verdict_{previous}"] -= 1
            if payload.get("verdict") in ("right", "wrong"):
                c.counts[f"verdict_{payload['verdict']}"] += 1
            if reopens and payload.get("verdict") == "wrong":
                self._reopen(ref)
        elif r.kind == CORRECTION_SAVED:
            if "ticket" not in payload and "ticket_id" not in payload:
                self._cell(key).counts["corrections"] += 1
            if reopens:
                self._reopen(ref)
        elif r.kind in TICKETS:
            c = self._cell(r.key)
            c.counts[TICKETS[r.kind]] += 1
            if r.kind == "ticket-resolved" and payload.get("correction"):
                c.counts["corrections"] += 1

    def _feedback(self, key: Key, payload: dict[str, Any]) -> None:
        c = self._cell(key)
        previous = payload.get("previous")
        if isinstance(previous, dict):
            _add_feedback(c.counts, previous, -1)
        _add_feedback(c.counts, payload, 1)

    def _asker(self, user: str, center: str, ts: datetime) -> None:
        entry = self.askers.get((user, center))
        if entry is None:
            self.askers[(user, center)] = [ts, ts, {ts.date()}]
            return
        entry[0] = min(entry[0], ts)
        entry[1] = max(entry[1], ts)
        entry[2].add(ts.date())

    # -- writes

    def _write_cells(self) -> None:
        table = ROLLUPS
        new: list[dict[str, Any]] = []
        old: list[dict[str, Any]] = []
        for (hour, center), c in self.cells.items():
            values = {
                "h": hour,
                "c": center,
                "counts": {k: _number(v) for k, v in sorted(c.counts.items()) if v},
                "latency_buckets": _trim(c.buckets),
                "marks": c.marks,
                "seq": self.seq,
            }
            (old if c.stored else new).append(values)
        same = {c: c for c in ("counts", "latency_buckets", "marks", "seq")}
        _put(self.s, table, {"hour": "h", "center": "c"}, same, new, old)

    def _write_days(self) -> None:
        """Add what this batch changed in each hourly cell to the row of its day."""
        deltas: dict[Key, tuple[dict[str, float], list[int]]] = {}
        for (hour, center), c in self.cells.items():
            counts, buckets = deltas.setdefault((day_of(hour), center), ({}, [0] * N_BUCKETS))
            was_counts, was_buckets = c.before
            for k in set(c.counts) | set(was_counts):
                d = c.counts.get(k, 0) - was_counts.get(k, 0)
                if d:
                    counts[k] = counts.get(k, 0) + d
            for i, n in enumerate(c.buckets):
                d = n - (was_buckets[i] if i < len(was_buckets) else 0)
                if d:
                    buckets[i] += d
        table = DAILY
        days = sorted({d for d, _ in deltas})
        stored: dict[Key, tuple[dict[str, Any], list[Any]]] = {}
        for start in range(0, len(days), 500):
            q = select(table.c.day, table.c.center, table.c.counts, table.c.latency_buckets)
            for row in self.s.execute(q.where(table.c.day.in_(days[start : start + 500]))):
                stored[(utc(row.day), row.center)] = (row.counts or {}, row.latency_buckets or [])
        new: list[dict[str, Any]] = []
        old: list[dict[str, Any]] = []
        for key, (counts, buckets) in deltas.items():
            have = stored.get(key)
            total: dict[str, float] = dict(have[0]) if have else {}
            for k, d in counts.items():
                total[k] = total.get(k, 0) + d
            hist = list(have[1]) if have else []
            hist += [0] * (N_BUCKETS - len(hist))
            for i, d in enumerate(buckets):
                hist[i] += d
            values = {
                "d": key[0],
                "c": key[1],
                "counts": {k: _number(v) for k, v in sorted(total.items()) if v},
                "latency_buckets": _trim(hist),
                "seq": self.seq,
            }
            (old if have is not None else new).append(values)
        same = {c: c for c in ("counts", "latency_buckets", "seq")}
        _put(self.s, table, {"day": "d", "center": "c"}, same, new, old)

    def _write_askers(self) -> None:
        if not self.askers:
            return
        table = ASKERS
        users = sorted({u for u, _ in self.askers})
        stored: dict[tuple[str, str], tuple[datetime, datetime, int]] = {}
        for start in range(0, len(users), 500):
            q = select(
                table.c.user_id,
                table.c.center,
                table.c.first_seen,
                table.c.last_seen,
                table.c.days_active,
            ).where(table.c.user_id.in_(users[start : start + 500]))
            for row in self.s.execute(q):
                stored[(row.user_id, row.center)] = (
                    utc(row.first_seen),
                    utc(row.last_seen),
                    row.days_active,
                )
        new, old = [], []
        for (user, center), (first, last, days) in self.askers.items():
            have = stored.get((user, center))
            if have is None:
                new.append(_asker_row(user, center, first, last, len(days), self.seq))
                continue
            added = sum(1 for d in days if d > have[1].date())
            first, last = min(first, have[0]), max(last, have[1])
            old.append(_asker_row(user, center, first, last, have[2] + added, self.seq))
        values = {"first_seen": "first", "last_seen": "last", "days_active": "days", "seq": "seq"}
        _put(self.s, table, {"user_id": "u", "center": "c"}, values, new, old)


def _put(
    s: Connection,
    table: Table,
    keys: dict[str, str],
    values: dict[str, str],
    new: list[dict[str, Any]],
    old: list[dict[str, Any]],
) -> None:
    """Insert the ``new`` rows and update the ``old`` ones (found by ``keys``), each in one
    executemany; ``keys`` and ``values`` map columns to the rows' parameter names."""
    cols: dict[str, Any] = {c: bindparam(p) for c, p in values.items()}
    if new:
        s.execute(table.insert().values(**{c: bindparam(p) for c, p in keys.items()}, **cols), new)
    if old:
        match = and_(*(table.c[c] == bindparam(p) for c, p in keys.items()))
        s.execute(update(table).where(match).values(**cols), old)


def prices(ops: OperationsSettings) -> dict[str, tuple[float, float]]:
    """STEWARD_PRICES as model -> (input, output) USD per million tokens."""
    out: dict[str, tuple[float, float]] = {}
    for model, price in ops.prices.items():
        try:
            values = (float(price.get("input", 0.0)), float(price.get("output", 0.0)))
            ok = not set(price) - {"input", "output"} and min(values) >= 0
        except (AttributeError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(
                f"STEWARD_PRICES: the price of {model[:60]!r} is not "
                '{"input": USD, "output": USD} per million tokens.'
            )
        out[model] = values
    return out


def negative(payload: dict[str, Any]) -> bool:
    """Feedback that finds fault: thumbs down, or a rating of 2 or less."""
    rating = payload.get("rating")
    return payload.get("thumb") == -1 or (isinstance(rating, int) and rating <= 2)


def satisfaction_of(thumb: int | None, rating: int | None) -> int | None:
    """One feedback's satisfaction on the 1-5 scale: its rating, else thumbs up 5, down 1."""
    if rating is not None:
        return rating
    if thumb == 1:
        return 5
    if thumb == -1:
        return 1
    return None


def _add_feedback(counts: dict[str, float], fb: dict[str, Any], sign: int) -> None:
    thumb, rating = fb.get("thumb"), fb.get("rating")
    if thumb == 1:
        counts["thumbs_up"] += sign
    elif thumb == -1:
        counts["thumbs_down"] += sign
    if isinstance(rating, int):
        counts["rating_sum"] += sign * rating
        counts["rating_count"] += sign
    value = satisfaction_of(thumb if isinstance(thumb, int) else None, rating)
    if value is not None:
        counts["sat_sum"] += sign * value
        counts["sat_count"] += sign
    counts["feedback"] += sign


def _asker_row(
    user: str, center: str, first: datetime, last: datetime, days: int, seq: int
) -> dict[str, Any]:
    return {"u": user, "c": center, "first": first, "last": last, "days": days, "seq": seq}


def _number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 8)


def _trim(buckets: Iterable[int]) -> list[int]:
    out = list(buckets)
    while out and out[-1] == 0:
        out.pop()
    return out
