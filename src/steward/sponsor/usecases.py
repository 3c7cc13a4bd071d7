"""Use-case portfolio: rank candidate use cases on weighted criteria and explain each score.

A portfolio file (YAML, docs/usecases-roi.md) lists use cases, each scored 1-5 on the typed
criteria; the weights default to time to value 40%, measurable success 25%, low organisational
resistance 20%, data quality 15%. Data quality is **measured** where a use case names its
sources: the usable share of those sources' items in the latest readiness run
(:func:`steward.sponsor.readiness.quality_of`), mapped onto 1-5 as ``1 + 4 × share``. A use case
that names sources and also types a data quality is refused (a typed value would hide the
measurement); one without sources may type it, and the output marks it "typed, not measured".

>>> score(rt, who, Path("usecases.yaml"))["ranking"][0]["id"]  # doctest: +SKIP
'card-fees'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from steward.config.yamlfile import load_yaml
from steward.core.errors import InputError
from steward.identity.authz import Permission

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

Criterion = Literal["time_to_value", "measurable_success", "low_resistance", "data_quality"]
CRITERIA: dict[str, str] = {  # name -> label, in the default weights' order
    "time_to_value": "time to value",
    "measurable_success": "measurable success",
    "low_resistance": "low organisational resistance",
    "data_quality": "data quality",
}
DEFAULT_WEIGHTS: dict[Criterion, float] = {
    "time_to_value": 40.0,
    "measurable_success": 25.0,
    "low_resistance": 20.0,
    "data_quality": 15.0,
}
# Where a criterion's value came from.
TYPED = "typed"
MEASURED = "measured"
TYPED_NOT_MEASURED = "typed, not measured"
UNMEASURED = "not measured"
WHAT = "Use-case file"

Score = Field(ge=1, le=5, description="1 (worst) to 5 (best)")


class Scores(BaseModel):
    """The typed criteria of one use case (1-5)."""

    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)

    time_to_value: float = Score
    measurable_success: float = Score
    low_resistance: float = Score
    data_quality: float | None = Field(default=None, ge=1, le=5)


class UseCase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    scores: Scores
    sources: list[str] = Field(default_factory=list, max_length=100)


class Portfolio(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    weights: dict[Criterion, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    use_cases: list[UseCase] = Field(min_length=1, max_length=500)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError("weights are zero or more")
        if any(w > 1000 for w in value.values()):
            raise ValueError("weights are at most 1000 (they are normalised to sum to 1)")
        if not any(w > 0 for w in value.values()):
            raise ValueError("at least one weight must be more than zero")
        return value


def load(path: Path) -> Portfolio:
    """Read and check a portfolio file; a mistake is an InputError naming the file and key."""
    portfolio = load_yaml(path, Portfolio, what=WHAT, error=InputError)
    ids = [u.id for u in portfolio.use_cases]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InputError(f"{WHAT} {path}: use case ids must be unique; repeated: {twice}.")
    for u in portfolio.use_cases:
        if u.sources and u.scores.data_quality is not None:
            raise InputError(
                f"{WHAT} {path}: use case {u.id!r} names its sources, so its data quality is "
                "measured by the readiness audit: remove its typed scores.data_quality (or "
                "its sources, to type it instead)."
            )
    return portfolio


def weights_of(portfolio: Portfolio) -> dict[str, float]:
    """The file's weights normalised to sum to 1 (a criterion left out weighs 0)."""
    given: dict[str, float] = {str(c): w for c, w in portfolio.weights.items()}
    total = sum(given.values())
    return {c: given.get(c, 0.0) / total for c in CRITERIA}


def _quality(rt: Runtime, sources: Sequence[str]) -> float | None:
    from steward.sponsor.readiness import quality_of  # written beside this module (issue 22)

    return quality_of(rt, sources)


