"""Answer-cache latency: a repeated question against the same question uncached, same run.

Runs each Meridian dev question (answer/abstain ones) once cold and then N times again as the
same user, in process, with the audit row written every time (as in production). Then times the
semantic lookup (done on every miss) with --entries cached answers under one fingerprint: the
in-process vector index against reading the vectors from the table on each lookup (what Steward
did before), same run; the scratch entries are deleted afterwards. Prints one JSON line.
Usage: STEWARD_HOME=<store from benchmarks/meridian/setup>
python -m benchmarks.cache.bench --questions FILE [--repeats 5] [--entries 10000]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from steward.evals.runner import load_questions
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import CacheEntry


def semantic_lookup(rt: Runtime, entries: int, lookups: int = 50) -> dict[str, object]:
    """p50 of one semantic lookup with ``entries`` vectors under one fingerprint."""
    from sqlalchemy import delete, select

    fp = "bench-semantic-lookup"
    dim = rt.embedder.dim
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((entries, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    now = datetime.now(UTC)
    with rt.store.write() as (s, _):
        s.add_all(
            CacheEntry(
                key=f"{fp}-{i}",
                fingerprint=fp,
                question="",
                vector=v.astype(np.float16).tobytes(),
                response={},
                cited_versions={},
                hits=0,
                created_at=now,
            )
            for i, v in enumerate(vecs)
        )
    queries = rng.standard_normal((lookups, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    def table_read(q: np.ndarray) -> None:
        with rt.store.read() as s:
            rows = s.execute(
                select(CacheEntry.key, CacheEntry.vector).where(CacheEntry.fingerprint == fp)
            ).all()
        m = np.vstack([np.frombuffer(v, np.float16).astype(np.float32) for _, v in rows])
        int(np.argmax(m @ q))

    def timed(fn: object) -> float:
        out = []
        for q in queries:
            t0 = time.perf_counter()
            fn(q)  # type: ignore[operator]
            out.append((time.perf_counter() - t0) * 1000)
        return round(float(np.percentile(out, 50)), 3)

    rt.cache.get_semantic(fp, queries[0], frozenset(), 0)  # load the index once
    try:
        return {
            "entries": entries,
            "index_p50_ms": timed(lambda q: rt.cache.get_semantic(fp, q, frozenset(), 0)),
            "baseline_table_read_p50_ms": timed(table_read),
        }
    finally:
        with rt.store.write() as (s, _):
            s.execute(delete(CacheEntry).where(CacheEntry.fingerprint == fp))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--entries", type=int, default=10_000, help="for the semantic lookup")
    args = ap.parse_args()
    rt = Runtime()
    rt.warm()
    rt.cache.clear()
    cold, warm, kinds = [], [], []
    for q in load_questions(args.questions):
        who = principal_for(rt.store, q.user)
        first = ask(rt, who, q.question, channel="bench")
        if first.action not in ("answer", "abstain"):
            continue
        cold.append(first.latency_ms)
        for _ in range(args.repeats):
            again = ask(rt, who, q.question, channel="bench")
            warm.append(again.latency_ms)
            kinds.append(again.cache or "miss")
    print(
        json.dumps(
            {
                "benchmark": "answer-cache",
                "questions": len(cold),
                "repeated_ms": {
                    "p50": round(float(np.percentile(warm, 50)), 2),
                    "p95": round(float(np.percentile(warm, 95)), 2),
                },
                "baseline_uncached_ms": {
                    "p50": round(float(np.percentile(cold, 50)), 2),
                    "p95": round(float(np.percentile(cold, 95)), 2),
                },
                "hit_rate": round(sum(k != "miss" for k in kinds) / len(kinds), 4),
                "stats": rt.cache.stats.as_dict(),
                "semantic_lookup": semantic_lookup(rt, args.entries),
                "note": "latency of ask(), in process, including masking and the audit write",
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
