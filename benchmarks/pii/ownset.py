"""Span-level scores on the project's own message set (``messages.py``), per kind.

The same matching rule as ``synth``: same kind, overlap on at least half of the gold span, one to
one. Precision counts every prediction, of any kind, in messages with personal data and without;
a prediction of a kind the set does not label (SWIFT, DOB, IP) is a false masking.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.pii.synth import (
    PRESIDIO_TO_LABEL,
    Gold,
    Pred,
    Sample,
    Tally,
    evaluate,
    presidio_defaults,
    scores,
)

KINDS = (
    "CARD",
    "CVV",
    "EXPIRY",
    "SSN",
    "PASSPORT",
    "DRIVER_LICENSE",
    "IBAN",
    "ACCOUNT",
    "ROUTING",
    "SORT_CODE",
    "EMAIL",
    "PHONE",
    "NAME",
    "ADDRESS",
)
# Issue #16's targets: recall per kind, and precision over all predictions.
RECALL_TARGETS = {k: 0.99 for k in ("CARD", "CVV", "EXPIRY", "SSN", "IBAN", "ACCOUNT")} | {
    "EMAIL": 0.99,
    "PHONE": 0.99,
    "NAME": 0.9,
    "ADDRESS": 0.9,
}
PRECISION_TARGET = 0.9
# Presidio entity -> this set's kind, for the baseline.
PRESIDIO_TO_KIND = {
    "CREDIT_CARD": "CARD",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "US_SSN": "SSN",
    "US_PASSPORT": "PASSPORT",
    "US_DRIVER_LICENSE": "DRIVER_LICENSE",
    "US_BANK_NUMBER": "ACCOUNT",
    "UK_NHS": "other:UK_NHS",
    "PERSON": "NAME",
    "LOCATION": "ADDRESS",
}


def load(path: Path) -> list[Sample]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        Sample(row["text"], [Gold(e["kind"], e["start"], e["end"]) for e in row["entities"]])
        for row in rows
    ]


def steward_finder(masker: Any) -> Callable[[str], list[Pred]]:
    def find(text: str) -> list[Pred]:
        return [
            Pred(sp.kind if sp.kind in KINDS else "other:" + sp.kind, sp.start, sp.end)
            for sp in masker.find(text)
        ]

    return find


def presidio_finder() -> Callable[[str], list[Pred]]:
    inner = presidio_defaults()
    label_to_entity = {v: k for k, v in PRESIDIO_TO_LABEL.items()}

    def find(text: str) -> list[Pred]:
        out = []
        for p in inner(text):
            entity = label_to_entity.get(p.label, p.label.removeprefix("other:"))
            kind = PRESIDIO_TO_KIND.get(entity, "other:" + entity)
            out.append(Pred(kind, p.start, p.end))
        return out

    return find


def false_masking(samples: list[Sample], find: Callable[[str], Iterable[Pred]]) -> dict[str, Any]:
    clean = [s for s in samples if not s.gold]
    hit = [s for s in clean if list(find(s.text))]
    return {
        "messages": len(clean),
        "with_any_mask": len(hit),
        "rate": round(len(hit) / max(1, len(clean)), 4),
    }


def p50_ms(samples: list[Sample], find: Callable[[str], Iterable[Pred]]) -> float:
    times = []
    for s in samples:
        started = time.perf_counter()
        list(find(s.text))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def score(samples: list[Sample], find: Callable[[str], Iterable[Pred]]) -> dict[str, Any]:
    tally, ms = evaluate(samples, find)
    labels = [*KINDS, *sorted(k for k in tally.predicted if k.startswith("other:"))]
    s = scores(tally, labels)
    per = s["per_type"]
    return {
        "micro": s["micro"],
        "per_kind": {k: per[k] for k in labels if per[k]["gold"] or per[k]["predicted"]},
        "false_masking": false_masking(samples, find),
        "ms_per_message": round(ms, 3),
        "p50_ms": p50_ms(samples, find),
        "targets_missed": missed(tally, s),
    }


def missed(tally: Tally, s: dict[str, Any]) -> list[str]:
    out = []
    for kind, target in RECALL_TARGETS.items():
        r = s["per_type"][kind]["recall"] if kind in s["per_type"] else None
        if tally.gold[kind] and (r or 0) < target:
            out.append(f"{kind} recall {r} < {target}")
    p = s["micro"]["precision"]
    if (p or 0) < PRECISION_TARGET:
        out.append(f"precision {p} < {PRECISION_TARGET}")
    return out


def report(folder: Path, masker: Any, with_presidio: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "match_rule": "same kind, overlap >= 50% of the gold span, one-to-one",
        "generator": "benchmarks/pii/messages.py",
    }
    systems: dict[str, Callable[[str], list[Pred]]] = {"steward": steward_finder(masker)}
    if with_presidio:
        systems["presidio_defaults"] = presidio_finder()
    for half, name in (("dev", "messages.jsonl"), ("heldout", "messages-heldout.jsonl")):
        samples = load(folder / name)
        out[half] = {
            "messages": len(samples),
            "with_personal_data": sum(1 for s in samples if s.gold),
            **{sys: score(samples, find) for sys, find in systems.items()},
        }
    return out
