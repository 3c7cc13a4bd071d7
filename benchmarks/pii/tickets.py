"""Masking of Meridian's support tickets: declared fields, and the free-text recognizers alone.

Labels are built here, independently of the masker's code, by these rules:

* declared occurrence: a ticket's declared value (customer_name, customer_email, phone,
  card_number, address) found in its own subject/transcript/resolution, as written (case and
  spacing ignored) or, for card and phone, as the same digit sequence with any separators or
  none (a phone also without its leading country code 1);
* declared part: a name part (each word of 3+ letters of the name), the street line of the
  address (before its first comma) and its ZIP code, found as whole words;
* other personal value, by rules that need no judgement: a telephone number in the corpus's
  fiction range 312-555-01xx (any format), an address at example.com, a Luhn-valid run of 13-19
  digits, and a calendar date at least 16 years before the ticket was created (a birth date: a
  ticket cannot be about an event that old).

A label is "gone" when every letter and digit in it lies inside a masked span. A masked span is
correct when at least half of its letters and digits lie inside labels.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.guard.pii import Masker, luhn_ok

DECLARED = {
    "customer_name": "NAME",
    "customer_email": "EMAIL",
    "phone": "PHONE",
    "card_number": "CARD",
    "address": "ADDRESS",
}
TEXT_FIELDS = ("subject", "transcript", "resolution")
FREE_TEXT_KINDS = ("CARD", "PHONE", "EMAIL")
_RUN = re.compile(r"\+?\(?\d(?:[\s.()/-]{0,3}\d)*")
_FICTION_PHONE = re.compile(r"(?<!\d)(?:\+?1[\s.-]?)?\(?312\)?[\s.-]?555[\s.-]?01\d\d(?!\d)")
_EXAMPLE_EMAIL = re.compile(r"[\w.+-]+@example\.com\b", re.IGNORECASE)
_MONTH = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?"
)
_OLD_DATE = re.compile(
    rf"\b{_MONTH}\s+(\d{{4}})\b|\b\d{{1,2}}/\d{{1,2}}/(\d{{4}})\b|\b(\d{{4}})-\d\d-\d\d\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Label:
    kind: str
    start: int
    end: int
    source: str  # declared | part | other


@dataclass
class Ticket:
    id: str
    year: int
    fields: list[str]
    declared: list[tuple[str, str]]


def load(corpus: Path) -> list[Ticket]:
    out = []
    for line in (corpus / "tickets.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        out.append(
            Ticket(
                row["id"],
                int(str(row["created"])[:4]),
                [str(row[f]) for f in TEXT_FIELDS if row.get(f)],
                [(kind, str(row[f])) for f, kind in DECLARED.items() if row.get(f)],
            )
        )
    return out


def _text_hits(text: str, value: str) -> Iterable[tuple[int, int]]:
    """Whole-word, case-insensitive occurrences of ``value``, any whitespace between words."""
    words = value.split()
    if not words:
        return []
    rx = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"
    return [(m.start(), m.end()) for m in re.finditer(rx, text, re.IGNORECASE)]


def _digit_hits(text: str, targets: Iterable[str]) -> Iterable[tuple[int, int]]:
    """Occurrences of digit sequences inside runs of digits and separators."""
    out = []
    for run in _RUN.finditer(text):
        positions = [run.start() + i for i, ch in enumerate(run.group()) if ch.isdigit()]
        digits = "".join(text[p] for p in positions)
        for target in targets:
            for m in re.finditer(f"(?={re.escape(target)})", digits):
                out.append((positions[m.start()], positions[m.start() + len(target) - 1] + 1))
    return out


def declared_labels(text: str, kind: str, value: str) -> list[Label]:
    if kind in ("CARD", "PHONE"):
        digits = re.sub(r"\D", "", value)
        targets = {digits}
        if kind == "PHONE" and len(digits) == 11 and digits.startswith("1"):
            targets.add(digits[1:])
        # A phone matches with and without its country code: one occurrence, the longer.
        found = [
            (a, b) for _, a, b in _distinct((kind, a, b) for a, b in _digit_hits(text, targets))
        ]
    else:
        found = list(_text_hits(text, value))
    labels = [Label(kind, a, b, "declared") for a, b in found]
    parts: list[str] = []
    if kind == "NAME":
        parts = [p for p in re.split(r"[\s-]+", value) if len(p) >= 3]
    elif kind == "ADDRESS":
        parts = [value.split(",")[0]] if "," in value else []
        parts += re.findall(r"\b\d{5}\b(?=\s*$)", value)
    for part in parts:
        labels += [Label(kind, a, b, "part") for a, b in _text_hits(text, part)]
    return labels


def other_labels(text: str, year: int) -> list[Label]:
    out = [Label("PHONE", m.start(), m.end(), "other") for m in _FICTION_PHONE.finditer(text)]
    out += [Label("EMAIL", m.start(), m.end(), "other") for m in _EXAMPLE_EMAIL.finditer(text)]
    for run in _RUN.finditer(text):
        digits = re.sub(r"\D", "", run.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            out.append(Label("CARD", run.start(), run.end(), "other"))
    for m in _OLD_DATE.finditer(text):
        born = int(next(g for g in m.groups() if g))
        if born <= year - 16:
            out.append(Label("DOB", m.start(), m.end(), "other"))
    return out


def _alnum(text: str, start: int, end: int) -> set[int]:
    return {i for i in range(start, end) if text[i].isalnum()}


def _covered(text: str, spans: Iterable[tuple[int, int]]) -> set[int]:
    out: set[int] = set()
    for a, b in spans:
        out |= _alnum(text, a, b)
    return out


@dataclass
class Counts:
    labels: Counter[str]
    gone: Counter[str]
    spans: Counter[str]  # masked spans by category: declared, part, other, unlabelled
    leaks: int = 0

    @classmethod
    def empty(cls) -> Counts:
        return cls(Counter(), Counter(), Counter())


def _declared_pass(masker: Masker, t: Ticket, texts: list[str], counts: Counts) -> None:
    for text in texts:
        labels = [lab for kind, v in t.declared for lab in declared_labels(text, kind, v)]
        labels += other_labels(text, t.year)
        spans = masker.find(text, t.declared)
        masked = _covered(text, [(s.start, s.end) for s in spans])
        for lab in labels:
            if lab.source == "other":
                continue
            key = f"{lab.source}:{lab.kind}"
            counts.labels[key] += 1
            counts.gone[key] += _alnum(text, lab.start, lab.end) <= masked
        for sp in spans:
            chars = _alnum(text, sp.start, sp.end)
            best = "unlabelled"
            for source in ("declared", "part", "other"):
                inside = _covered(text, [(b.start, b.end) for b in labels if b.source == source])
                if chars and 2 * len(chars & inside) >= len(chars):
                    best = source
                    break
            counts.spans[best] += 1
        counts.leaks += _leaks(masker.mask(text, t.declared).text, t.declared)


def _leaks(masked: str, declared: list[tuple[str, str]]) -> int:
    """Declared values still readable: as written, and card/phone as digits only."""
    flat = " ".join(masked.casefold().split())
    digits = re.sub(r"\D", "", re.sub(r"<[A-Z_]+_\d+>", " ", masked))
    n = 0
    for kind, value in declared:
        n += " ".join(value.casefold().split()) in flat
        if kind in ("CARD", "PHONE"):
            n += re.sub(r"\D", "", value) in digits
    return n


def _probe_lines(t: Ticket) -> list[str]:
    """The ticket's declared values rewritten the ways people type them, one per sentence."""
    values = dict(t.declared)
    lines = []
    if card := re.sub(r"\D", "", values.get("CARD", "")):
        groups = [card[i : i + 4] for i in range(0, len(card), 4)]
        lines += [f"Card on file: {card}.", f"My card is {'-'.join(groups)}."]
        lines.append(f"The card number {'.'.join(groups)} was read back.")
    if phone := re.sub(r"\D", "", values.get("PHONE", "")):
        local = phone[1:] if len(phone) == 11 and phone.startswith("1") else phone
        lines += [
            f"Call me back at ({local[:3]}) {local[3:6]}-{local[6:]} please.",
            f"My mobile is {local[:3]}.{local[3:6]}.{local[6:]}.",
            f"Text me on {local}.",
            f"Phone: +1 {local[:3]} {local[3:6]} {local[6:]}",
        ]
    if email := values.get("EMAIL"):
        lines.append(f"Reply to {email.upper()} when done.")
    if name := values.get("NAME"):
        parts = name.split()
        lines += [f"Thanks, {parts[0]}.", f"I spoke to {parts[-1].upper()}, {parts[0]} today."]
    if address := values.get("ADDRESS"):
        lines.append(f"Ship it to {address.split(',')[0].upper()} instead.")
    return lines


