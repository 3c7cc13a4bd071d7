"""Kill switches, overrides and alerts for operators (operations/switches.py, alerts.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.switches import Active, intent_labels
from steward.runtime import Runtime
from steward.web.deps import allowed, runtime
from steward.web.errors import NOT_BLANK, responses

router = APIRouter(tags=["switches and alerts"])
ERRORS = responses(400, 401, 403, 404, 409, 422, 500)
views_alerts = allowed(Permission.VIEW_ALERTS)
# Checked before the body is read: a caller without the grant is refused (and the refusal
# audited) whatever they sent; the service checks again (deny by default, every path).
manages = allowed(Permission.MANAGE_SWITCHES)


class SwitchOut(BaseModel):
    id: str
    kind: str
    center: str | None
    intent: str | None
    pattern: str | None
    value: dict[str, Any]
    reason: str = Field(description="Why it was set (masked).")
    actor: str
    created_at: str


Name = Annotated[
    str, Field(pattern=rf"^{NOT_BLANK}{{1,100}}$", description="A center or intent id.")
]
Reason = Annotated[
    str, Field(min_length=1, max_length=500, pattern=NOT_BLANK, description="Why (kept, masked).")
]
Pattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        json_schema_extra={"format": "regex"},
        description="Regular expression over the masked question (case-insensitive).",
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: Reason


class StopAnswersIn(_In):
    """Stop auto-answers: for everyone, or only a center and/or an intent."""

    kind: Literal["stop-answers"]
    center: Name | None = None
    intent: Name | None = None


class ForcePatternIn(_In):
    """Send questions matching a pattern to a person."""

    kind: Literal["force-escalation"]
    pattern: Pattern
    center: Name | None = None


class ForceIntentIn(_In):
    """Send questions of an intent to a person."""

    kind: Literal["force-escalation"]
    intent: Name
    center: Name | None = None


class PinAnswerIn(_In):
    """Answer questions matching a pattern with an approved answer."""

    kind: Literal["pin-answer"]
    pattern: Pattern
    answer: str = Field(min_length=1, max_length=4000, pattern=NOT_BLANK)
    cite: str | None = Field(default=None, max_length=300, description="A document id to cite.")
    center: Name | None = None


class ExcludeSourceIn(_In):
    kind: Literal["exclude-source"]
    source: str = Field(min_length=1, max_length=64, pattern=NOT_BLANK)


class ExcludeDocumentIn(_In):
    kind: Literal["exclude-document"]
    document: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


class FallbackIn(_In):
    kind: Literal["provider-fallback"]
    provider: str = Field(
        min_length=1,
        max_length=100,
        pattern=NOT_BLANK,
        description="A model of the providers file.",
    )


SwitchIn = Annotated[
    StopAnswersIn
    | ForcePatternIn
    | ForceIntentIn
    | PinAnswerIn
    | ExcludeSourceIn
    | ExcludeDocumentIn
    | FallbackIn,
    Body(description="The switch: its kind, whom it concerns, and what the kind needs."),
]
VALUE_FIELDS = ("answer", "cite", "source", "document", "provider")


class ClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


class AlertsOut(BaseModel):
    rules: list[dict[str, Any]] = Field(description="Each rule with its state, value and since.")
    events: list[dict[str, Any]] = Field(description="Latest firing/resolved events, newest first.")


def _out(a: Active) -> SwitchOut:
    return SwitchOut.model_validate(a.as_dict())


@router.get("/v1/switches", response_model=list[SwitchOut], responses=ERRORS)
async def list_switches(
    rt: Annotated[Runtime, Depends(runtime)],
    _who: Annotated[Principal, Depends(manages)],
) -> list[SwitchOut]:
    """The switches in force (operators)."""
    return [_out(a) for a in await run_in_threadpool(rt.switches.active)]


@router.post("/v1/switches", response_model=SwitchOut, status_code=201, responses=ERRORS)
async def set_switch(
    body: SwitchIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> SwitchOut:
    """Turn a switch on; it holds on every replica within STEWARD_SWITCH_REFRESH_S seconds."""

    fields = body.model_dump()
    value = {k: fields[k] for k in VALUE_FIELDS if fields.get(k) is not None}

    def go() -> Active:
        return rt.switches.set(
            who,
            body.kind,
            center=fields.get("center"),
            intent=fields.get("intent"),
            pattern=fields.get("pattern"),
            value=value,
            reason=body.reason,
            intents=intent_labels(rt) if fields.get("intent") is not None else None,
        )

    return _out(await run_in_threadpool(go))


@router.post("/v1/switches/{switch_id}/clear", response_model=SwitchOut, responses=ERRORS)
async def clear_switch(
    switch_id: str,
    body: ClearIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> SwitchOut:
    """Turn a switch off."""

    def go() -> Active:
        return rt.switches.clear(who, switch_id, reason=body.reason)

    return _out(await run_in_threadpool(go))


@router.get("/v1/alerts", response_model=AlertsOut, responses=ERRORS)
async def list_alerts(
    rt: Annotated[Runtime, Depends(runtime)],
    _who: Annotated[Principal, Depends(views_alerts)],
) -> AlertsOut:
    """Alert rules with their states, and the latest events (operators)."""
    return AlertsOut.model_validate(await run_in_threadpool(rt.alerts.overview))
