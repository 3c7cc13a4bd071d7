"""The review queue: hand-off tickets (claim, answer, resolve, save as correction) and the
answers quality monitoring flagged (claim, mark right or wrong). Every action is the service
method the API and CLI use (pipeline/handoff.py, operations/review.py), which authorizes and
audits it; the page only renders and posts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from steward.audit.view import readable, review_item, transcript
from steward.core.errors import InputError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.review import ReviewView
from steward.pipeline.handoff import TicketView
from steward.runtime import Runtime
from steward.store.models import Document
from steward.web.console.render import Viewer, act, back, form, page, rt_of, viewer
from steward.web.placeholders import shown_to

router = APIRouter(include_in_schema=False)
LISTED = 50


def titles(rt: Runtime, who: Principal, doc_ids: list[str]) -> list[dict[str, str]]:
    """The sources a ticket names, titled where the reviewer may read them (retrieval's
    filter); the others by id only, their title withheld."""
    ids = [str(d) for d in doc_ids]
    open_ = readable(rt.store, who, set(ids))
    with rt.store.read() as s:
        named = dict(
            s.execute(
                select(Document.doc_id, Document.title).where(Document.doc_id.in_(sorted(open_)))
            ).all()
        )
    return [
        {"doc_id": d, "title": named.get(d, "") if d in open_ else ""} for d in dict.fromkeys(ids)
    ]


def _ticket(rt: Runtime, who: Principal, t: TicketView) -> dict[str, Any]:
    return {
        "id": t.id,
        "user_id": t.user_id,
        "center": t.center,
        "reason": t.reason,
        "detail": shown_to(who, t.detail),
        "priority": t.priority,
        "status": t.status,
        "assignee": t.assignee,
        "mine": t.assignee == who.user_id,
        "due_at": t.due_at.strftime("%Y-%m-%d %H:%M UTC"),
        "overdue": t.overdue,
        "resolution": shown_to(who, t.resolution or ""),
        "transcript": [
            {"role": x.get("role", ""), "text": shown_to(who, str(x.get("text", "")))}
            for x in transcript(rt.store, who, t.transcript)
        ],
        "sources": titles(rt, who, [str(d) for d in t.sources]),
    }


def _plain(item: ReviewView) -> dict[str, Any]:
    return item.as_dict()


def gather(rt: Runtime, who: Principal, status: str | None) -> dict[str, Any]:
    tickets = [_ticket(rt, who, t) for t in rt.handoff.queue(who, status, LISTED)]
    # As in audit/view.py: an answer citing a document the reviewer may not read is not
    # shown to them (the question is their asker's own words and stays).
    items = [review_item(rt.store, who, _plain(i)) for i in rt.review.list(who, limit=LISTED)]
    for item in items:
        for key in ("question", "answer", "note"):
            if isinstance(item.get(key), str):
                item[key] = shown_to(who, item[key])
    return {"tickets": tickets, "items": items}


@router.get("/console/review")
async def queue(request: Request, status: str = "") -> Response:
    seen = await viewer(request, Permission.WORK_TICKETS)
    rt = rt_of(request)
    data = await act(seen, gather, rt, seen.who, status or None)
    return page("review.html", seen, status=status, **data)


async def _ticket_action(request: Request, ticket_id: str, action: str) -> Response:
    seen: Viewer = await viewer(request, Permission.WORK_TICKETS)
    rt = rt_of(request)
    fields = await form(request)
    if action == "claim":
        await act(seen, rt.handoff.claim, seen.who, ticket_id)
    elif action == "answer":
        text = fields.get("text", "")
        if not text.strip():
            await act(seen, _refuse, "Write the answer before sending it.")
        await act(seen, rt.handoff.answer, seen.who, ticket_id, text[:20_000])
    else:
        correction = fields.get("save_correction") == "yes"
        await act(seen, rt.handoff.resolve, seen.who, ticket_id, correction)
    return back(f"/console/review#ticket-{ticket_id}")


def _refuse(message: str) -> None:
    raise InputError(message)


@router.post("/console/review/tickets/{ticket_id}/claim")
async def claim(request: Request, ticket_id: str) -> Response:
    return await _ticket_action(request, ticket_id, "claim")


@router.post("/console/review/tickets/{ticket_id}/answer")
async def answer(request: Request, ticket_id: str) -> Response:
    return await _ticket_action(request, ticket_id, "answer")


@router.post("/console/review/tickets/{ticket_id}/resolve")
async def resolve(request: Request, ticket_id: str) -> Response:
    return await _ticket_action(request, ticket_id, "resolve")


@router.post("/console/review/items/{item_id}/claim")
async def claim_item(request: Request, item_id: str) -> Response:
    seen = await viewer(request, Permission.WORK_TICKETS)
    rt = rt_of(request)
    await act(seen, rt.review.claim, seen.who, item_id)
    return back(f"/console/review#item-{item_id}")


@router.post("/console/review/items/{item_id}/verdict")
async def verdict(request: Request, item_id: str) -> Response:
    seen = await viewer(request, Permission.WORK_TICKETS)
    rt = rt_of(request)
    fields = await form(request)
    choice = fields.get("verdict", "")
    if choice not in ("right", "wrong"):
        await act(seen, _refuse, "Mark the answer right or wrong.")
    note = fields.get("note", "")[:2000]
    await act(seen, rt.review.verdict, seen.who, item_id, choice, note)
    return back(f"/console/review#item-{item_id}")
