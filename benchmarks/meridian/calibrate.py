"""Fit the extractive provider's support weights on a question file, with a leave-one-out check.

The shipped defaults (ExtractiveOptions.support_*) came from this fit on the Meridian dev
questions. Because the same questions then score the result, this script also reports a
leave-one-out estimate: each question is decided by weights fitted without it. Prints one JSON
line: fitted weights, in-sample and leave-one-out figures at the shipped threshold.
Usage: STEWARD_HOME=<store from setup> python -m benchmarks.meridian.calibrate --questions FILE
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.meridian.replay import answer_requests
from steward.answering.providers.extractive import ExtractiveProvider
from steward.evals.runner import ANSWER_KINDS, load_questions
from steward.runtime import Runtime


def features(rt: Runtime, questions):  # type: ignore[no-untyped-def]
    prov = ExtractiveProvider()
    w = np.asarray(prov.opts.rank_weights)
    rows = []
    for q, req in answer_requests(rt, questions):
        draft = prov.complete(req)
        cands, cvecs = prov.candidates(req)
        if not cands:
            continue
        sigs = prov.part_signals(req, cands, cvecs)
        picked = [s[int(np.argmax(s @ w))] for s in sigs]
        x = min(picked, key=lambda f: float(f @ w))
        good = q.answered_by(draft.text)
        should = q.kind in ANSWER_KINDS or (q.kind == "injection" and q.expected_action == "answer")
        rows.append((q.id, q.kind, x, int(should and good)))
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.5, steps: int = 20000) -> np.ndarray:
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= 1.0 * (xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0] / len(y))
    return w


def report(rows, probs: np.ndarray, threshold: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    def share(kinds: tuple[str, ...], want_answer: bool) -> float:
        sel = [(r, p) for r, p in zip(rows, probs, strict=True) if r[1] in kinds]
        if want_answer:
            ok = [r[3] == 1 and p >= threshold for r, p in sel]
        else:
            ok = [p < threshold for r, p in sel]
        return round(sum(ok) / len(ok), 4) if ok else float("nan")

    return {
        "accuracy": share(ANSWER_KINDS, True),
        "abstain_ok": share(("unanswerable",), False),
        "forbidden_ok": share(("forbidden",), False),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=Path, required=True)
    args = ap.parse_args()
    rt = Runtime()
    rt.warm()
    rows = features(rt, load_questions(args.questions))
    x = np.vstack([r[2] for r in rows])
    y = np.array([r[3] for r in rows], float)
    w = fit(x, y)
    prov = ExtractiveProvider()
    threshold = rt.settings.policy.answer_threshold
    shipped = np.r_[np.asarray(prov.opts.support_weights), -prov.opts.support_bias]
    xb = np.hstack([x, np.ones((len(x), 1))])
    in_sample = 1 / (1 + np.exp(-xb @ shipped))
    loo = np.zeros(len(rows))
    for i in range(len(rows)):
        keep = np.arange(len(rows)) != i
        wi = fit(x[keep], y[keep], steps=5000)
        loo[i] = 1 / (1 + np.exp(-xb[i] @ wi))
    print(
        json.dumps(
            {
                "benchmark": "meridian-support-calibration",
                "fitted_weights": [round(float(v), 3) for v in w[:-1]],
                "fitted_bias": round(float(-w[-1]), 3),
                "threshold": threshold,
                "in_sample_shipped": report(rows, in_sample, threshold),
                "in_sample_fitted": report(rows, 1 / (1 + np.exp(-xb @ w)), threshold),
                "leave_one_out": report(rows, loo, threshold),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
