"""Each item's verdicts, and the figures of a group of items (a source, a use case, the whole).

An item is **usable** when it is current (no document supersedes it), not a duplicate of a
kept item (exact or near), has an owner, a date and its own access list that some directory
user can read, has no chunk held as instruction-like text, and is not stale. Every figure is a
count, a share or a density: never a value or a piece of text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from steward.sponsor.readiness.scan import Corpus, Doc

USABLE = (
    "current (no document supersedes it)",
    "not an exact or near duplicate of a kept item",
    "has an owner",
    "has a date",
    "has its own access list, readable by at least one directory user",
    "no chunk held as instruction-like text (quarantine)",
    "not stale",
)


@dataclass
class Verdict:
    """What the audit found about one item."""

    duplicate: str | None = None  # exact | near
    no_owner: bool = False
    no_date: bool = False
    no_acl: bool = False  # none of its own (empty, or only its source's acl_default)
    unread: bool = False  # its access list names no group any directory user is in
    stale: bool = False
    contradicted: bool = False
    cited: int = 0  # answers in the window citing it while it is superseded
    cached: int = 0  # cached answers citing it while it is superseded
    outdated: int = 0  # answers in the window citing a version it no longer has
    unknown_groups: set[str] = field(default_factory=set)

    def usable(self, doc: Doc) -> bool:
        return (
            doc.current
            and self.duplicate is None
            and not (self.no_owner or self.no_date or self.no_acl or self.unread or self.stale)
            and doc.held == 0
        )


def verdicts(corpus: Corpus, today: date, stale_days: int) -> list[Verdict]:
    """Metadata, staleness and access-list verdicts of every item (duplicates, citations and
    contradictions are filled in by the audit)."""
    out = []
    directory = bool(corpus.readers)
    for doc in corpus.docs:
        v = Verdict()
        v.no_owner = doc.owner is None
        day = doc.day()
        v.no_date = day is None
        v.stale = day is not None and (today - day).days > stale_days
        acl = corpus.acls.get(doc.acl_set_id, frozenset())
        default = corpus.defaults.get(doc.source_id)
        v.no_acl = not acl or (default is not None and acl == default)
        if acl and corpus.groups:
            v.unknown_groups = set(acl - corpus.groups)
        if directory and acl and not v.no_acl:
            v.unread = not any(corpus.readers.get(g) for g in acl)
        out.append(v)
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def tally(docs: Sequence[Doc], verdicts: Sequence[Verdict], contradictions: int) -> dict[str, Any]:
    """The figures of a group of items."""
    n = len(docs)
    usable = sum(v.usable(d) for d, v in zip(docs, verdicts, strict=True))
    chars = sum(d.chars for d in docs)
    kinds: Counter[str] = Counter()
    for d in docs:
        kinds.update(d.pii)
    spans = sum(kinds.values())
    superseded = [v for d, v in zip(docs, verdicts, strict=True) if not d.current]
    covered = sum(1 for v in verdicts if not (v.no_acl or v.unread))
    unknown = sorted({g for v in verdicts for g in v.unknown_groups})
    return {
        "items": n,
        "usable": usable,
        "usable_share": _share(usable, n),
        "current": n - len(superseded),
        "superseded": len(superseded),
        "superseded_cited": sum(1 for v in superseded if v.cited or v.cached),
        "superseded_citations": sum(v.cited for v in superseded),
        "superseded_cached": sum(v.cached for v in superseded),
        "outdated_version_citations": sum(v.outdated for v in verdicts),
        "exact_duplicates": sum(v.duplicate == "exact" for v in verdicts),
        "near_duplicates": sum(v.duplicate == "near" for v in verdicts),
        "missing_owner": sum(v.no_owner for v in verdicts),
        "missing_date": sum(v.no_date for v in verdicts),
        "missing_acl": sum(v.no_acl for v in verdicts),
        "stale": sum(v.stale for v in verdicts),
        "contradictions": contradictions,
        "contradicted_items": sum(v.contradicted for v in verdicts),
        "injections": sum(1 for d in docs if d.held),
        "held_chunks": sum(d.held for d in docs),
        "chars": chars,
        "pii_spans": spans,
        "pii_per_1k_chars": round(spans * 1000 / chars, 3) if chars else 0.0,
        "pii_per_item": round(spans / n, 3) if n else 0.0,
        "pii_items": sum(1 for d in docs if d.pii),
        "pii_items_share": _share(sum(1 for d in docs if d.pii), n),
        "pii_kinds": dict(sorted(kinds.items())),
        "declared_personal_values": sum(d.subjects for d in docs),
        "subject_items": sum(1 for d in docs if d.record),
        "acl_coverage": _share(covered, n),
        "acl_unread": sum(v.unread for v in verdicts),
        "acl_unknown_groups": unknown[:50],
    }


# The figures a trend compares run to run (shares and counts; the change is new - old).
TREND = (
    "items",
    "usable",
    "usable_share",
    "superseded",
    "superseded_citations",
    "exact_duplicates",
    "near_duplicates",
    "missing_owner",
    "missing_date",
    "missing_acl",
    "stale",
    "contradictions",
    "injections",
    "pii_per_1k_chars",
    "pii_per_item",
    "acl_coverage",
)


def change(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, float | None]:
    """New minus old for the trend's figures (None where either run lacks it)."""
    out: dict[str, float | None] = {}
    for key in TREND:
        a, b = new.get(key), (old or {}).get(key)
        out[key] = (
            round(a - b, 4) if isinstance(a, int | float) and isinstance(b, int | float) else None
        )
    return out


def involved(pairs: Iterable[tuple[int, int]], members: set[int]) -> int:
    """How many pairs touch at least one of ``members``."""
    return sum(1 for a, b in pairs if a in members or b in members)
