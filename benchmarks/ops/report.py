"""`steward report` and the dashboard's reads over a million audit rows, SQLite and PostgreSQL.

1. Builds a store with ``--rows`` realistic audit rows over 90 days (question rows of five
   centers and 20,000 askers, a mix of answers, abstentions, hand-offs, refusals and errors with
   log-normal latencies, token counts on a priced model for a third; conversations with their
   turns; feedback, review verdicts and ticket events). Rows are bulk-inserted with a dummy hash:
   the hash chain is bypassed, which a read benchmark may do (nothing here verifies it).
2. Folds them into the hourly and daily rollups from scratch: the catch-up time, its own figure.
3. Times, over ``--calls`` repetitions with ``--new`` new audit rows written (and so folded by
   the call) before each: ``report()`` for all centers over 30 days, and the dashboard's set
   (``report()`` plus ``series()`` of the six metrics), in one process (a server keeps what
   it read and reads only rollups folded since). Median and p95. Then ``report()`` cold:
   nothing kept from earlier calls, as in a new `steward report` process (it reads the daily
   rollups).
4. Baseline in the same run: a naive aggregate straight over the audit table for the same 30
   days (counts by action only: a lower bound of what computing the metrics that way costs).

Prints one JSON line per engine. Usage:
    python -m benchmarks.ops.report --engine sqlite|postgres|both --rows 1000000

:func:`build_store` and :func:`add_rows` are for other benchmarks (the console's dashboard).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from ulid import ULID

from benchmarks.machine import machine
from steward.config.settings import Settings
from steward.operations import report as reports
from steward.operations.rollup import fold
from steward.runtime import Runtime
from steward.store import Store, open_store
from steward.store.models import AuditRecord, Conversation, Turn

CENTERS = ("north", "south", "east", "west", "central")
ACTIONS = (("answer", 0.70), ("abstain", 0.12), ("escalate", 0.13), ("refuse", 0.03))
MODEL = "gpt-4o-mini"
PRICES = {MODEL: {"input": 0.15, "output": 0.6}}
CHUNK = 10_000
DUMMY_HASH = "0" * 64
SIX = (
    "resolution_rate",
    "escalation_rate",
    "answer_precision",
    "latency_ms_p50",
    "latency_ms_p95",
    "cost_per_resolved",
    "satisfaction",
)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


class _Gen:
    """Realistic rows, deterministic for a seed."""

    def __init__(self, seed: int, users: int, start: datetime, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.users = users
        self.start, self.end = start, end
        self.answers: list[tuple[str, datetime]] = []  # recent answered rows, for events
        self.seq = 0

    def _base(self, ts: datetime, kind: str, user: str, center: str | None) -> dict[str, Any]:
        self.seq += 1
        return {
            "id": str(ULID.from_datetime(ts)),
            "seq": self.seq,
            "ts": ts.replace(tzinfo=None),
            "kind": kind,
            "target": "",
            "request_id": None,
            "payload": None,
            "hash_format": 3,
            "content_salt": None,
            "content_digest": None,
            "channel": "api",
            "user_id": user,
            "groups": ["customers"],
            "center": center,
            "question": "",
            "action": "done",
            "reason": "",
            "escalation_reason": None,
            "confidence": 0.0,
            "answer": "",
            "citations": [],
            "retrieved": [],
            "provider": "none",
            "model": "none",
            "prompt_version": "none",
            "kb_version": 1,
            "settings": {},
            "latency_ms": {},
            "prev_hash": DUMMY_HASH,
            "hash": DUMMY_HASH,
            "trace_id": None,
        }

    def _action(self) -> str:
        x, acc = self.rng.random(), 0.0
        for action, share in ACTIONS:
            acc += share
            if x < acc:
                return action
        return "error"

    def question(self, ts: datetime, conv: str | None) -> dict[str, Any]:
        # Skewed: a few askers ask a lot, most now and then.
        u = min(int(self.users * self.rng.random() ** 3), self.users - 1)
        center = CENTERS[u % len(CENTERS)] if u % 7 else None
        row = self._base(ts, "question", f"user-{u}", center)
        action = self._action()
        llm = self.rng.random() < 0.33 and action in ("answer", "abstain")
        tokens = [self.rng.randint(800, 3000), self.rng.randint(50, 400)] if llm else [0, 0]
        total = self.rng.lognormvariate(6.2, 0.7)  # median ~500 ms
        row.update(
            question="How much does a domestic wire cost? [masked]",
            action=action,
            reason=f"{action}: bench",
            escalation_reason="fraud" if action == "escalate" else None,
            confidence=round(self.rng.uniform(0.3, 0.99), 4),
            answer="Outgoing domestic wires cost $25 each. [1]" if action == "answer" else "",
            provider="openai" if llm else "extractive",
            model=MODEL if llm else "extractive",
            prompt_version="v1",
            settings={
                "policy": "default@1",
                "answer_threshold": 0.55,
                "tokens": tokens,
                "cache": "exact" if self.rng.random() < 0.1 else "miss",
                "conversation_id": conv,
                "intent": "fees",
            },
            latency_ms={"retrieve": round(total * 0.3, 2), "total": round(total, 2)},
        )
        if action == "answer":
            self.answers.append((row["id"], ts))
            del self.answers[:-500]
        return row

    def event(self, ts: datetime) -> dict[str, Any] | None:
        if not self.answers:
            return None
        audit_id, _ = self.rng.choice(self.answers)
        x = self.rng.random()
        user = f"user-{self.rng.randrange(self.users)}"
        if x < 0.55:
            kind = "feedback-given"
            thumb = 1 if self.rng.random() < 0.8 else -1
            payload = {"audit_id": audit_id, "thumb": thumb, "rating": None, "previous": None}
        elif x < 0.65:
            kind = "review-verdict"
            verdict = "right" if self.rng.random() < 0.9 else "wrong"
            payload = {"audit_id": audit_id, "verdict": verdict, "previous": None}
        else:
            kind = self.rng.choice(("ticket-claimed", "ticket-answered", "ticket-resolved"))
            payload = {"conversation": None, "status": "claimed"}
        row = self._base(ts, kind, user, self.rng.choice(CENTERS))
        row.update(target=f"audit:{audit_id}", payload=payload)
        return row


def _rows(gen: _Gen, n: int, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    span = (end - start).total_seconds()
    step = span / max(n, 1)
    convs: list[list[Any]] = []  # [conversation id, questions left]
    for i in range(n):
        ts = start + timedelta(seconds=i * step + gen.rng.random() * step * 0.9)
        if gen.rng.random() < 0.08:
            event = gen.event(ts)
            if event is not None:
                yield event
                continue
        conv = None
        if gen.rng.random() < 0.4:
            if convs and gen.rng.random() < 0.6:
                c = gen.rng.choice(convs)
                conv, c[1] = c[0], c[1] - 1
                if c[1] <= 0:
                    convs.remove(c)
            else:
                conv = str(ULID.from_datetime(ts))
                convs.append([conv, gen.rng.randint(1, 4)])
                del convs[:-200]
        yield gen.question(ts, conv)


def _write(store: Store, rows: list[dict[str, Any]]) -> None:
    """Audit rows plus the conversations and assistant turns the rollup reads."""
    convs: dict[str, dict[str, Any]] = {}
    turns: list[dict[str, Any]] = []
    for r in rows:
        conv = (r["settings"] or {}).get("conversation_id")
        if r["kind"] != "question" or not conv:
            continue
        ts = r["ts"]
        convs.setdefault(
            conv,
            {
                "id": conv,
                "user_id": r["user_id"],
                "center": r["center"],
                "status": "open",
                "created_at": ts,
                "updated_at": ts,
            },
        )
        turns.append(
            {
                "conversation_id": conv,
                "role": "assistant",
                "text": r["answer"],
                "standalone": None,
                "action": r["action"],
                "audit_id": r["id"],
                "author": None,
                "created_at": ts,
            }
        )
    with store.write() as (s, _):
        s.execute(insert(_table(AuditRecord)), rows)
        if convs:
            have = set(s.scalars(select(Conversation.id).where(Conversation.id.in_(list(convs)))))
            new = [c for k, c in convs.items() if k not in have]
            if new:
                s.execute(insert(_table(Conversation)), new)
            s.execute(insert(_table(Turn)), turns)


def build_store(
    url: str, rows: int = 1_000_000, *, days: int = 90, users: int = 20_000, seed: int = 7
) -> tuple[Store, _Gen]:
    """A migrated store at ``url`` holding ``rows`` audit rows over the last ``days`` days
    (not folded yet). Returns the store and the generator :func:`add_rows` continues."""
    store = open_store(url)
    end = datetime.now(UTC) - timedelta(minutes=5)
    start = end - timedelta(days=days)
    gen = _Gen(seed, users, start, end)
    batch: list[dict[str, Any]] = []
    for row in _rows(gen, rows, start, end):
        batch.append(row)
        if len(batch) >= CHUNK:
            _write(store, batch)
            batch = []
    if batch:
        _write(store, batch)
    return store, gen


def add_rows(store: Store, gen: _Gen, n: int) -> None:
    """``n`` more question rows, stamped now (new traffic between two reads)."""
    now = datetime.now(UTC)
    _write(store, [gen.question(now, None) for _ in range(n)])


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1)}


def _naive(store: Store, since: timedelta) -> float:
    """Counts by action straight over the audit table for the period, in ms."""
    start = (datetime.now(UTC) - since).replace(tzinfo=None)
    q = (
        select(AuditRecord.action, func.count())
        .where(AuditRecord.kind == "question", AuditRecord.ts >= start)
        .group_by(AuditRecord.action)
    )
    t = time.perf_counter()
    with store.read() as s:
        s.execute(q).all()
    return (time.perf_counter() - t) * 1000


def run(url: str, engine: str, rows: int, calls: int, new: int, home: Path) -> dict[str, Any]:
    t = time.perf_counter()
    store, gen = build_store(url, rows)
    built_s = time.perf_counter() - t
    if engine == "postgres":
        with store.raw() as conn:
            conn.execute(text("ANALYZE"))
    t = time.perf_counter()
    folded = fold(store, settings=Settings(prices=PRICES).operations)
    catch_up_s = time.perf_counter() - t
    # No rate limits: the loops time the page, not the limiter.
    settings = Settings(
        home=home, database_url=url, prices=PRICES, rate_per_key=0, rate_per_user=0,
        rate_per_center=0, auth_failures_max=0, audit_checkpoint_interval_s=0,
    )  # fmt: skip
    rt = Runtime(settings)
    since = timedelta(days=30)
    one: list[float] = []
    dashboard: list[float] = []
    naive: list[float] = []
    data: dict[str, Any] = {}
    for _ in range(calls):
        add_rows(store, gen, new)
        t = time.perf_counter()
        data = reports.report(rt, since=since)
        one.append((time.perf_counter() - t) * 1000)
        add_rows(store, gen, new)
        t = time.perf_counter()
        reports.report(rt, since=since)
        for metric in SIX:
            reports.series(rt, metric=metric, since=since)
        dashboard.append((time.perf_counter() - t) * 1000)
    # Cold: nothing kept from earlier calls, as in a new `steward report` process.
    cold: list[float] = []
    for _ in range(max(3, calls // 4)):
        add_rows(store, gen, new)
        reports.forget()
        t = time.perf_counter()
        reports.report(rt, since=since)
        cold.append((time.perf_counter() - t) * 1000)
    page = _dashboard_page(rt, store, gen, calls, new)
    for _ in range(3):
        naive.append(_naive(store, since))
    with store.read() as s:
        rollups = s.execute(text("SELECT count(*) FROM metric_rollups")).scalar()
    rt.close()
    store.dispose()
    return {
        "bench": "ops-report",
        "engine": engine,
        "rows": rows,
        "folded_rows": folded,
        "rollup_rows": rollups,
        "build_s": round(built_s, 1),
        "catch_up_fold_s": round(catch_up_s, 1),
        "catch_up_rows_per_s": round(folded / catch_up_s) if catch_up_s else None,
        "report_30d": _stats(one),
        "report_30d_cold": _stats(cold),
        "dashboard_30d_report_plus_six_series": _stats(dashboard),
        "dashboard_page_get_console_30d": _stats(page),
        "new_rows_folded_per_call": new,
        "calls": calls,
        "baseline_naive_count_by_action_30d": _stats(naive),
        "target_ms": 300,
        "sample": {k: data.get(k) for k in (*SIX, "questions", "active_askers_30d")},
        "machine": machine(),
    }


def _dashboard_page(rt: Runtime, store: Store, gen: _Gen, calls: int, new: int) -> list[float]:
    """``GET /console?period=30d`` through the app in process (an operator's signed-in
    session), as a browser asks for it: report, six trends, rendering."""
    from fastapi.testclient import TestClient

    from steward.identity.auth import create_key
    from steward.store.models import User
    from steward.web.app import create_app

    with store.write() as (s, _):
        s.merge(User(id="bench-operator", display_name="Bench Operator", access="operator"))
    key = create_key(store, "bench-operator")
    client = TestClient(create_app(rt))  # no lifespan: no background threads
    assert client.post("/v1/session", json={"api_key": key}).status_code == 201
    with store.read() as s:  # the key and the sign-in wrote real audit events
        gen.seq = int(s.execute(text("SELECT max(seq) FROM audit")).scalar() or 0)
    out: list[float] = []
    for _ in range(calls):
        add_rows(store, gen, new)
        t = time.perf_counter()
        r = client.get("/console", params={"period": "30d"})
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200 and "Resolution" in r.text, r.status_code
    client.close()
    return out


def _postgres(root: Path) -> tuple[str, Any]:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root / "xdg"))
    (root / "xdg").mkdir(exist_ok=True)
    import pgserver

    server = pgserver.get_server(root / "pg", cleanup_mode="stop")
    server.psql("DROP DATABASE IF EXISTS bench_ops;")
    server.psql("CREATE DATABASE bench_ops;")
    uri = server.get_uri("bench_ops").replace("postgresql://", "postgresql+psycopg://", 1)
    return uri, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--new", type=int, default=5, help="New audit rows before each call.")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="steward-ops-bench-"))
    engines = ("sqlite", "postgres") if args.engine == "both" else (args.engine,)
    for engine in engines:
        home = root / f"home-{engine}"
        if engine == "sqlite":
            home.mkdir(parents=True)
            url = f"sqlite:///{home / 'steward.db'}"
            print(json.dumps(run(url, engine, args.rows, args.calls, args.new, home)), flush=True)
        else:
            url, server = _postgres(root)
            try:
                result = run(url, engine, args.rows, args.calls, args.new, home)
            finally:
                server.cleanup()
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
