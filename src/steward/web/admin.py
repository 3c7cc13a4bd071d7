"""Operator endpoints (the audit trail) and re-identification from the vault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.audit import checkpoint
from steward.audit import view as audit_view
from steward.core import reasons
from steward.core.errors import NotFoundError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.pipeline import cache
from steward.runtime import Runtime
from steward.web.deps import allowed, principal, runtime
from steward.web.errors import responses

router = APIRouter(tags=["admin"])
reads_audit = allowed(Permission.READ_AUDIT)
verifies_audit = allowed(Permission.VERIFY_AUDIT)
sees_cache_stats = allowed(Permission.VIEW_CACHE_STATS)
OPERATOR_ERRORS = responses(400, 401, 403, 404, 422, 500)


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
    escalation_reason: str | None = Field(description=reasons.FIELD_DESCRIPTION)
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
    kind: str = Field(
        description="What happened: `question`, `ticket-claimed`, `access-denied`, ..."
    )
    target: str = Field(description="What it acted on (an id or a digest, never a raw value).")
    request_id: str | None = Field(description="The request's X-Request-ID.")
    payload: dict[str, Any] | None = Field(description="The event's masked details.")
    prev_hash: str
    hash: str
    withheld: list[str] = Field(
        default_factory=list,
        description="Cited documents the reader may not read: the answer text and their titles "
        "are replaced by a `[withheld: ...]` marker (the auditor grant shows them, audited).",
    )


class AuditSource(BaseModel):
    doc_id: str
    title: str | None
    chunk_id: int | None
    cited_version: str | None
    source_id: str | None
    current_version: str | None
    status: str


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(pattern=r"^<[A-Z_]+_\d+>$", description="A masking token, e.g. <CARD_3>.")


class RevealOut(BaseModel):
    token: str
    value: str
    audit_id: str


@router.get(
    "/v1/audit/{audit_id}/sources",
    response_model=list[AuditSource],
    responses=responses(401, 403, 404, 422, 500),
)
async def get_audit_sources(
    audit_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads_audit)],
) -> list[AuditSource]:
    """Which data sources produced this answer, and whether they changed since (operators;
    titles of documents the reader may not read are withheld)."""
    auditor = rt.authz.permits(who, Permission.AUDITOR)
    rows = await run_in_threadpool(
        lambda: audit_view.sources(rt.store, who, audit_id, auditor=auditor)
    )
    return [AuditSource.model_validate(r) for r in rows]


class CacheStatsOut(BaseModel):
    since: str
    requests: int
    hits: int
    semantic_hits: int
    misses: int
    hit_rate: float
    mean_ms_hit: float
    mean_ms_miss: float
    saved_ms: float
    entries: int


@router.get("/v1/cache/stats", response_model=CacheStatsOut, responses=OPERATOR_ERRORS)
async def cache_stats(
    rt: Annotated[Runtime, Depends(runtime)],
    _who: Annotated[Principal, Depends(sees_cache_stats)],
    hours: Annotated[float, Query(gt=0, le=24 * 366, description="Window, in hours.")] = 24.0,
) -> CacheStatsOut:
    """Answer-cache hit rate and the time it saved over the last ``hours``, across every
    replica (read from the audit trail), and the entries cached now."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    return CacheStatsOut.model_validate(await run_in_threadpool(cache.report, rt.store, since))


@router.post("/v1/reveal", response_model=RevealOut, responses=OPERATOR_ERRORS)
async def reveal(
    body: RevealRequest,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> RevealOut:
    """Re-identify a masked value: for the asker who gave it, or a user with the configured
    access. Every attempt is audited."""
    if rt.vault is None:
        raise NotFoundError("The vault is off: no raw values are kept (STEWARD_VAULT_KEY_FILE).")
    shown = await run_in_threadpool(rt.vault.reveal, body.token, who, "api")
    return RevealOut(token=shown.token, value=shown.value, audit_id=shown.audit_id)


class CheckpointOut(BaseModel):
    v: int
    seq: int = Field(description="The chain head's sequence number.")
    hash: str = Field(description="The chain head's hash.")
    rows: int
    ts: str
    anchor_seq: int
    key_id: str = Field(description="Names the Ed25519 key that signed it.")
    sig: str


@router.post("/v1/audit/checkpoint", response_model=CheckpointOut, responses=OPERATOR_ERRORS)
async def audit_checkpoint(
    rt: Annotated[Runtime, Depends(runtime)],
    _who: Annotated[Principal, Depends(verifies_audit)],
) -> CheckpointOut:
    """Sign the audit chain head now and append it to the checkpoint sink (operators)."""
    cp = await run_in_threadpool(checkpoint.write, rt.store, rt.settings)
    return CheckpointOut.model_validate(cp.__dict__)


@router.get(
    "/v1/audit/{audit_id}", response_model=AuditOut, responses=responses(401, 403, 404, 422, 500)
)
async def get_audit(
    audit_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads_audit)],
) -> AuditOut:
    """One audit record (operators and admins only): every field, but the answer text and
    cited titles only where the reader may read every cited document, or holds the auditor
    grant (audited as break-glass)."""
    auditor = rt.authz.permits(who, Permission.AUDITOR)
    row = await run_in_threadpool(
        lambda: audit_view.record(rt.store, who, audit_id, auditor=auditor)
    )
    return AuditOut.model_validate(row)
