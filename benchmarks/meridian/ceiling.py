"""How far sentence choice alone can take the extractive provider on a question file.

Answering every question (no abstention), counts the answer-kind questions whose composed answer
holds every expected fact and no forbidden string: with the shipped ranking weights, and with the
best of N random weightings of the same six signals (a search on the questions themselves, so an
upper bound, not an estimate). If even that stays below a target, no calibration of the answer /
abstain decision can reach it: the signals do not find the answering sentence. Prints one JSON
line, with the questions no weighting answers.
Usage: STEWARD_HOME=<store from setup> python -m benchmarks.meridian.ceiling --questions FILE
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.meridian.replay import answer_requests
from steward.answering.providers.base import AnswerRequest
from steward.answering.providers.extractive import ExtractiveOptions, ExtractiveProvider
from steward.evals.runner import ANSWER_KINDS, Question, load_questions
from steward.runtime import Runtime


def answered(
    requests: list[tuple[Question, AnswerRequest]], weights: tuple[float, ...]
) -> np.ndarray:
    """Per question: does the answer composed with these ranking weights hold every fact?"""
    prov = ExtractiveProvider(ExtractiveOptions(rank_weights=weights))
    return np.array([q.answered_by(prov.complete(req).text) for q, req in requests], bool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--tries", type=int, default=400, help="Random weightings to try.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rt = Runtime()
    rt.warm()
    questions = [q for q in load_questions(args.questions) if q.kind in ANSWER_KINDS]
    requests = list(answer_requests(rt, questions))
    shipped = ExtractiveOptions().rank_weights
    base = answered(requests, shipped)
    rng = np.random.default_rng(args.seed)
    best, best_w = base, shipped
    ever = base.copy()
    for _ in range(args.tries):
        w = tuple(float(x) for x in rng.dirichlet(np.ones(len(shipped))) * sum(shipped))
        ok = answered(requests, w)
        ever |= ok
        if ok.sum() > best.sum():
            best, best_w = ok, w
    n = len(questions)  # a question with nothing retrieved counts as not answered
    print(
        json.dumps(
            {
                "benchmark": "meridian-sentence-choice-ceiling",
                "questions": n,
                "shipped_weights": round(int(base.sum()) / n, 4),
                "best_of_random": round(int(best.sum()) / n, 4),
                "best_weights": [round(x, 3) for x in best_w],
                "tries": args.tries,
                "never_answered": [q.id for (q, _), e in zip(requests, ever, strict=True) if not e],
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
