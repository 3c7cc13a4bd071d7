"""How one field of a federated record is merged: the confidence formula, the winner, the
conflict test, and the words an answer uses for it (docs/records.md).

Each source's value of a field is a piece of :class:`Evidence` with a weight::

    freshness  f = 0.5 ** (age_days / half_life_days)
    weight     w = authority * f

and each distinct value ``v`` (values compared by a keyed digest of their normalised form) gets::

    support(v)       = sum(w of the sources saying v) / sum(w of every source)
    corroboration(v) = 1 - prod(1 - w of the sources saying v)
    confidence(v)    = support(v) * corroboration(v)

The value with the highest confidence wins (ties: the fresher, then the more authoritative).
Agreement raises confidence twice: a second source saying the same thing adds to both
factors. Sources disagree (a conflict) when the losing values hold at least ``conflict_share``
of the weight. An owner's resolution counts as one more source of authority 1, updated when
it was made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

OWNER = "data owner"  # the label of a resolution's evidence


@dataclass(frozen=True)
class Tuning:
    """The settings of the formula (``settings.sponsor.records_*``)."""

    half_life_days: float = 180.0
    min_confidence: float = 0.6
    conflict_share: float = 0.2


@dataclass(frozen=True)
class Evidence:
    """One source's value of one field: masked, with the keyed digest it is compared by."""

    source_id: str
    label: str
    value: str
    value_key: str
    updated: datetime
    authority: float

    def weight(self, now: datetime, half_life_days: float) -> float:
        return self.authority * freshness(self.updated, now, half_life_days)


@dataclass(frozen=True)
class Candidate:
    """One distinct value and the sources saying it."""

    value: str
    value_key: str
    labels: tuple[str, ...]
    source_ids: tuple[str, ...]
    updated: datetime  # the freshest of its sources
    support: float
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "sources": list(self.source_ids),
            "labels": list(self.labels),
            "updated": self.updated.date().isoformat(),
            "support": self.support,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class FieldView:
    """A field as merged from some set of sources (all of them, or those a reader may read)."""

    field: str
    winner: Candidate
    candidates: tuple[Candidate, ...] = ()
    conflict: bool = False
    resolved: bool = False  # an owner's choice is part of the evidence

    @property
    def value(self) -> str:
        return self.winner.value

    @property
    def confidence(self) -> float:
        return self.winner.confidence

    def stated(self, tuning: Tuning) -> bool:
        """May an answer state the value as fact?"""
        return self.confidence >= tuning.min_confidence

    def statement(self, tuning: Tuning) -> str:
        """The field as an answer shows it: the value with its confidence and sources, or,
        below the threshold, what each source says (never one value as fact)."""
        if self.stated(tuning):
            return (
                f"{self.field}: {self.value} (confidence {self.confidence:.2f}; "
                f"{', '.join(self.winner.labels)})"
            )
        said = "; ".join(
            f"{', '.join(c.labels)} says {c.value} (updated {c.updated.date().isoformat()})"
            for c in self.candidates
        )
        opening = "our records disagree" if len(self.candidates) > 1 else "not confirmed"
        return f"{self.field}: {opening} (confidence {self.confidence:.2f}): {said}"

    def as_dict(self, tuning: Tuning) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "confidence": self.confidence,
            "agreement": self.winner.support,
            "sources": list(self.winner.source_ids),
            "labels": list(self.winner.labels),
            "stated_as_fact": self.stated(tuning),
            "conflict": self.conflict,
            "resolved": self.resolved,
            "candidates": [c.as_dict() for c in self.candidates],
            "statement": self.statement(tuning),
        }


def freshness(updated: datetime, now: datetime, half_life_days: float) -> float:
    """0.5 ** (age in days / half-life): 1 for a value updated now; a future date counts as now."""
    when = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
    age = max(0.0, (now - when).total_seconds() / 86_400)
    return float(0.5 ** (age / half_life_days))


def merge_field(
    name: str,
    evidence: Sequence[Evidence],
    tuning: Tuning,
    now: datetime,
    resolution: Evidence | None = None,
) -> FieldView:
    """Merge the evidence of one field (at least one piece). ``resolution`` (an owner's choice)
    counts only where a source in ``evidence`` still says that value."""
    if not evidence:
        raise ValueError("a field needs at least one source's value")
    conflict = _dissent(evidence, tuning, now) >= tuning.conflict_share
    resolved = resolution is not None and any(e.value_key == resolution.value_key for e in evidence)
    pool = [*evidence, resolution] if resolved and resolution is not None else list(evidence)
    candidates = _candidates(pool, tuning, now)
    return FieldView(name, candidates[0], tuple(candidates), conflict, resolved)


def _candidates(pool: Sequence[Evidence], tuning: Tuning, now: datetime) -> list[Candidate]:
    weights = [e.weight(now, tuning.half_life_days) for e in pool]
    total = sum(weights)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(pool):
        groups.setdefault(e.value_key, []).append(i)
    out = []
    for key, members in groups.items():
        # Zero total weight (authority 0 everywhere): shares by count, and no corroboration.
        support = (
            sum(weights[i] for i in members) / total if total > 0 else len(members) / len(pool)
        )
        corroboration = 1.0 - math.prod(1.0 - weights[i] for i in members)
        # An owner's choice carries no text of its own: a source's words are shown.
        ordered = sorted(members, key=lambda i: (not pool[i].value, -weights[i], pool[i].source_id))
        out.append(
            Candidate(
                value=pool[ordered[0]].value,
                value_key=key,
                labels=tuple(dict.fromkeys(pool[i].label for i in ordered)),
                source_ids=tuple(dict.fromkeys(pool[i].source_id for i in ordered)),
                updated=max(aware(pool[i].updated) for i in members),
                support=round(support, 3),
                confidence=round(support * corroboration, 3),
            )
        )
    authority = {key: max(pool[i].authority for i in m) for key, m in groups.items()}
    out.sort(key=lambda c: (-c.confidence, -c.updated.timestamp(), -authority[c.value_key]))
    return out


def _dissent(evidence: Sequence[Evidence], tuning: Tuning, now: datetime) -> float:
    """The share of the weight held by values other than the best supported one (0 when every
    source agrees); an owner's choice does not make sources agree."""
    if len({e.value_key for e in evidence}) < 2:
        return 0.0
    best = _candidates(evidence, tuning, now)[0]
    return round(1.0 - best.support, 3)


def aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_updated(text: str | None) -> datetime | None:
    """A record's update date (ISO date or date-time), or None when it has none or it is not
    a date (then the time the item was stored counts)."""
    if not text:
        return None
    try:
        return aware(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(text.strip()[:10]), datetime.min.time(), UTC)
        except ValueError:
            return None
