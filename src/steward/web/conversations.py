"""What the chat page needs beyond ``POST /v1/ask``: a streamed answer inside one
conversation, the passage behind a citation, and the asker's conversations with their
citations, ticket and feedback, so a reloaded page can show its history again.

Every read is the asker's own: a conversation of someone else and a passage the asker may not
read are answered "not found" (the same as one that does not exist, so no oracle), and the
refusal is on the record. Citations carry what a person needs to judge a source (title,
section, date, version), never an internal document id.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from steward.core.errors import NotFoundError, StewardError
from steward.identity import oidc
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.observability.context import request_id
from steward.pipeline.runner import in_request, pieces, run
from steward.pipeline.turn import Response
from steward.runtime import Runtime
from steward.store.models import AuditRecord, Chunk, Conversation, Document, Feedback, Ticket, Turn
from steward.web.ask import AskRequestBase, request_model
from steward.web.deps import principal, runtime
from steward.web.errors import AUTHED, error_body, responses
from steward.web.placeholders import decision_shown_to, shown_to

CHANNEL = "chat"  # the audit channel of the chat page (conversations are kept for it)
LIST_LIMIT = 50
MAX_ID = 2**31 - 1  # chunk ids are 32-bit integers on PostgreSQL


class CitationView(BaseModel):
    n: int = Field(description="The citation's number, as the answer text marks it ([1]).")
    chunk_id: int = Field(description="Open it with GET /v1/passages/{chunk_id}.")
    title: str
    section: str
    updated: str | None = Field(description="The document's date, as its source gives it.")
    version: str


class TicketBrief(BaseModel):
    id: str
    reference: str = Field(description="The short reference an asker can quote.")
    status: str = Field(description="open | claimed | answered | resolved")


class PassageOut(BaseModel):
    chunk_id: int
    title: str
    section: str
    updated: str | None
    version: str
    text: str = Field(description="The passage, with personal values masked.")


class SignInOptions(BaseModel):
    identity_provider_url: str | None = Field(
        description='Where "Sign in with your organisation\'s account" goes; null without OIDC.'
    )


class ConversationSummary(BaseModel):
    id: str
    status: str
    started: str = Field(description="The first question (masked), shortened.")
    created_at: datetime
    updated_at: datetime
    ticket: TicketBrief | None


def aware(ts: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def reference(ticket_id: str) -> str:
    """A ticket's short reference: the end of its ULID, which is its random part."""
    return ticket_id[-8:]


@dataclass(frozen=True)
class _Row:
    chunk_id: int
    title: str
    section: str
    updated: str | None
    version: str
    text: str


def section(title: str, heading: str) -> str:
    """The heading path below the title ("Deductibles Explained > Flat deductibles" ->
    "Flat deductibles"); empty where the heading only repeats the title (an FAQ entry)."""
    parts = [p.strip() for p in heading.split(" > ") if p.strip()]
    if parts and parts[0] == title:
        parts = parts[1:]
    return " > ".join(parts)


def readable(rt: Runtime, who: Principal, chunk_ids: Sequence[int]) -> dict[int, _Row]:
    """The passages among ``chunk_ids`` that ``who`` may read now: the retrieval filter (ACL
    sets, center, current and not quarantined), applied before any text leaves the store."""
    if not chunk_ids:
        return {}
    flt = rt.search.filter_for(who.groups, who.center)
    if not flt.acl_ids:
        return {}
    query = (
        select(Chunk.id, Chunk.heading, Chunk.text, Chunk.center, Document.title)
        .add_columns(Document.updated, Document.version)
        .join(Document, Document.id == Chunk.document_id)
        .where(
            Chunk.id.in_(list(chunk_ids)),
            Chunk.acl_set_id.in_(list(flt.acl_ids)),
            Chunk.is_current.is_(True),
            Chunk.quarantined.is_(False),
        )
    )
    with rt.store.read() as s:
        rows = s.execute(query).all()
    return {
        int(r[0]): _Row(int(r[0]), r[4], section(r[4], r[1] or ""), r[5], r[6][:16], r[2])
        for r in rows
        # Audience scoping as the rankers apply it: a center's own passages are for that center.
        if flt.center is None or r[3] is None or r[3] == flt.center
    }


