"""Conversations for their askers; the hand-off queue for reviewers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.audit.view import transcript
from steward.identity.auth import Principal
from steward.pipeline.handoff import MAX_QUEUE, TicketView
from steward.runtime import Runtime
from steward.web.conversations import CitationView, TicketBrief, ticket_of, turn_details
from steward.web.deps import principal, runtime
from steward.web.errors import NOT_BLANK, responses
from steward.web.placeholders import shown_to

router = APIRouter(tags=["conversations and hand-off"])
ERRORS = responses(400, 401, 403, 404, 422, 500)
STATEFUL = responses(400, 401, 403, 404, 409, 422, 500)  # ticket actions
TicketStatus = Literal["open", "claimed", "answered", "resolved"]  # pipeline/handoff.py STATUSES


class TurnOut(BaseModel):
    role: str
    text: str
    action: str | None
    author: str | None
    created_at: datetime
    # The chat page's view of an exchange (web/conversations.py): its feedback is keyed by it.
    audit_id: str | None = None
    citations: list[CitationView] = []
    confidence: float | None = None
    feedback: str | None = Field(default=None, description="up | down | given, once rated")


class ConversationOut(BaseModel):
    id: str
    status: str
    turns: list[TurnOut]
    ticket: TicketBrief | None = Field(default=None, description="Its hand-off, if any.")


class TicketOut(BaseModel):
    id: str
    conversation_id: str
    user_id: str
    center: str | None
    reason: str
    detail: str
    intent: str | None
    signals: list[Any]
    sources: list[Any]
    priority: str
    status: str
    assignee: str | None
    created_at: str
    due_at: str
    overdue: bool
    resolution: str | None
    transcript: list[dict[str, Any]]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a JSON true is not a 1
    text: str = Field(min_length=1, max_length=20_000, pattern=NOT_BLANK)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a JSON true is not a 1
    save_correction: bool = False


@router.get("/v1/conversations/{conversation_id}", response_model=ConversationOut, responses=ERRORS)
async def get_conversation(
    conversation_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> ConversationOut:
    """Your conversation, including answers written by people (masked as stored)."""
    status, turns = await run_in_threadpool(rt.conversations.history, conversation_id, who)
    details = await run_in_threadpool(turn_details, rt, who, [t.audit_id or "" for t in turns])
    return ConversationOut(
        id=conversation_id,
        status=status,
        turns=[
            TurnOut.model_validate(
                {
                    **t.__dict__,
                    "text": shown_to(who, t.text),
                    # Sources and confidence belong to the answer, not the question.
                    **(details.get(t.audit_id or "", {}) if t.role == "assistant" else {}),
                }
            )
            for t in turns
        ],
        ticket=await run_in_threadpool(ticket_of, rt, conversation_id),
    )


@router.get("/v1/tickets", response_model=list[TicketOut], responses=ERRORS)
async def list_tickets(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
    status: Annotated[TicketStatus | None, Query(description="Only tickets in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUEUE, description="The most tickets to list.")] = 100,
) -> list[TicketOut]:
    """Tickets in your queue (reviewers; your center only): those still in progress first,
    then by priority and deadline."""
    rows = await run_in_threadpool(rt.handoff.queue, who, status, limit)
    return await run_in_threadpool(_shown, rt, who, rows)


def _shown(rt: Runtime, who: Principal, rows: list[TicketView]) -> list[TicketOut]:
    """Tickets as ``who`` may see them: an answer in the transcript drawn from a document
    they may not read is withheld (audit/view.py, as on the console's review page)."""
    return [
        TicketOut.model_validate(
            {**t.as_dict(), "transcript": transcript(rt.store, who, t.transcript)}
        )
        for t in rows
    ]


@router.get("/v1/tickets/{ticket_id}", response_model=TicketOut, responses=ERRORS)
async def get_ticket(
    ticket_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> TicketOut:
    view = await run_in_threadpool(rt.handoff.get, who, ticket_id)
    return (await run_in_threadpool(_shown, rt, who, [view]))[0]


@router.post("/v1/tickets/{ticket_id}/claim", response_model=TicketOut, responses=STATEFUL)
async def claim_ticket(
    ticket_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> TicketOut:
    view = await run_in_threadpool(rt.handoff.claim, who, ticket_id)
    return (await run_in_threadpool(_shown, rt, who, [view]))[0]


@router.post("/v1/tickets/{ticket_id}/answer", response_model=TicketOut, responses=STATEFUL)
async def answer_ticket(
    ticket_id: str,
    body: AnswerIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> TicketOut:
    """Reply to the asker; the reply appears in their conversation."""
    view = await run_in_threadpool(rt.handoff.answer, who, ticket_id, body.text)
    return (await run_in_threadpool(_shown, rt, who, [view]))[0]


@router.post("/v1/tickets/{ticket_id}/resolve", response_model=TicketOut, responses=STATEFUL)
async def resolve_ticket(
    ticket_id: str,
    body: ResolveIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(principal)],
) -> TicketOut:
    view = await run_in_threadpool(rt.handoff.resolve, who, ticket_id, body.save_correction)
    return (await run_in_threadpool(_shown, rt, who, [view]))[0]
