"""Evaluation sets from what happened, and learning from reviewers, over HTTP
(evals/sets.py, evals/learn.py).

Reviewers and up read sets (masked questions, as the audit trail holds them; a reviewer of one
center gets that center's); operators and up retrain the detectors, which makes a draft profile
version. Askers get none of it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.evals import learn, sets
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.report import parse_since
from steward.runtime import Runtime
from steward.web.deps import allowed, runtime
from steward.web.errors import NOT_BLANK, responses

router = APIRouter(tags=["evaluation"])
ERRORS = responses(400, 401, 403, 404, 422)
reads = allowed(Permission.READ_PROFILES)
manages = allowed(Permission.MANAGE_PROFILES)
Period = Annotated[
    str,
    Field(min_length=2, max_length=8, pattern=r"^\d{1,4}[hdw]$", description="e.g. 24h, 7d, 12w."),
]
CenterId = Annotated[str, Field(min_length=1, max_length=64, pattern=rf"^{NOT_BLANK}")]


class SampleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: Period = "7d"
    n: int = Field(default=50, ge=1, le=sets.MAX_SAMPLE, description="How many to draw.")
    center: CenterId | None = Field(default=None, description="Only this center's questions.")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, description="Same seed, same draw.")


class SetOut(BaseModel):
    count: int
    questions: list[dict[str, Any]] = Field(
        description="Question lines in the Meridian format (docs/evaluation.md), masked."
    )


class LearnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: Period = "90d"


class LearnOut(BaseModel):
    version: int | None = Field(description="The new draft version; null if none retrained.")
    parent: int | None
    path: str | None = Field(description="Folder of the new models.")
    since_hours: float
    records: dict[str, int] = Field(description="Right verdicts and saved corrections used.")
    detectors: dict[str, dict[str, Any]] = Field(
        description="Each detector: retrained (with its figures) or skipped (with the reason)."
    )


@router.post("/v1/eval/sets/sample", response_model=SetOut, responses=ERRORS)
async def sample_set(
    body: SampleIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads)],
) -> SetOut:
    """A random sample of askers' masked questions, unlabelled, for a reviewer to label."""
    window = parse_since(body.since)
    rows = await run_in_threadpool(
        sets.sample, rt, who, window, body.n, center=body.center, seed=body.seed
    )
    return SetOut(count=len(rows), questions=rows)


@router.get("/v1/eval/sets/corrections", response_model=SetOut, responses=ERRORS)
async def corrections_set(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads)],
    since: Annotated[str, Query(min_length=2, max_length=8, pattern=r"^\d{1,4}[hdw]$")] = "30d",
    center: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> SetOut:
    """Reviewers' verdicts and saved corrections as masked questions (docs/evaluation.md)."""
    rows = await run_in_threadpool(sets.from_corrections, rt, who, parse_since(since), center)
    return SetOut(count=len(rows), questions=rows)


@router.post("/v1/learn", response_model=LearnOut, responses=ERRORS)
async def learn_now(
    body: LearnIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> LearnOut:
    """Retrain the learned detectors with reviewers' examples (operators and up); the new
    models become a draft profile version (``source: learn``) to publish and gate."""
    result = await run_in_threadpool(learn.learn, rt, who, parse_since(body.since))
    return LearnOut.model_validate(result)
