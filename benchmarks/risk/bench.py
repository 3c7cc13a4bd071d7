"""Fraud-report detection (the `fraud` escalation signal) on Banking77.

    python -m benchmarks.risk.bench ../shared/data/banking77

Banking77 labels four intents that are a customer reporting money or a card they did not
control: card_payment_not_recognised, cash_withdrawal_not_recognised, compromised_card and
direct_debit_payment_not_recognised. Recall is the share of those texts that raise the `fraud`
signal; the false-positive rate is the share of the other 73 intents' texts that do (and
``others_with_any_signal`` the share that raise any escalation signal at all). The
patterns were written against the train split; the test split is the figure to quote. Baseline,
same run: a keyword rule (fraud, unauthorised, recognise, stolen, hacked).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import machine
from steward.pipeline.understand import risk_signals

FRAUD_INTENTS = frozenset(
    {
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "compromised_card",
        "direct_debit_payment_not_recognised",
    }
)
_KEYWORDS = re.compile(r"fraud|unauthori[sz]ed|recogni[sz]e|stolen|hacked", re.IGNORECASE)


def steward_rule(text: str) -> bool:
    return any(s.reason == "fraud" for s in risk_signals(text))


def keyword_rule(text: str) -> bool:
    return bool(_KEYWORDS.search(text))


def any_signal(text: str) -> bool:
    return bool(risk_signals(text))


def score(
    rows: list[dict[str, str]], rule: Callable[[str], bool], with_any: bool = False
) -> dict[str, float | int]:
    pos = [r["text"] for r in rows if r["category"] in FRAUD_INTENTS]
    neg = [r["text"] for r in rows if r["category"] not in FRAUD_INTENTS]
    tp = sum(rule(t) for t in pos)
    fp = sum(rule(t) for t in neg)
    out: dict[str, float | int] = {
        "recall": round(tp / len(pos), 4),
        "false_positive_rate": round(fp / len(neg), 4),
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "reports": len(pos),
        "others": len(neg),
    }
    if with_any:  # ordinary questions that any escalation signal would hand to a person
        out["others_with_any_signal"] = round(sum(any_signal(t) for t in neg) / len(neg), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("banking77", type=Path, help="folder with train.csv and test.csv")
    args = ap.parse_args(argv)
    splits = {}
    for split in ("test", "train"):
        path = args.banking77 / f"{split}.csv"
        if not path.is_file():
            print(f"error: {path} not found (expected Banking77's {split}.csv)", file=sys.stderr)
            return 2
        with path.open(newline="") as fh:
            splits[split] = list(csv.DictReader(fh))
    row = {
        "benchmark": "fraud-signal",
        "figures": {s: score(rows, steward_rule, with_any=True) for s, rows in splits.items()},
        "baseline": {
            "name": "keywords",
            **{s: score(rows, keyword_rule) for s, rows in splits.items()},
        },
        "note": "patterns written against train; quote test",
        "machine": machine(),
    }
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
