"""Operator endpoints: the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from steward import audit
from steward.api.deps import operator, runtime
from steward.identity import Principal
from steward.runtime import Runtime

router = APIRouter(tags=["admin"])


class AuditOut(BaseModel):
    id: str
    seq: int
    ts: str
    channel: str
    user_id: str
    groups: list[str]
    center: str | None
    question: str
    action: str
    reason: str
    escalation_reason: str | None
    confidence: float
    answer: str
    citations: list[dict[str, Any]]
    retrieved: list[dict[str, Any]]
    provider: str
    model: str
    prompt_version: str
    kb_version: int
    settings: dict[str, Any]
    latency_ms: dict[str, float]
    prev_hash: str
    hash: str


@router.get("/v1/audit/{audit_id}", response_model=AuditOut)
async def get_audit(
    audit_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    _who: Annotated[Principal, Depends(operator)],
) -> AuditOut:
    """One audit record (operators and admins only)."""
    row = await run_in_threadpool(audit.get, rt.store, audit_id)
    return AuditOut.model_validate(audit.as_dict(row))