def passage(rt: Runtime, who: Principal, chunk_id: int) -> PassageOut:
    """One passage the asker may read; any other is "not found", and the attempt recorded."""
    rt.authz.authorize(who, Permission.SEARCH, f"passage:{chunk_id}")
    row = readable(rt, who, [chunk_id]).get(chunk_id)
    if row is None:
        missing = NotFoundError(f"No passage {chunk_id} that you can read.")
        with rt.store.read() as s:
            exists = s.get(Chunk, chunk_id) is not None
        if exists:  # on the record, with the same answer as a passage that does not exist
            rt.authz.deny(who, "passage-not-readable", f"passage:{chunk_id}", missing)
        raise missing
    return PassageOut(
        chunk_id=row.chunk_id,
        title=row.title,
        section=row.section,
        updated=row.updated,
        version=row.version,
        text=shown_to(who, row.text),
    )


def citations(rt: Runtime, who: Principal, cited: Sequence[dict[str, Any]]) -> list[CitationView]:
    """The citations of an answer as the asker sees them now: only passages still readable
    (a document withdrawn since is no longer offered), numbered as the answer marks them."""
    ids = [int(c["chunk_id"]) for c in cited if "chunk_id" in c]
    rows = readable(rt, who, ids)
    out: list[CitationView] = []
    for n, cid in enumerate(ids, 1):
        row = rows.get(cid)
        if row is not None:
            out.append(
                CitationView(
                    n=n,
                    chunk_id=cid,
                    title=row.title,
                    section=row.section,
                    updated=row.updated,
                    version=row.version,
                )
            )
    return out


def ticket_of(rt: Runtime, conversation_id: str) -> TicketBrief | None:
    """The conversation's latest ticket (one is worked at a time)."""
    with rt.store.read() as s:
        row = s.scalars(
            select(Ticket)
            .where(Ticket.conversation_id == conversation_id)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(1)
        ).first()
        return (
            TicketBrief(id=row.id, reference=reference(row.id), status=row.status) if row else None
        )


