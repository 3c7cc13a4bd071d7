"""Risk detection (who must be handed to a person) on data the detector was not trained on.

    python -m benchmarks.risk.bench ../shared/data/banking77

Two test sets, four detectors, one run:

- **Banking77 test split** (3,080 texts; the detector trained on the train split): recall of the
  four intents that report money or a card the customer did not control
  (``card_payment_not_recognised``, ``cash_withdrawal_not_recognised``, ``compromised_card``,
  ``direct_debit_payment_not_recognised``) as ``fraud``, and the false-escalation rate: the
  share of the other 73 intents' texts that any risk signal would hand off.
- **Typologies held-out** (``benchmarks/risk/typologies-heldout.jsonl``, 210 messages written by a
  separate author before training, never tuned on): account takeover, one-time-code sharing,
  bank and police impersonation, romance and investment scams, money mules, coerced and rushed
  transfers, elderly, bereaved, ill or confused customers, distress, self-harm, legal threats;
  recall (handed off at all, and with the right reason) and the false-escalation rate on the
  ``none`` messages (near misses such as "how do I report fraud?", and ordinary questions).

Detectors: the phrase rules of commit 066d2d2 (the baseline), today's phrase rules alone (what
runs with the detector switched off), the learned model alone, and Steward as it runs: the model
beside the fixed rules (the legal words the matrix names, any mention of self-harm).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.risk import rules_066d2d2
from steward.config.settings import Settings
from steward.core import reasons
from steward.models.embeddings import MiniLMEmbedder
from steward.models.risk import BANKING77_FRAUD, LABELS, RiskModel, shipped, strongest, windows
from steward.pipeline.understand import risk_signals

HERE = Path(__file__).parent
HELDOUT = HERE / "typologies-heldout.jsonl"
ORDER = {r.name: i for i, r in enumerate(reasons.ALL)}
WORDED = set(LABELS)  # the reasons that live in words (not amounts or locations)

Detector = Callable[[list[str]], list[str | None]]  # texts -> the first reason, or None


def _first(found: set[str]) -> str | None:
    return min(found, key=lambda r: ORDER.get(r, 99)) if found else None


def detectors(
    model: RiskModel, vectors_of: Callable[[list[str]], np.ndarray]
) -> dict[str, Detector]:
    def old(texts: list[str]) -> list[str | None]:
        return [_first({s.reason for s in rules_066d2d2.risk_signals(t)} & WORDED) for t in texts]

    def rules(texts: list[str]) -> list[str | None]:
        return [_first({s.reason for s in risk_signals(t)} & WORDED) for t in texts]

    def learned(texts: list[str]) -> list[str | None]:
        # as assess_risk reads a message: the whole and its sentence pairs, the strongest
        out = []
        for text in texts:
            pieces = windows(text)
            vecs = vectors_of(pieces) if model.embedder_id else None
            out.append(strongest(model.score(pieces, vecs)).reason)
        return out

    def fixed(texts: list[str]) -> list[str | None]:  # the rules that stay beside the model
        return [_first({s.reason for s in risk_signals(t, phrases=False)} & WORDED) for t in texts]

    def steward(texts: list[str]) -> list[str | None]:
        return [
            _first({r for r in (a, b) if r is not None})
            for a, b in zip(fixed(texts), learned(texts), strict=True)
        ]

    return {"rules@066d2d2": old, "rules": rules, "model": learned, "steward": steward}


def banking77_test(folder: Path, detect: Detector) -> dict[str, float | int]:
    with (folder / "test.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    got = detect([r["text"] for r in rows])
    pos = [g for r, g in zip(rows, got, strict=True) if r["category"] in BANKING77_FRAUD]
    neg = [g for r, g in zip(rows, got, strict=True) if r["category"] not in BANKING77_FRAUD]
    return {
        "fraud_recall": round(sum(g == "fraud" for g in pos) / len(pos), 4),
        "false_escalation_rate": round(sum(g is not None for g in neg) / len(neg), 4),
        "reports": len(pos),
        "others": len(neg),
    }


def typologies(rows: list[dict[str, str]], detect: Detector) -> dict[str, object]:
    got = detect([r["text"] for r in rows])
    pos = [(r, g) for r, g in zip(rows, got, strict=True) if r["label"] != "none"]
    neg = [(r, g) for r, g in zip(rows, got, strict=True) if r["label"] == "none"]
    hard = [g for r, g in neg if r["typology"] == "hard_negative"]
    by_label = {
        lab: round(
            sum(g == lab for r, g in pos if r["label"] == lab)
            / max(1, sum(r["label"] == lab for r, _ in pos)),
            4,
        )
        for lab in LABELS
    }
    by_typology: dict[str, list[bool]] = {}
    for r, g in pos:
        by_typology.setdefault(r["typology"], []).append(g is not None)
    return {
        "escalation_recall": round(sum(g is not None for _, g in pos) / len(pos), 4),
        "right_reason_recall": round(sum(g == r["label"] for r, g in pos) / len(pos), 4),
        "right_reason_by_label": by_label,
        "false_escalation_rate": round(sum(g is not None for _, g in neg) / len(neg), 4),
        "false_escalation_rate_near_misses": round(sum(g is not None for g in hard) / len(hard), 4),
        "missed_typologies": sorted(
            t for t, hits in by_typology.items() if sum(hits) < len(hits) / 2
        ),
        "risky": len(pos),
        "none": len(neg),
    }


def _score_ms(
    model: RiskModel, texts: list[str], vectors_of: Callable[[list[str]], np.ndarray]
) -> float:
    """Median time to score one question whose embedding is already made (as in `ask`)."""
    import time

    vecs = vectors_of(texts)
    times = []
    for i, text in enumerate(texts):
        start = time.perf_counter()
        model.score([text], vecs[i : i + 1] if model.embedder_id else None)
        times.append((time.perf_counter() - start) * 1000)
    return round(float(np.median(times)), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("banking77", type=Path, help="folder with Banking77's test.csv")
    ap.add_argument("--heldout", type=Path, default=HELDOUT, help="typologies JSONL")
    args = ap.parse_args(argv)
    if not (args.banking77 / "test.csv").is_file():
        print(
            f"error: {args.banking77}/test.csv not found (Banking77's test split)", file=sys.stderr
        )
        return 2
    try:
        rows = [json.loads(line) for line in args.heldout.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.heldout}: {exc}", file=sys.stderr)
        return 2
    model = shipped()
    if model is None:
        print("error: this install has no shipped risk model", file=sys.stderr)
        return 2
    embedder = MiniLMEmbedder.from_settings(Settings())
    found = detectors(model, embedder.embed)
    out = {
        "benchmark": "risk",
        "score_ms_per_question": _score_ms(model, [r["text"] for r in rows], embedder.embed),
        "model": model.model_id,
        "threshold": round(model.threshold, 4),
        "banking77_test": {name: banking77_test(args.banking77, d) for name, d in found.items()},
        "typologies_heldout": {name: typologies(rows, d) for name, d in found.items()},
        "baseline": "rules@066d2d2",
        "machine": machine(),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
