"""POST /v1/ask: a governed, cited answer for the authenticated asker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from starlette.concurrency import run_in_threadpool

from steward.core import reasons
from steward.core.visible import shows_anything
from steward.identity.auth import Principal
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.web.deps import principal, runtime
from steward.web.errors import AUTHED, NOT_BLANK
from steward.web.placeholders import decision_shown_to, shown_to


class AskRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a JSON true is not a 1
    question: str

    @field_validator("question", mode="before")
    @classmethod
    def _visible(cls, value: object) -> object:
        # Before the length and pattern checks: one plain message for every question that
        # prints nothing (spaces, zero-width characters, fillers, lone combining marks).
        if isinstance(value, str) and not shows_anything(value):
            raise ValueError("the question is empty: it has no visible characters")
        return value

    conversation_id: str | None = Field(
        default=None,
        description="Continue one of your conversations (follow-ups are rewritten "
        "into standalone questions).",
    )


def request_model(max_chars: int) -> type[AskRequestBase]:
    """The request body, with the configured length limit written into the OpenAPI spec."""
    return create_model(
        "AskRequest",
        __base__=AskRequestBase,
        question=(
            str,
            Field(
                description="The question, in plain text.",
                min_length=1,
                max_length=max_chars,
                pattern=NOT_BLANK,
            ),
        ),
    )


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
    escalation_reason: str | None = Field(description=reasons.FIELD_DESCRIPTION)
    reason: str
    audit_id: str
    latency_ms: float
    conversation_id: str | None = None
    ticket_id: str | None = Field(default=None, description="Set when handed to a person.")


def make_router(max_chars: int) -> APIRouter:
    router = APIRouter(tags=["ask"])

    async def ask_endpoint(
        body: AskRequestBase,
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
    ) -> AskResponse:
        """Answer from what the asker may read, with citations; every call writes an audit
        row."""
        r = await run_in_threadpool(ask, rt, who, body.question, "api", body.conversation_id)
        out = decision_shown_to(who, r.as_public_dict())
        out["answer"] = shown_to(who, out["answer"])
        return AskResponse.model_validate(out)

    # The body model carries this deployment's length limit into validation and the spec.
    ask_endpoint.__annotations__["body"] = request_model(max_chars)
    router.post("/v1/ask", response_model=AskResponse, responses=AUTHED)(ask_endpoint)
    return router
