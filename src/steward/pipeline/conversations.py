"""Conversations: turns kept (masked), follow-ups rewritten into standalone questions.

A conversation belongs to the user who started it: nobody else can add to it or read it (an
unknown and a foreign conversation id get the same "not found"). Permissions are not remembered
between turns: every turn is answered with the asker's entitlements at that moment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from ulid import ULID

from steward.core.errors import NotFoundError
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer
from steward.retrieval.search import query_terms
from steward.store import Store
from steward.store.models import Conversation, Turn

_FOLLOW_UP = re.compile(
    r"^\s*(and|also|what about|how about|same for|and for|and what about|and how about|"
    r"what if|or|but)\b",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(it|that|this|they|them|those|these|one|there)\b", re.IGNORECASE)
_HEAD_NOUNS = (
    r"card|account|loan|mortgage|policy|plan|claim|fee|rate|deductible|center|"
    r"branch|wire|transfer|app|product|tier"
)


@dataclass(frozen=True)
class TurnView:
    role: str
    text: str
    action: str | None
    author: str | None
    created_at: datetime
    audit_id: str | None = None  # the audit row of the exchange (its citations, feedback)


def _aware(ts: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def is_follow_up(question: str) -> bool:
    """Elliptical questions that lean on the previous one ("and for the Gold card?")."""
    if _FOLLOW_UP.match(question):
        return True
    return len(query_terms(question)) <= 3 and bool(_PRONOUN.search(question))


def rewrite(question: str, previous: str) -> str:
    """A standalone version of a follow-up: swap the entity it names into the previous
    question ("What is the annual fee on the Platinum card?" + "and for the Gold card?" ->
    "What is the annual fee on the Gold card?"); otherwise join the two."""
    q = _FOLLOW_UP.sub("", question).strip(" ,?") + ("?" if question.rstrip().endswith("?") else "")
    new = re.search(rf"\b((?:[A-Z][\w-]*\s+){{1,3}})({_HEAD_NOUNS})s?\b", q)
    if new:
        head = new.group(2)
        old = re.search(rf"\b((?:[A-Z][\w-]*\s+){{1,3}})({head})s?\b", previous)
        if old and old.group(1).strip() != new.group(1).strip():
            return previous[: old.start(1)] + new.group(1) + previous[old.end(1) :]
        if old:
            return previous
    core = q.strip(" ?")
    return f"{previous.rstrip(' ?')}: {core}?" if core else previous


@dataclass(frozen=True)
class NewTurn:
    role: str
    text: str
    standalone: str | None = None
    action: str | None = None
    audit_id: str | None = None


class Conversations:
    def __init__(self, store: Store, authz: Authorizer | None = None) -> None:
        self.store = store
        self.authz = authz  # records reads of another asker's conversation (no oracle: 404)

    def open(self, conversation_id: str | None, who: Principal, new_id: str | None = None) -> str:
        """The conversation to add to: a new id (``new_id`` if the caller chose it already; its
        row is written with its first exchange, by :meth:`record`), or an existing one of this
        asker's."""
        if conversation_id is None:
            return new_id or str(ULID())
        with self.store.read() as s:
            row = s.get(Conversation, conversation_id)
            if row is None or row.user_id != who.user_id:
                raise NotFoundError(f"No conversation {conversation_id[:64]!r} for this user.")
            return row.id

    def last_question(self, conversation_id: str) -> str | None:
        """The last standalone question the asker asked in this conversation since a person
        last wrote in it: a follow-up after a person's reply leans on that reply, which is no
        question to rewrite from (re-reading an old "my card was stolen" would hand a handled
        matter off again, as a new urgent ticket)."""
        with self.store.read() as s:
            row = s.scalars(
                select(Turn)
                .where(Turn.conversation_id == conversation_id, Turn.role.in_(("asker", "human")))
                .order_by(Turn.id.desc())
                .limit(1)
            ).first()
        return (row.standalone or row.text) if row is not None and row.role == "asker" else None

    def status(self, conversation_id: str) -> str | None:
        """open | with_human (a ticket is in progress) | closed; None for no conversation."""
        with self.store.read() as s:
            row = s.get(Conversation, conversation_id)
            return row.status if row is not None else None

    def add(
        self,
        conversation_id: str,
        role: str,
        text: str,
        *,
        standalone: str | None = None,
        action: str | None = None,
        audit_id: str | None = None,
        author: str | None = None,
    ) -> None:
        with self.store.write() as (s, _):
            s.add(
                Turn(
                    conversation_id=conversation_id,
                    role=role,
                    text=text,
                    standalone=standalone,
                    action=action,
                    audit_id=audit_id,
                    author=author,
                    created_at=datetime.now(UTC),
                )
            )

    def record(
        self,
        conversation_id: str,
        who: Principal,
        turns: Sequence[NewTurn],
        session: Session | None = None,
    ) -> None:
        """One exchange in one transaction: the conversation (created on its first exchange,
        touched on later ones) and its turns. With ``session``, in the caller's transaction
        (the request's unit of work: audit row, turns, ticket and cache entry together)."""
        if session is None:
            with self.store.write() as (s, _):
                self._record(s, conversation_id, who, turns)
        else:
            self._record(session, conversation_id, who, turns)

    @staticmethod
    def _record(s: Session, conversation_id: str, who: Principal, turns: Sequence[NewTurn]) -> None:
        now = datetime.now(UTC)
        conv = s.get(Conversation, conversation_id)
        if conv is None:
            s.add(
                Conversation(
                    id=conversation_id,
                    user_id=who.user_id,
                    center=who.center,
                    status="open",
                    created_at=now,
                    updated_at=now,
                )
            )
            s.flush()
        elif conv.user_id != who.user_id:  # open() checked; never write into another's
            raise NotFoundError(f"No conversation {conversation_id[:64]!r} for this user.")
        else:
            conv.updated_at = now
        for turn in turns:
            s.add(Turn(conversation_id=conversation_id, created_at=now, **turn.__dict__))

    def set_status(self, conversation_id: str, status: str, session: Session | None = None) -> None:
        if session is not None:
            conv = session.get(Conversation, conversation_id)
            if conv is not None:
                conv.status = status
            return
        with self.store.write() as (s, _):
            self.set_status(conversation_id, status, s)

    def history(self, conversation_id: str, who: Principal) -> tuple[str, list[TurnView]]:
        """(status, turns) of the asker's own conversation."""
        missing = NotFoundError(f"No conversation {conversation_id[:64]!r} for this user.")
        with self.store.read() as s:
            conv = s.get(Conversation, conversation_id)
            owner = conv.user_id if conv is not None else None
            status = conv.status if conv is not None else ""
            turns = (
                list(
                    s.scalars(
                        select(Turn)
                        .where(Turn.conversation_id == conversation_id)
                        .order_by(Turn.id)
                    )
                )
                if owner == who.user_id
                else []
            )
        if owner is not None and owner != who.user_id and self.authz is not None:
            # The same 404 as a conversation that does not exist (no oracle), but on the record;
            # outside the read session, since a denial writes its own transaction.
            self.authz.deny(
                who, "conversation-of-another-asker", f"conversation:{conversation_id}", missing
            )
        if owner != who.user_id:
            raise missing
        return status, [
            TurnView(t.role, t.text, t.action, t.author, _aware(t.created_at), t.audit_id)
            for t in turns
        ]
