"""Meridian dev evaluation: Steward's figures beside a naive baseline measured in the same run.

The baseline is the one DESIGN.md calibrates against: BM25 over the permitted chunks and the two
sentences sharing most words with the question, always answering (no abstention).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from steward.answering.answer import load_passages
from steward.evals.runner import _readable, load_questions, run_eval, score, summarise
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import Citation, Response
from steward.retrieval.search import stem_set
from steward.runtime import Runtime


def baseline(rt: Runtime, questions):  # type: ignore[no-untyped-def]
    can_read = _readable(rt)
    scored = []
    for q in questions:
        t = time.perf_counter()
        who = principal_for(rt.store, q.user)
        flt = rt.search.filter_for(who.groups, None)
        hits = rt.index.lexical(q.question, flt, 5)
        passages = load_passages(rt.store, hits, rt.embedder.dim, None, flt.acl_ids)
        words = stem_set(q.question)
        sentences = [
            (len(stem_set(p.sentence(i)) & words), p, i)
            for p in passages
            for i in range(len(p.sentences))
        ]
        best = sorted(sentences, key=lambda s: -s[0])[:2]
        answer = " ".join(p.sentence(i) for _, p, i in best)
        cites = [Citation(p.doc_id, p.chunk_id, p.title, p.version) for _, p, _ in best]
        ms = (time.perf_counter() - t) * 1000
        sources = list(dict.fromkeys(p.doc_id for p in passages))
        r = Response(
            "", "answer" if best else "abstain", answer, cites, 1.0, None, "", ms, sources=sources
        )
        scored.append(score(q, r, who.groups, can_read))
    return summarise(scored, pii_stored=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=Path, required=True)
    args = ap.parse_args()
    rt = Runtime()
    rt.warm()
    questions = load_questions(args.questions)
    summary, _ = run_eval(rt, questions)
    base = baseline(rt, questions)
    base.pop("pii_stored")
    base.pop("pii_stored_in")
    print(
        json.dumps(
            {
                "benchmark": "meridian-dev",
                "figures": summary,
                "baseline": {"name": "bm25-top2-sentences-no-abstain", **base},
                "machine": machine(),
                "latency_note": "per question, end to end in process, embedded defaults, warm",
            }
        )
    )
    return 0 if np.isfinite(summary["latency_ms_p95"]) else 1


if __name__ == "__main__":
    sys.exit(main())