def turn_details(
    rt: Runtime, who: Principal, audit_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per audit id of the asker's own turns: its citations, confidence and feedback."""
    ids = sorted({a for a in audit_ids if a})
    if not ids:
        return {}
    with rt.store.read() as s:
        rows = s.execute(
            select(AuditRecord.id, AuditRecord.citations, AuditRecord.confidence).where(
                AuditRecord.id.in_(ids), AuditRecord.user_id == who.user_id
            )
        ).all()
        thumbs = dict(
            s.execute(
                select(Feedback.audit_id, Feedback.thumb)
                .where(Feedback.audit_id.in_(ids), Feedback.user_id == who.user_id)
                .order_by(Feedback.created_at)
            ).all()
        )
    out: dict[str, dict[str, Any]] = {}
    for aid, cited, confidence in rows:
        out[aid] = {
            "citations": citations(rt, who, cited or []),
            "confidence": float(confidence),
            "feedback": _thumb(thumbs[aid]) if aid in thumbs else None,
        }
    return out


def _thumb(value: int | None) -> str:
    return "up" if value == 1 else "down" if value == -1 else "given"


def mine(rt: Runtime, who: Principal, limit: int) -> list[ConversationSummary]:
    """The asker's own conversations, most recent first."""
    with rt.store.read() as s:
        convs = list(
            s.scalars(
                select(Conversation)
                .where(Conversation.user_id == who.user_id)
                .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
                .limit(limit)
            )
        )
        ids = [c.id for c in convs]
        first_turn = (
            select(Turn.conversation_id, func.min(Turn.id))
            .where(Turn.conversation_id.in_(ids), Turn.role == "asker")
            .group_by(Turn.conversation_id)
        )
        firsts = {cid: tid for cid, tid in s.execute(first_turn).all()}
        texts = dict(
            s.execute(select(Turn.id, Turn.text).where(Turn.id.in_(list(firsts.values())))).all()
        )
        summaries = [
            (c.id, c.status, texts.get(firsts.get(c.id, -1), ""), c.created_at, c.updated_at)
            for c in convs
        ]
    return [
        ConversationSummary(
            id=cid,
            status=status,
            started=shown_to(who, text)[:120],
            created_at=aware(created),
            updated_at=aware(updated),
            ticket=ticket_of(rt, cid),
        )
        for cid, status, text, created, updated in summaries
    ]


def _line(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False) + "\n"


def _done(rt: Runtime, who: Principal, r: Response) -> dict[str, Any]:
    out = decision_shown_to(who, r.as_public_dict())
    out["answer"] = shown_to(who, out["answer"])
    out["citations"] = [c.model_dump() for c in citations(rt, who, out["citations"])]
    ticket = ticket_of(rt, r.conversation_id) if r.conversation_id else None
    out["ticket"] = ticket.model_dump() if ticket else None
    # The question as it was kept (masked), so the page shows what the record holds.
    with rt.store.read() as s:
        kept = s.scalar(
            select(Turn.text).where(Turn.audit_id == r.audit_id, Turn.role == "asker").limit(1)
        )
    out["question"] = shown_to(who, kept) if kept is not None else None
    return {"type": "done", "response": out}


def stream(
    rt: Runtime, who: Principal, question: str, conversation_id: str | None
) -> Iterator[str]:
    """The NDJSON lines of one answer: ``delta`` pieces of an answer as it is verified, then
    ``done`` with the whole response (or ``error``). Only answers are sent as deltas: a
    hand-off, refusal or "not sure" is decided before anything is shown, and the page words
    it for the asker from its action, so no internal wording reaches a customer even briefly.
    The first line is produced by the caller before the response starts, so an error until
    then (a conversation of someone else) is an HTTP status, not a cut stream."""
    steps = in_request(
        CHANNEL,
        run(
            rt,
            who,
            question,
            channel=CHANNEL,
            conversation_id=conversation_id,
            previous=None,
            profile=None,
            streaming=rt.answerer.can_stream,
        ),
    )
    first = next(steps)  # raises, before any line: an error until here is an HTTP status
    shown = False
    try:
        for item in itertools.chain([first], steps):
            if not isinstance(item, Response):
                shown = True
                yield _line({"type": "delta", "text": shown_to(who, item)})
                continue
            if item.action == "answer" and not shown:  # decided whole (cached, no streaming)
                for piece in pieces(item.answer):
                    yield _line({"type": "delta", "text": shown_to(who, piece)})
            yield _line(_done(rt, who, item))
    except StewardError as exc:
        yield _line({"type": "error", **error_body(exc.code, exc.message, request_id() or "")})


def make_router(max_chars: int) -> APIRouter:
    router = APIRouter(tags=["chat page"])

    async def ask_stream_endpoint(
        body: AskRequestBase,
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
    ) -> StreamingResponse:
        """Like POST /v1/ask, sent as it is verified: newline-delimited JSON objects, each
        `{"type": "delta", "text"}`, then `{"type": "done", "response"}` (the /v1/ask body
        with citations as `{n, chunk_id, title, section, updated, version}` and `ticket`), or
        `{"type": "error", "error"}`. Every call writes one audit row."""
        lines = stream(rt, who, body.question, body.conversation_id)
        first = await run_in_threadpool(next, lines)
        return StreamingResponse(
            iterate_in_threadpool(_chain(first, lines)),
            media_type="application/x-ndjson",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    ask_stream_endpoint.__annotations__["body"] = request_model(max_chars)
    router.post(
        "/v1/ask/stream",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON lines"},
            **AUTHED,
        },
    )(ask_stream_endpoint)

    # Not in the API reference: it only serves the page, before anyone has signed in.
    @router.get("/v1/sign-in-options", response_model=SignInOptions, include_in_schema=False)
    async def sign_in_options(rt: Annotated[Runtime, Depends(runtime)]) -> SignInOptions:
        """How the chat page may sign people in (public: it is shown before anyone signs in).
        The identity provider's sign-in is offered only where OIDC is configured."""
        offered = oidc.configured(rt.settings.session, rt.verifier)
        return SignInOptions(identity_provider_url=oidc.START + "?next=/" if offered else None)

    @router.get(
        "/v1/passages/{chunk_id}", response_model=PassageOut, responses=responses(401, 404, 422)
    )
    async def get_passage(
        chunk_id: Annotated[int, Path(ge=1, le=MAX_ID, description="A citation's chunk_id.")],
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
    ) -> PassageOut:
        """A cited passage (title, section, date, version, masked text), if you may read it;
        any other is 404."""
        return await run_in_threadpool(passage, rt, who, chunk_id)

    @router.get("/v1/conversations", response_model=list[ConversationSummary], responses=AUTHED)
    async def list_conversations(
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
        limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 20,
    ) -> list[ConversationSummary]:
        """Your own conversations, most recent first (nobody sees another asker's)."""
        return await run_in_threadpool(mine, rt, who, limit)

    return router


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