def _criteria(rt: Runtime, u: UseCase, weights: dict[str, float]) -> list[dict[str, Any]]:
    out = []
    for c, label in CRITERIA.items():
        value = getattr(u.scores, c)
        origin, share = TYPED, None
        if c == "data_quality":
            if u.sources:
                share = _quality(rt, u.sources)
                # No readiness run covers the sources: counted as the lowest score, so an
                # unmeasured use case never outranks a measured one on data it did not show.
                value, origin = (1.0, UNMEASURED) if share is None else (1 + 4 * share, MEASURED)
            elif value is None:
                value, origin = 1.0, UNMEASURED
            else:
                origin = TYPED_NOT_MEASURED
        w = weights[c]
        out.append(
            {
                "criterion": c,
                "label": label,
                "value": round(float(value), 3),
                "weight": round(w, 4),
                "contribution": round(float(value) * w, 4),
                "origin": origin,
                "usable_share": None if share is None else round(share, 4),
            }
        )
    return out


def _explain(rank: int, total: float, crit: list[dict[str, Any]], sources: list[str]) -> str:
    weighted = [c for c in crit if c["weight"] > 0]
    best = max(weighted, key=lambda c: (c["value"], c["weight"]))
    worst = min(weighted, key=lambda c: (c["value"], -c["weight"]))
    dq = next(c for c in crit if c["criterion"] == "data_quality")
    if dq["origin"] == MEASURED:
        quality = (
            f"data quality measured on {len(sources)} source(s): {dq['usable_share']:.0%} usable"
        )
    elif dq["origin"] == UNMEASURED and sources:
        quality = "data quality not measured yet (run the readiness audit): counted as 1"
    elif dq["origin"] == UNMEASURED:
        quality = "no data quality given: counted as 1"
    else:
        quality = "data quality typed, not measured"
    return (
        f"#{rank} at {total:.2f}/5: strongest on {best['label']} ({best['value']:g}), "
        f"weakest on {worst['label']} ({worst['value']:g}); {quality}."
    )


def _check_sources(rt: Runtime, portfolio: Portfolio) -> None:
    """A source id the store does not know is a typo, not a source without a readiness run:
    refused, so a use case is never scored "not measured" on data it could never show."""
    from steward.store.models import Source

    named = {sid for u in portfolio.use_cases for sid in u.sources}
    if not named:
        return
    with rt.store.read() as s:
        known = set(s.scalars(select(Source.id)))
    for u in portfolio.use_cases:
        unknown = [sid for sid in u.sources if sid not in known]
        if unknown:
            listed = ", ".join(sorted(known)[:20]) or "none yet (`steward ingest --config FILE`)"
            raise InputError(
                f"Use case {u.id!r} names source(s) {', '.join(map(repr, unknown))} that this "
                f"store does not have (its sources: {listed})."
            )


def rank(rt: Runtime, portfolio: Portfolio) -> dict[str, Any]:
    """The portfolio ranked: each use case's total (1-5), its criteria and a one-line why."""
    weights = weights_of(portfolio)
    _check_sources(rt, portfolio)
    rows = []
    for u in portfolio.use_cases:
        crit = _criteria(rt, u, weights)
        total = round(sum(c["contribution"] for c in crit), 4)
        rows.append((total, u, crit))
    # Highest first; ties keep the file's order (a stable sort).
    rows.sort(key=lambda r: -r[0])
    ranking = [
        {
            "rank": i,
            "id": u.id,
            "name": u.name or u.id,
            "score": total,
            "sources": u.sources,
            "criteria": crit,
            "explanation": _explain(i, total, crit, u.sources),
        }
        for i, (total, u, crit) in enumerate(rows, 1)
    ]
    return {
        "weights": {c: round(w, 4) for c, w in weights.items()},
        "weights_given": {str(c): w for c, w in portfolio.weights.items()},
        "scale": "each criterion 1 (worst) to 5 (best); the score is the weighted sum (1-5)",
        "ranking": ranking,
    }


def score(rt: Runtime, who: Principal, path: Path) -> dict[str, Any]:
    """Rank the use cases of ``path`` for ``who`` (permission ``view-sponsor``)."""
    rt.authz.authorize(who, Permission.VIEW_SPONSOR, "usecases")
    try:
        portfolio = load(path)
    except ValidationError as exc:  # load_yaml words these; this is a last guard
        raise InputError(f"{WHAT} {path}: {exc.errors()[0]['msg']}") from exc
    data = rank(rt, portfolio)
    data["file"] = str(path)
    return data