def _free_text_pass(
    masker: Masker, t: Ticket, texts: list[str], tally: Counter[str], kinds_seen: Counter[str]
) -> None:
    for text in texts:
        gold = _distinct(
            (
                (lab.kind, lab.start, lab.end)
                for kind, v in t.declared
                if kind in FREE_TEXT_KINDS
                for lab in declared_labels(text, kind, v)
                if lab.source == "declared"
            ),
            (
                (lab.kind, lab.start, lab.end)
                for lab in other_labels(text, t.year)
                if lab.kind in FREE_TEXT_KINDS
            ),
        )
        preds = masker.find(text)
        for sp in preds:
            kinds_seen[sp.kind] += 1
        preds = [sp for sp in preds if sp.kind in FREE_TEXT_KINDS]
        claimed: set[tuple[str, int, int]] = set()
        for sp in preds:
            hit = next(
                (
                    g
                    for g in sorted(gold)
                    if g not in claimed
                    and g[0] == sp.kind
                    and 2 * max(0, min(g[2], sp.end) - max(g[1], sp.start)) >= g[2] - g[1]
                ),
                None,
            )
            if hit is not None:
                claimed.add(hit)
        tally["gold"] += len(gold)
        tally["predicted"] += len(preds)
        tally["matched"] += len(claimed)


