"""POST /v1/ask: a governed, cited answer for the authenticated asker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.api.deps import principal, runtime
from steward.identity import Principal
from steward.orchestrator import ask
from steward.runtime import Runtime

router = APIRouter(tags=["ask"])


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question, in plain text.", max_length=100_000)


class CitationOut(BaseModel):
    doc_id: str
    chunk_id: int
    title: str
    version: str


class AskResponse(BaseModel):
    action: str = Field(description="answer | abstain | escalate | refuse")
    answer: str
    citations: list[CitationOut]
    confidence: float
    escalation_reason: str | None
    reason: str
    audit_id: str
    latency_ms: float


@router.post("/v1/ask", response_model=AskResponse)
async def ask_endpoint(
    body: AskRequest,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> AskResponse:
    """Answer from what the asker may read, with citations; every call writes an audit row."""
    r = await run_in_threadpool(ask, rt, who, body.question, "api")
    return AskResponse.model_validate(r.as_dict())
