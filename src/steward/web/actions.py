"""Actions over HTTP (actions/service.py): the tools in force, proposing a call, the asker's
confirmation, a reviewer's approval or rejection, listing and reading actions, resuming
interrupted calls, and the public key systems verify the asker assertion with.

Every route is role-checked twice: here, before the body is read (an asker may use tools,
a reviewer approves, an operator resumes), and again in the service, which also decides what
one may see (one's own actions; a reviewer's center's; every action for operators).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from steward.actions.registry import MAX_ARGUMENT_BYTES, NAME
from steward.actions.service import MAX_LIST, STATUSES, ActionView
from steward.core.errors import InputError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.web.deps import allowed, runtime
from steward.web.errors import NOT_BLANK, responses
from steward.web.placeholders import shown_to

router = APIRouter(tags=["actions"])
ERRORS = responses(400, 401, 403, 404, 409, 413, 422)  # a change, with a body
READS = responses(400, 401, 403, 404, 422)
uses = allowed(Permission.USE_TOOLS)
approves = allowed(Permission.APPROVE_ACTIONS)
manages = allowed(Permission.MANAGE_ACTIONS)

ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"  # Crockford base32, 128 bits
ActionId = Annotated[
    str,
    Path(
        min_length=26,
        max_length=26,
        pattern=ULID_PATTERN,
        description="An action's id (a ULID).",
    ),
]
CallHash = Annotated[
    str,
    Field(
        min_length=64,
        max_length=64,
        pattern=r"^[0-9a-f]{64}$",
        description="The action's `call_hash`: what is confirmed or approved is exactly this "
        "tool with exactly these arguments.",
    ),
]
Status = Literal[
    "awaiting-confirmation",
    "awaiting-approval",
    "ready",
    "executing",
    "executed",
    "failed",
    "compensated",
    "denied",
    "rejected",
    "expired",
]
assert set(get_args(Status)) == set(STATUSES)

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
_IDEMPOTENCY = re.compile(IDEMPOTENCY_PATTERN)
MAX_ARGUMENT_KEYS = 64


class ProposeIn(BaseModel):
    """One tool call, proposed for the caller (docs/actions.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    tool: str = Field(min_length=1, max_length=64, pattern=NAME, description="A tool's name.")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        max_length=MAX_ARGUMENT_KEYS,
        description=f"The tool's arguments, checked against its JSON Schema (at most "
        f"{MAX_ARGUMENT_BYTES:,} bytes as JSON).",
    )
    conversation_id: str | None = Field(
        default=None,
        min_length=26,
        max_length=26,
        pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$",
        description="The conversation the call comes from (needed when `source` is "
        "`assistant`: every argument must be in the asker's own messages).",
    )
    source: Literal["asker", "assistant"] = Field(
        default="asker", description="Who put the call together: the asker, or the assistant."
    )

    @field_validator("arguments")
    @classmethod
    def _size(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_ARGUMENT_BYTES:
            raise ValueError(f"at most {MAX_ARGUMENT_BYTES:,} bytes as JSON")
        return value


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    call_hash: CallHash


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    call_hash: CallHash
    note: str = Field(default="", max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


class ToolOut(BaseModel):
    name: str
    description: str
    risk: str = Field(description="read, low or high.")
    arguments: dict[str, Any] = Field(description="JSON Schema of the arguments.")
    executor: str = Field(description="http or python.")
    system: str | None = Field(description="The system an HTTP tool calls.")
    dry_run: bool
    compensate: bool
    retry: str = Field(description="safe or never.")
    timeout_s: float
    dual_control: bool = Field(description="Two distinct approvers when approval is needed.")
    modes: dict[str, str] = Field(
        description="Center (`*`: any other) -> auto, confirm or propose."
    )


class ToolsOut(BaseModel):
    tools: list[ToolOut]


class ApprovalOut(BaseModel):
    approver: str | None = Field(default=None, description="Not shown to customers.")
    verdict: str = Field(description="approve or reject.")
    call_hash: str | None = Field(default=None, description="Not shown to customers.")
    note: str | None = Field(default=None, description="Masked; not shown to customers.")
    at: str


class ActionOut(BaseModel):
    id: str
    tool: str
    status: Status
    risk: str
    mode: str = Field(description="auto, confirm or propose.")
    approvals_needed: int
    approvals: list[ApprovalOut]
    requested_by: str
    subject: str | None = Field(description="The customer acted on.")
    center: str | None
    source: str
    conversation_id: str | None
    call_hash: str
    arguments: dict[str, Any] = Field(description="Masked.")
    summary: str = Field(description="What will happen (the asker's own values for the asker).")
    rule: str = Field(description="The rule that decided the latest step.")
    decision: dict[str, Any]
    result: dict[str, Any] | None = Field(description="Masked.")
    attempts: int
    created_at: str
    updated_at: str
    expires_at: str | None
    executed_at: str | None
    replayed: bool = Field(description="The Idempotency-Key was used before: the first action.")


class ActionsOut(BaseModel):
    actions: list[ActionOut]


class ResumeOut(BaseModel):
    ran: int
    retried: int
    handed_to_person: int
    compensated: int


class JwkOut(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JwksOut(BaseModel):
    keys: list[JwkOut]


def _shown(who: Principal, value: Any) -> Any:
    if isinstance(value, str):
        return shown_to(who, value)
    if isinstance(value, dict):
        return {k: _shown(who, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(who, v) for v in value]
    return value


def _out(who: Principal, view: ActionView) -> ActionOut:
    # A customer sees a masked value's kind, never its number (web/placeholders.py).
    return ActionOut.model_validate(_shown(who, view.as_dict()))


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, checked here so a bad one is a 400 in our error shape."""
    sent = request.headers.get(IDEMPOTENCY_HEADER)
    if sent is None:
        return None
    if not _IDEMPOTENCY.fullmatch(sent):
        raise InputError(
            f"{IDEMPOTENCY_HEADER} must be 1 to 128 characters of A-Z, a-z, 0-9 and _ . : - "
            "(one per call you mean; send the same one again to retry it)."
        )
    return sent


REPLAYED = "The Idempotency-Key was used before by you: the action it made, unchanged."
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": False,
            "description": "Your key for this call: the same key again from you returns the "
            "first action (200) instead of proposing a second one.",
            "schema": {
                "type": "string",
                "pattern": IDEMPOTENCY_PATTERN,
                "minLength": 1,
                "maxLength": 128,
            },
        }
    ]
}


@router.get("/v1/tools", response_model=ToolsOut, responses=responses(401, 403, 500))
async def list_tools(
    rt: Annotated[Runtime, Depends(runtime)], who: Annotated[Principal, Depends(uses)]
) -> ToolsOut:
    """The tools in force, with their modes per center."""
    tools = await run_in_threadpool(rt.actions.tools, who)
    return ToolsOut.model_validate({"tools": tools})


@router.post(
    "/v1/actions",
    response_model=ActionOut,
    status_code=201,
    responses={**ERRORS, 200: {"model": ActionOut, "description": REPLAYED}},
    openapi_extra=IDEMPOTENCY_DOC,
)
async def propose_action(
    body: ProposeIn,
    response: Response,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(uses)],
    key: Annotated[str | None, Depends(idempotency_key)],
) -> ActionOut:
    """Propose one tool call for yourself; the policy decides whether it runs now, waits for
    your confirmation, or waits for approval (201). The same Idempotency-Key again: 200."""

    def go() -> ActionView:
        return rt.actions.propose(
            who, body.tool, body.arguments, conversation_id=body.conversation_id,
            source=body.source, client_key=key, channel="api",
        )  # fmt: skip

    view = await run_in_threadpool(go)
    if view.replayed:
        response.status_code = 200
    return _out(who, view)


@router.get("/v1/actions", response_model=ActionsOut, responses=READS)
async def list_actions(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(uses)],
    status: Annotated[Status | None, Query(description="Only actions in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
) -> ActionsOut:
    """Actions you may see, newest first: your own; a reviewer's center's; every one for
    operators."""
    views = await run_in_threadpool(rt.actions.list, who, status, limit)
    return ActionsOut(actions=[_out(who, v) for v in views])


# Before /v1/actions/{action_id}: a path segment, not an action id.
@router.get("/v1/actions/jwks.json", response_model=JwksOut)
async def action_jwks(rt: Annotated[Runtime, Depends(runtime)], response: Response) -> JwksOut:
    """The public key (JWKS) systems verify Steward's signed asker assertion with; no
    credentials needed."""
    jwks = await run_in_threadpool(rt.actions.signer.jwks)
    response.headers["Cache-Control"] = "public, max-age=300"
    return JwksOut.model_validate(jwks)


@router.post("/v1/actions/resume", response_model=ResumeOut, responses=responses(401, 403))
async def resume_actions(
    rt: Annotated[Runtime, Depends(runtime)], who: Annotated[Principal, Depends(manages)]
) -> ResumeOut:
    """Finish what a crash or an outage left (operators): ready calls run, interrupted ones
    are sent again with the same idempotency key where the tool allows, else compensated or
    handed to a person."""
    counts = await run_in_threadpool(rt.actions.resume, who)
    return ResumeOut.model_validate(counts)


@router.get("/v1/actions/{action_id}", response_model=ActionOut, responses=READS)
async def show_action(
    action_id: ActionId,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(uses)],
) -> ActionOut:
    """One action you may see (404 for any other)."""
    return _out(who, await run_in_threadpool(rt.actions.get, who, action_id))


@router.post("/v1/actions/{action_id}/confirm", response_model=ActionOut, responses=ERRORS)
async def confirm_action(
    action_id: ActionId,
    body: ConfirmIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(uses)],
) -> ActionOut:
    """Confirm the summary you were shown (the asker only); the call hash binds it to that
    exact call."""
    view = await run_in_threadpool(rt.actions.confirm, who, action_id, body.call_hash, "api")
    return _out(who, view)


@router.post("/v1/actions/{action_id}/approve", response_model=ActionOut, responses=ERRORS)
async def approve_action(
    action_id: ActionId,
    body: ApproveIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(approves)],
) -> ActionOut:
    """Approve someone else's call (reviewers; never the asker's or the customer's own); it
    runs once it has as many distinct approvals as it needs."""

    def go() -> ActionView:
        return rt.actions.approve(who, action_id, body.call_hash, body.note, "api")

    return _out(who, await run_in_threadpool(go))


@router.post("/v1/actions/{action_id}/reject", response_model=ActionOut, responses=ERRORS)
async def reject_action(
    action_id: ActionId,
    body: RejectIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(uses)],
) -> ActionOut:
    """Reject an action awaiting approval (reviewers), or withdraw your own request."""
    view = await run_in_threadpool(rt.actions.reject, who, action_id, body.reason, "api")
    return _out(who, view)
