"""The review queue: hand-off tickets (claim, answer, resolve, save as correction), the
answers quality monitoring flagged (claim, mark right or wrong), and tool calls awaiting
approval (approve, reject). Every action is the service method the API and CLI use
(pipeline/handoff.py, operations/review.py, actions/service.py), which authorizes and audits
it; the page only renders and posts."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from steward.actions.service import ActionView
from steward.audit.view import readable, review_item, transcript
from steward.core.errors import InputError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.review import ReviewView
from steward.pipeline.handoff import TicketView
from steward.runtime import Runtime
from steward.store.models import Document
from steward.web.console.render import PageError, Viewer, act, back, form, page, rt_of, viewer
from steward.web.placeholders import shown_to

router = APIRouter(include_in_schema=False)
LISTED = 50
ACTION_ID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
CALL_HASH = re.compile(r"[0-9a-f]{64}")


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


def _action(rt: Runtime, who: Principal, a: ActionView) -> dict[str, Any]:
    summary = a.summary
    if a.requested_by == who.user_id:
        # The asker's own view carries their raw values: the queue shows every action masked.
        tool = rt.actions.registry.tools.get(a.tool)
        summary = tool.describe(a.arguments) if tool is not None else a.tool
    given = [x for x in a.approvals if x["verdict"] == "approve" and x["call_hash"] == a.call_hash]
    return {
        "id": a.id,
        "tool": a.tool,
        "risk": a.risk,
        "summary": shown_to(who, summary),
        "call_hash": a.call_hash,
        "requested_by": a.requested_by,
        "subject": a.subject,
        "center": a.center,
        "rule": shown_to(who, a.rule),
        "approvers": [x["approver"] for x in given],
        "needed": a.approvals_needed,
        "expires_at": a.expires_at.strftime("%Y-%m-%d %H:%M UTC") if a.expires_at else "",
        # Four eyes: neither the asker nor the customer acted on approves (the service refuses
        # it too); nor does one who already approved.
        "may_approve": who.user_id not in (a.requested_by, a.subject)
        and who.user_id not in [x["approver"] for x in given],
    }


def pending_actions(rt: Runtime, who: Principal) -> list[dict[str, Any]]:
    """Actions awaiting approval that ``who`` may see (their center's; every center's with
    see-all-centers), for reviewers and up; nothing for anyone else."""
    if not rt.authz.permits(who, Permission.APPROVE_ACTIONS):
        return []
    views = rt.actions.list(who, status="awaiting-approval", limit=LISTED)
    return [_action(rt, who, a) for a in views]


def gather(rt: Runtime, who: Principal, status: str | None) -> dict[str, Any]:
    tickets = [_ticket(rt, who, t) for t in rt.handoff.queue(who, status, LISTED)]
    # As in audit/view.py: an answer citing a document the reviewer may not read is not
    # shown to them (the question is their asker's own words and stays).
    items = [review_item(rt.store, who, _plain(i)) for i in rt.review.list(who, limit=LISTED)]
    for item in items:
        for key in ("question", "answer", "note"):
            if isinstance(item.get(key), str):
                item[key] = shown_to(who, item[key])
    return {"tickets": tickets, "items": items, "actions": pending_actions(rt, who)}


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


async def _action_form(request: Request, action_id: str) -> tuple[Viewer, Runtime, dict[str, str]]:
    seen = await viewer(request, Permission.APPROVE_ACTIONS)
    if not ACTION_ID.fullmatch(action_id):
        raise PageError(404, "No such action.", seen)
    return seen, rt_of(request), await form(request)


@router.post("/console/review/actions/{action_id}/approve")
async def approve_action(request: Request, action_id: str) -> Response:
    seen, rt, fields = await _action_form(request, action_id)
    call_hash = fields.get("call_hash", "")
    if not CALL_HASH.fullmatch(call_hash):
        await act(seen, _refuse, "The form lost the action's call hash: reload the page.")
    note = fields.get("note", "")[:2000]
    await act(seen, rt.actions.approve, seen.who, action_id, call_hash, note, "api")
    return back(f"/console/review#action-{action_id}")


@router.post("/console/review/actions/{action_id}/reject")
async def reject_action(request: Request, action_id: str) -> Response:
    seen, rt, fields = await _action_form(request, action_id)
    reason = fields.get("reason", "")
    if not reason.strip():
        await act(seen, _refuse, "Say why the action is rejected.")
    await act(seen, rt.actions.reject, seen.who, action_id, reason[:500], "api")
    return back("/console/review#actions")
