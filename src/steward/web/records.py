"""Federated records over HTTP (sponsor/records.py, docs/records.md): a record as the caller
may see it, conflict tasks for their owners and records managers, resolving one, and the
figures a sponsor sees."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal
from steward.runtime import Runtime
from steward.web.deps import principal, runtime
from steward.web.errors import NOT_BLANK, responses

router = APIRouter(tags=["records"])
ERRORS = responses(400, 401, 403, 404, 409, 422, 500)


class CandidateOut(BaseModel):
    value: str = Field(description="Masked: a personal value is its token.")
    sources: list[str]
    labels: list[str]
    updated: str
    support: float = Field(description="Its share of the weight (authority x freshness).")
    confidence: float


class FieldOut(BaseModel):
    field: str
    value: str = Field(description="The winning value (masked).")
    confidence: float
    agreement: float
    sources: list[str]
    labels: list[str]
    stated_as_fact: bool = Field(description="At or above STEWARD_RECORDS_MIN_CONFIDENCE.")
    conflict: bool
    resolved: bool
    candidates: list[CandidateOut]
    statement: str = Field(description="The field as an answer shows it.")


class RecordOut(BaseModel):
    entity: str
    key: str = Field(description="The record's key, masked.")
    sources: list[str] = Field(description="The contributing sources the caller may read.")
    fields: list[FieldOut]


class TaskOut(BaseModel):
    id: str
    entity: str
    key: str
    field: str
    status: Literal["open", "resolved", "closed"]
    owners: list[str]
    sources: list[dict[str, Any]] = Field(
        description="Each source's label, value (null where the caller may not read it), "
        "update date and authority."
    )
    opened_at: str
    updated_at: str
    reopened: int
    resolved_by: str | None
    chosen_source: str | None
    note: str


class ResolveIn(BaseModel):
    """The source whose value is right, and/or a note (kept masked)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    source: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    note: str = Field(default="", max_length=2000)


class SummaryOut(BaseModel):
    entities: list[dict[str, Any]]
    sources: list[dict[str, Any]]


Name = Annotated[str, Path(min_length=1, max_length=64, pattern=NOT_BLANK)]
Key = Annotated[str, Path(min_length=1, max_length=200, pattern=NOT_BLANK)]
TaskId = Annotated[str, Path(min_length=1, max_length=40, pattern=NOT_BLANK)]


@router.get("/v1/records/conflicts", response_model=list[TaskOut], responses=ERRORS)
async def conflicts(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
    status: Annotated[Literal["open", "resolved", "closed", "all"], Query()] = "open",
) -> list[TaskOut]:
    """Conflict tasks: all for records managers, a data owner's own for them."""
    tasks = await run_in_threadpool(rt.records.conflicts, who, None if status == "all" else status)
    return [TaskOut.model_validate(t.as_dict()) for t in tasks]


@router.post("/v1/records/conflicts/{task_id}/resolve", response_model=TaskOut, responses=ERRORS)
async def resolve(
    task_id: TaskId,
    body: ResolveIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> TaskOut:
    """Resolve a conflict task (its owners, or records managers); audited."""

    def go() -> Any:
        return rt.records.resolve(who, task_id, source=body.source, note=body.note)

    return TaskOut.model_validate((await run_in_threadpool(go)).as_dict())


@router.get("/v1/records/summary", response_model=SummaryOut, responses=ERRORS)
async def summary(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> SummaryOut:
    """Counts and confidence figures per entity type and source (no key, no value)."""
    return SummaryOut.model_validate((await run_in_threadpool(rt.records.summary, who)).as_dict())


@router.get("/v1/records/{entity}/{key}", response_model=RecordOut, responses=ERRORS)
async def show(
    entity: Name,
    key: Key,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> RecordOut:
    """One record as the caller may see it: each field's value, confidence and sources."""
    view = await run_in_threadpool(rt.records.show, who, entity, key)
    return RecordOut.model_validate(view.as_dict(rt.records.tuning))
