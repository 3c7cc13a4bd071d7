"""Answer-cache latency: a repeated question against the same question uncached, same run.

Runs each Meridian dev question (answer/abstain ones) once cold and then N times again as the
same user, in process, with the audit row written every time (as in production). Prints one
JSON line. Usage: STEWARD_HOME=<store from benchmarks/meridian/setup>
python -m benchmarks.cache.bench --questions FILE [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from steward.evals import load_questions
from steward.identity import principal_for
from steward.orchestrator import ask
from steward.runtime import Runtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=5)
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
                "note": "latency of ask(), in process, including masking and the audit write",
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
