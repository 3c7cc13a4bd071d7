"""Fit the extractive provider's support weights and choose the answer threshold by
cross-validation.

The shipped defaults (ExtractiveOptions.support_* and STEWARD_ANSWER_THRESHOLD) come from this
script on the Meridian dev and training questions (never the held-out file). The weights are a
logistic regression of "the extractive answer is right" on the six signals of the weakest chosen
sentence; the threshold is the one with the best out-of-fold utility (right answers minus three
times the wrong ones: a wrong answer given with confidence costs more than an honest "I don't
know"), each question scored by weights fitted without it (5-fold, three shuffles). Prints one
JSON line: the fitted weights, the chosen threshold and the out-of-fold curve.
Usage: STEWARD_HOME=<store from setup> python -m benchmarks.meridian.calibrate \
         --questions ../shared/corpus/meridian/questions-dev.jsonl \
         benchmarks/meridian/questions-train.jsonl
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


WRONG_COST = 3.0  # a wrong answer costs three abstentions (stated, not fitted)
GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.30 .. 0.90


def out_of_fold(x: np.ndarray, y: np.ndarray, folds: int = 5, seeds: int = 3) -> np.ndarray:
    """Each question's support from weights fitted without it (k-fold, averaged over seeds)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    runs = []
    for seed in range(seeds):
        fold = np.random.default_rng(seed).permutation(len(y)) % folds
        oof = np.zeros(len(y))
        for f in range(folds):
            train = fold != f
            w = fit(x[train], y[train], steps=6000)
            oof[~train] = 1 / (1 + np.exp(-xb[~train] @ w))
        runs.append(oof)
    return np.asarray(np.mean(runs, axis=0))


def frontier(probs: np.ndarray, y: np.ndarray) -> list[dict[str, float]]:
    """Per threshold: answers given, the share right, and the utility right - 3 x wrong."""
    out = []
    for t in GRID:
        answered = probs >= t
        right = int(y[answered].sum())
        wrong = int(answered.sum()) - right
        out.append(
            {
                "threshold": t,
                "answered": int(answered.sum()),
                "precision": round(right / answered.sum(), 4) if answered.any() else 0.0,
                "right": right,
                "utility": right - WRONG_COST * wrong,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=Path, required=True, nargs="+")
    args = ap.parse_args()
    rt = Runtime()
    rt.warm()
    questions = [q for path in args.questions for q in load_questions(path)]
    rows = features(rt, questions)
    x = np.vstack([r[2] for r in rows])
    y = np.array([r[3] for r in rows], float)
    w = fit(x, y)
    oof = out_of_fold(x, y)
    curve = frontier(oof, y)
    best = max(curve, key=lambda c: (c["utility"], c["threshold"]))
    prov = ExtractiveProvider()
    shipped = np.r_[np.asarray(prov.opts.support_weights), -prov.opts.support_bias]
    xb = np.hstack([x, np.ones((len(x), 1))])
    threshold = rt.settings.policy.answer_threshold
    print(
        json.dumps(
            {
                "benchmark": "meridian-support-calibration",
                "questions": len(questions),
                "rows": len(rows),
                "fitted_weights": [round(float(v), 3) for v in w[:-1]],
                "fitted_bias": round(float(-w[-1]), 3),
                "chosen_threshold": best["threshold"],
                "out_of_fold_at_chosen": best,
                "out_of_fold_curve": curve,
                "shipped_in_sample": report(rows, 1 / (1 + np.exp(-xb @ shipped)), threshold),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