def _distinct(*groups: Iterable[tuple[str, int, int]]) -> set[tuple[str, int, int]]:
    """One gold span per value: where labels of one kind overlap, the longest stands."""
    kept: list[tuple[str, int, int]] = []
    for g in sorted({g for grp in groups for g in grp}, key=lambda g: g[1] - g[2]):
        if not any(k[0] == g[0] and k[1] < g[2] and g[1] < k[2] for k in kept):
            kept.append(g)
    return set(kept)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _declared_summary(c: Counts) -> dict[str, Any]:
    def recall(source: str) -> float | None:
        keys = [k for k in c.labels if k.startswith(source + ":")]
        return _ratio(sum(c.gone[k] for k in keys), sum(c.labels[k] for k in keys))

    total = sum(c.spans.values())
    return {
        "recall": recall("declared"),
        "parts_recall": recall("part"),
        "labels": {k: [c.gone[k], c.labels[k]] for k in sorted(c.labels)},
        "precision": _ratio(total - c.spans["unlabelled"], total),
        "masked_spans": dict(sorted(c.spans.items())),
        "leaks_after_masking": c.leaks,
    }


def _free_summary(tally: Counter[str], kinds: Counter[str]) -> dict[str, Any]:
    return {
        "gold": tally["gold"],
        "predicted": tally["predicted"],
        "recall": _ratio(tally["matched"], tally["gold"]),
        "precision": _ratio(tally["matched"], tally["predicted"]),
        "all_kinds_predicted": dict(sorted(kinds.items())),
    }


def report(corpus: Path, masker: Masker) -> dict[str, Any]:
    tickets = load(corpus)
    declared, probe = Counts.empty(), Counts.empty()
    free: Counter[str] = Counter()
    free_probe: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    probe_kinds: Counter[str] = Counter()
    for t in tickets:
        _declared_pass(masker, t, t.fields, declared)
        _free_text_pass(masker, t, t.fields, free, kinds)
        lines = ["\n".join(_probe_lines(t))]
        _declared_pass(masker, t, lines, probe)
        _free_text_pass(masker, t, lines, free_probe, probe_kinds)
    return {
        "tickets": len(tickets),
        "label_rules": "declared: the ticket's own field values as written, card/phone as the "
        "same digits with any separators (phone also without +1); parts: name words, street "
        "line, ZIP; other personal: 312-555-01xx phones, @example.com addresses, Luhn-valid "
        "13-19 digit runs, dates 16+ years before the ticket; gone = every letter/digit inside "
        "a masked span; a masked span is correct if half its letters/digits are labelled",
        "declared": _declared_summary(declared),
        "free_text": {"kinds": list(FREE_TEXT_KINDS), **_free_summary(free, kinds)},
        "format_probe": {
            "note": "each ticket's declared values rewritten (digits only, other separators, "
            "no country code, upper case, surname first) in generated sentences",
            "declared": _declared_summary(probe),
            "free_text": _free_summary(free_probe, probe_kinds),
        },
    }


def policy_false_positives(
    corpus: Path, masker: Masker, allow: list[re.Pattern[str]]
) -> dict[str, Any]:
    """Spans the recognizers mask in the policy documents and FAQ, with the corpus's published
    contact points allow-listed: these texts hold no customer's data, so each span is a false
    positive (an amount, a time, a code or a date made unreadable)."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((corpus / "docs").glob("*.md"))]
    texts.append((corpus / "faq.csv").read_text(encoding="utf-8"))
    kinds: Counter[str] = Counter()
    for text in texts:
        # As ingestion masks documents and FAQ: without the names model (knowledge/pipeline.py).
        for sp in masker.find(text, allow=allow, names_by_model=False):
            kinds[sp.kind] += 1
    return {"texts": len(texts), "spans_masked": sum(kinds.values()), "by_kind": dict(kinds)}
