"""The hand-off queue: escalated conversations become tickets that people work.

A ticket carries what a reviewer needs and nothing more: the masked conversation, the detected
intent and signals, the sources found, and why it was escalated. Priorities set SLA timers.
Reviewers see the tickets of their own center (operators and admins see all), claim one, answer
(the answer appears in the asker's conversation, masked like everything else), and resolve it;
a resolution can be kept as a correction, a labelled example for later evaluation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.core import reasons
from steward.core.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from steward.guard import Masker
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer, Permission
from steward.pipeline.conversations import Conversations
from steward.pipeline.policy import BusinessHours
from steward.store import Store
from steward.store.models import Correction, Ticket, Turn

PRIORITY: dict[str, str] = dict(reasons.PRIORITY)  # steward.core.reasons, the one list
SLA = {"p1": timedelta(minutes=5), "p2": timedelta(minutes=30), "p3": timedelta(hours=4)}
IN_PROGRESS = ("open", "claimed", "answered")  # a ticket a later message of its conversation joins
STATUSES = (*IN_PROGRESS, "resolved")
DETAIL_CHARS = 500  # tickets.detail
MAX_QUEUE = 500  # the most tickets one queue request lists


@dataclass(frozen=True)
class TicketView:
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
    created_at: datetime
    due_at: datetime
    overdue: bool
    resolution: str | None
    transcript: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("created_at", "due_at"):
            out[k] = _aware(out[k]).isoformat()
        return out


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _join(current: Ticket, new: Ticket) -> None:
    """Fold a later escalation of the same conversation into its ticket in progress: the more
    urgent reason and the earlier deadline win, the new reason and signals are kept beside the
    old, and an answered ticket goes back to its reviewer (the asker wrote again)."""
    if new.priority < current.priority:  # "p1" < "p2" < "p3"
        current.priority, current.reason = new.priority, new.reason
    current.due_at = (
        new.due_at
        if current.status == "answered"
        else min(_aware(current.due_at), _aware(new.due_at))
    )
    current.detail = f"{current.detail}; then {new.reason}: {new.detail}"[:DETAIL_CHARS]
    current.signals = list(dict.fromkeys([*current.signals, *new.signals]))
    current.sources = list(dict.fromkeys([*current.sources, *new.sources]))[:10]
    if current.status == "answered":
        current.status = "claimed" if current.assignee else "open"


class HandoffQueue:
    def __init__(
        self,
        store: Store,
        conversations: Conversations,
        masker: Masker,
        authz: Authorizer | None = None,
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.masker = masker
        self.authz = authz or Authorizer(store)

    def open(
        self,
        *,
        conversation_id: str,
        who: Principal,
        reason: str,
        detail: str,
        intent: str | None,
        signals: list[str],
        sources: list[str],
        audit_id: str,
        hours: BusinessHours | None = None,
        session: Session | None = None,
    ) -> str:
        """Open a ticket, or join the conversation's ticket still being worked (one ticket per
        conversation). With business hours, the SLA clock starts at the next opening.

        With ``session``, the ticket and the conversation's new status join the caller's
        transaction: a hand-off is audited with its ticket or not at all."""
        now = datetime.now(UTC)
        start = hours.next_open(now) if hours is not None else now
        priority = PRIORITY.get(reason, "p3")
        ticket = Ticket(
            id=str(ULID()),
            conversation_id=conversation_id,
            user_id=who.user_id,
            center=who.center,
            reason=reason,
            detail=detail[:DETAIL_CHARS],
            intent=intent,
            signals=signals,
            sources=sources,
            priority=priority,
            status="open",
            assignee=None,
            audit_id=audit_id,
            created_at=now,
            due_at=start + SLA[priority],
        )
        if session is None:
            with self.store.write() as (s, _):
                return self._add(s, ticket)
        return self._add(session, ticket)

    def _add(self, s: Session, ticket: Ticket) -> str:
        """Write ``ticket``, or fold it into the conversation's ticket in progress; its id."""
        current = s.scalars(
            select(Ticket)
            .where(
                Ticket.conversation_id == ticket.conversation_id,
                Ticket.status.in_(IN_PROGRESS),
            )
            .order_by(Ticket.created_at.desc())
            .limit(1)
        ).first()
        if current is not None:
            _join(current, ticket)
        else:
            s.add(ticket)
        s.flush()  # the ticket is written (or refused) before anything that depends on it
        self.conversations.set_status(ticket.conversation_id, "with_human", s)
        return current.id if current is not None else ticket.id

    def _require(self, who: Principal, resource: str) -> None:
        self.authz.authorize(who, Permission.WORK_TICKETS, resource)

    def _visible(self, who: Principal, ticket: Ticket) -> bool:
        # Scoping, not a denial: other centers' tickets are simply not in this queue.
        everywhere = self.authz.permits(who, Permission.SEE_ALL_CENTERS)
        return everywhere or who.center is None or ticket.center == who.center

    def _event(
        self, kind: audit.Kind, who: Principal, row: Ticket, **payload: object
    ) -> audit.AuditEvent:
        # Ids and states only: the conversation's text stays in the ticket, masked.
        return audit.AuditEvent(
            kind,
            actor=who.user_id,
            target=f"ticket:{row.id}",
            payload={"conversation": row.conversation_id, "status": row.status, **payload},
            groups=tuple(who.groups),
            center=row.center,
        )

    def _view(self, t: Ticket) -> TicketView:
        with self.store.read() as s:
            turns = list(
                s.scalars(
                    select(Turn).where(Turn.conversation_id == t.conversation_id).order_by(Turn.id)
                )
            )
        open_now = t.status in ("open", "claimed")
        return TicketView(
            t.id,
            t.conversation_id,
            t.user_id,
            t.center,
            t.reason,
            t.detail,
            t.intent,
            t.signals,
            t.sources,
            t.priority,
            t.status,
            t.assignee,
            t.created_at,
            t.due_at,
            open_now and _aware(t.due_at) < datetime.now(UTC),
            t.resolution,
            [
                {"role": x.role, "text": x.text, "action": x.action, "audit_id": x.audit_id}
                for x in turns
            ],
        )

    def queue(
        self, who: Principal, status: str | None = None, limit: int = 100
    ) -> list[TicketView]:
        """Tickets this reviewer may work: those still in progress first, then by priority and
        deadline; at most ``limit`` (up to :data:`MAX_QUEUE`)."""
        if status is not None and status not in STATUSES:
            raise InputError(f"Unknown ticket status; use one of: {', '.join(STATUSES)}.")
        if not 1 <= limit <= MAX_QUEUE:
            raise InputError(f"limit must be between 1 and {MAX_QUEUE}.")
        self._require(who, "tickets")
        done = case((Ticket.status.in_(IN_PROGRESS), 0), else_=1)
        with self.store.read() as s:
            q = select(Ticket).order_by(done, Ticket.priority, Ticket.due_at, Ticket.id)
            if status:
                q = q.where(Ticket.status == status)
            rows = list(islice((t for t in s.scalars(q) if self._visible(who, t)), limit))
        return [self._view(t) for t in rows]

    def _get(self, who: Principal, ticket_id: str) -> Ticket:
        self._require(who, f"ticket:{ticket_id}")
        with self.store.read() as s:
            t = s.get(Ticket, ticket_id)
        missing = NotFoundError(f"No ticket {ticket_id[:64]!r} in your queue.")
        if t is None:
            raise missing
        if not self._visible(who, t):
            # The same 404 as a ticket that does not exist (no oracle), but on the record.
            self.authz.deny(who, "ticket-of-another-center", f"ticket:{t.id}", missing)
        return t

    def get(self, who: Principal, ticket_id: str) -> TicketView:
        return self._view(self._get(who, ticket_id))

    def claim(self, who: Principal, ticket_id: str) -> TicketView:
        t = self._get(who, ticket_id)
        if t.assignee not in (None, who.user_id):
            busy = ForbiddenError(f"Ticket {ticket_id} is claimed by {t.assignee}.")
            self.authz.deny(who, "ticket-claimed-by-another", f"ticket:{t.id}", busy)
        with self.store.write() as (s, _):
            row = s.get(Ticket, t.id)
            assert row is not None
            if row.status not in ("open", "claimed"):
                raise ConflictError(f"Ticket {ticket_id} is {row.status}; it cannot be claimed.")
            if row.assignee not in (None, who.user_id):
                raise ForbiddenError(f"Ticket {ticket_id} is claimed by {row.assignee}.")
            row.status, row.assignee = "claimed", who.user_id
            row.claimed_at = row.claimed_at or datetime.now(UTC)
            audit.record(self.store, self._event(audit.Kind.TICKET_CLAIMED, who, row), session=s)
        return self.get(who, ticket_id)

    def answer(self, who: Principal, ticket_id: str, text: str) -> TicketView:
        """The reviewer's reply, added to the asker's conversation (masked)."""
        if not text.strip():
            raise InputError("The answer is empty.")
        t = self._get(who, ticket_id)
        if t.assignee != who.user_id:
            hint = (
                f"Ticket {ticket_id} is claimed by {t.assignee}."
                if t.assignee
                else f"Claim ticket {ticket_id} before answering it."
            )
            rule = "ticket-not-claimed-by-you"
            self.authz.deny(who, rule, f"ticket:{t.id}", ForbiddenError(hint))
        masked = self.masker.mask(text.strip()).text
        with self.store.write() as (s, _):
            row = s.get(Ticket, t.id)
            assert row is not None
            if row.status == "resolved":
                raise ConflictError(f"Ticket {ticket_id} is resolved; it takes no more answers.")
            row.status, row.answered_at, row.resolution = "answered", datetime.now(UTC), masked
            digest = hashlib.sha256(masked.encode("utf-8")).hexdigest()[:16]
            event = self._event(audit.Kind.TICKET_ANSWERED, who, row, answer_sha256=digest)
            audit.record(self.store, event, session=s)
        self.conversations.add(t.conversation_id, "human", masked, author=who.user_id)
        return self.get(who, ticket_id)

    def resolve(self, who: Principal, ticket_id: str, save_correction: bool = False) -> TicketView:
        t = self._get(who, ticket_id)
        if t.assignee != who.user_id:
            # A reviewer closes only what they hold: an unclaimed fraud hand-off closed with no
            # claim and no answer was the second outside review's finding. Operators may close
            # any ticket (RESOLVE_ANY_TICKET).
            hint = (
                f"Ticket {ticket_id} is claimed by {t.assignee}."
                if t.assignee
                else f"Claim ticket {ticket_id} before resolving it."
            )
            self.authz.authorize(who, Permission.RESOLVE_ANY_TICKET, f"ticket:{t.id}", message=hint)
        with self.store.write() as (s, _):
            row = s.get(Ticket, t.id)
            assert row is not None
            if row.status == "resolved":
                raise ConflictError(f"Ticket {ticket_id} is already resolved.")
            row.status, row.resolved_at = "resolved", datetime.now(UTC)
            if save_correction:
                if not row.resolution:
                    raise ConflictError("Only an answered ticket can be saved as a correction.")
                first = s.scalars(
                    select(Turn)
                    .where(Turn.conversation_id == row.conversation_id, Turn.role == "asker")
                    .order_by(Turn.id)
                ).first()
                s.add(
                    Correction(
                        id=str(ULID()),
                        ticket_id=row.id,
                        user_id=row.user_id,
                        question=(first.standalone or first.text) if first else "",
                        answer=row.resolution,
                        expected_action="escalate",
                        escalation_reason=row.reason,
                        created_at=datetime.now(UTC),
                    )
                )
            event = self._event(
                audit.Kind.TICKET_RESOLVED,
                who,
                row,
                correction=save_correction,
                assignee=row.assignee,
            )
            audit.record(self.store, event, session=s)
        self.conversations.set_status(t.conversation_id, "closed")
        return self.get(who, ticket_id)

    def corrections(self) -> list[dict[str, Any]]:
        """Saved corrections in the question-file format of `steward eval`."""
        with self.store.read() as s:
            rows = list(s.scalars(select(Correction).order_by(Correction.created_at)))
        return [
            {
                "id": c.id,
                "user": c.user_id,
                "question": c.question,
                "kind": "escalate",
                "expected_action": c.expected_action,
                "gold_docs": [],
                "answer_facts": [],
                "must_not_contain": [],
                "escalation_reason": c.escalation_reason,
                "pii_in_question": [],
                "reviewer_answer": c.answer,
            }
            for c in rows
        ]
