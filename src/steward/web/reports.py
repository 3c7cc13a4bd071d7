"""The six metrics (operators), askers' feedback on their answers, and the quality-review queue
(reviewers of the answer's center; operators every center)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from steward.audit.view import review_item
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.report import SINCE_PATTERN, parse_since, report
from steward.operations.review import MAX_LIST, NOTE_CHARS, ReviewView
from steward.runtime import Runtime
from steward.web.deps import allowed, principal, runtime
from steward.web.errors import NOT_BLANK, responses

router = APIRouter(tags=["operations"])
ERRORS = responses(400, 401, 403, 404, 422, 500)
STATEFUL = responses(400, 401, 403, 404, 409, 422, 500)  # review actions
ReviewStatus = Literal["open", "claimed", "reviewed"]  # operations/review.py STATUSES


class Target(BaseModel):
    target: float
    comparison: Literal[">=", "<="]


class ReportOut(BaseModel):
    """The figures of one center (or all) over a period; null where there is no data."""

    center: str | None
    since: str
    until: str
    questions: int
    resolution_rate: float | None
    escalation_rate: float | None
    answer_precision: float | None
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    cost_per_resolved: float | None
    satisfaction: float | None
    deflection: float | None
    active_askers_7d: int | None
    active_askers_30d: int | None
    active_askers_90d: int | None
    returning_askers: int | None
    counts: dict[str, int | float]
    targets: dict[str, Target]
    status: dict[str, Literal["green", "amber", "red"] | None]


def _whole(value: object) -> object:
    """JSON Schema counts 4.0 as an integer: take it as 4 (a bool stays refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Feedback says something: a thumb, a rating or a comment that is not blank. In the schema as
# well as in the code, so that a client reading the OpenAPI document knows it.
_SAYS_SOMETHING: dict[str, Any] = {
    "anyOf": [
        {"required": ["thumb"], "properties": {"thumb": {"enum": ["up", "down"]}}},
        {"required": ["rating"], "properties": {"rating": {"type": "integer"}}},
        {"required": ["comment"], "properties": {"comment": {"pattern": NOT_BLANK}}},
    ]
}


class FeedbackIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # a JSON true is not a 1
        json_schema_extra=_SAYS_SOMETHING,
    )
    audit_id: str = Field(min_length=1, max_length=64)
    thumb: Literal["up", "down"] | None = None
    rating: Annotated[int, Field(ge=1, le=5), BeforeValidator(_whole)] | None = None
    comment: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackIn:
        if self.thumb is None and self.rating is None and not re.search(NOT_BLANK, self.comment):
            raise ValueError("Give a thumb, a rating or a comment.")
        return self


class FeedbackOut(BaseModel):
    id: str
    audit_id: str
    thumb: Literal["up", "down"] | None
    rating: int | None
    comment: str
    created_at: datetime


class ReviewOut(BaseModel):
    id: str
    audit_id: str
    conversation_id: str | None
    user_id: str
    center: str | None
    flags: list[str]
    status: str
    assignee: str | None
    verdict: str | None
    note: str
    created_at: str
    reviewed_at: str | None
    question: str
    answer: str
    confidence: float | None
    citations: list[dict[str, Any]]


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    verdict: Literal["right", "wrong"]
    note: str = Field(default="", max_length=NOTE_CHARS)


THUMBS = {"up": 1, "down": -1}


@router.get("/v1/report", response_model=ReportOut, responses=ERRORS)
async def get_report(
    rt: Annotated[Runtime, Depends(runtime)],
    _who: Annotated[Principal, Depends(allowed(Permission.VIEW_REPORTS))],
    center: Annotated[
        str | None, Query(max_length=64, description="One center (default: all).")
    ] = None,
    since: Annotated[
        str,
        Query(pattern=SINCE_PATTERN, description="The period before now: 24h, 7d, 30d, 12w."),
    ] = "30d",
) -> ReportOut:
    """The six metrics, adoption and deflection, with their targets and status (operators)."""
    period = parse_since(since)
    data = await run_in_threadpool(lambda: report(rt, center=center, since=period))
    return ReportOut.model_validate(data)


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=201, responses=ERRORS)
async def give_feedback(
    body: FeedbackIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> FeedbackOut:
    """Your feedback on one of your answers (thumbs, a 1-5 rating, a comment that is masked
    before it is kept). Giving it again replaces it. Another asker's answer is a 404."""
    thumb = THUMBS.get(body.thumb) if body.thumb else None
    fb = await run_in_threadpool(
        lambda: rt.feedback.give(
            who, body.audit_id, thumb=thumb, rating=body.rating, comment=body.comment
        )
    )
    return FeedbackOut(
        id=fb.id,
        audit_id=fb.audit_id,
        thumb="up" if fb.thumb == 1 else "down" if fb.thumb == -1 else None,
        rating=fb.rating,
        comment=fb.comment,
        created_at=fb.created_at,
    )


@router.get("/v1/review", response_model=list[ReviewOut], responses=ERRORS)
async def list_review(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
    status: Annotated[ReviewStatus | None, Query(description="Only items in this state.")] = None,
    center: Annotated[
        str | None, Query(max_length=64, description="One center (operators).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="The most items to list.")] = 50,
) -> list[ReviewOut]:
    """Answers quality monitoring flagged, in your queue (reviewers: your center)."""
    rows = await run_in_threadpool(rt.review.list, who, status, center, limit)
    return await run_in_threadpool(_shown, rt, who, rows)


def _shown(rt: Runtime, who: Principal, rows: list[ReviewView]) -> list[ReviewOut]:
    """Review items as ``who`` may see them (the answer and titles of documents they may
    not read withheld, exactly as the console's review page)."""
    return [ReviewOut.model_validate(review_item(rt.store, who, v.as_dict())) for v in rows]


@router.post("/v1/review/{item_id}/claim", response_model=ReviewOut, responses=STATEFUL)
async def claim_review(
    item_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> ReviewOut:
    view = await run_in_threadpool(rt.review.claim, who, item_id)
    return (await run_in_threadpool(_shown, rt, who, [view]))[0]


@router.post("/v1/review/{item_id}/verdict", response_model=ReviewOut, responses=STATEFUL)
async def review_verdict(
    item_id: str,
    body: VerdictIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> ReviewOut:
    """Mark the answer right or wrong; answer precision counts the verdicts."""
    view = await run_in_threadpool(rt.review.verdict, who, item_id, body.verdict, body.note)
    return (await run_in_threadpool(_shown, rt, who, [view]))[0]
