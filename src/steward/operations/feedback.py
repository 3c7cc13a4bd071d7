"""Askers' feedback on their answers: thumbs, a 1-5 rating and a comment (masked).

An asker rates only their own answers: another asker's audit id, like one that does not exist,
is a 404 (a 403 would confirm the id), and the attempt is an ``access-denied`` event. One
feedback per asker and answer: giving it again replaces it, and the ``feedback-given`` event
carries the values it replaced, so the rollup takes them back (an empty feedback withdraws
the earlier one). Negative feedback (thumbs down,
or a rating of 2 or less) puts an answer in the review queue in the same transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from ulid import ULID

from steward import audit
from steward.core.errors import InputError, NotFoundError
from steward.guard import Masker
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer, Permission
from steward.operations.review import ReviewQueue
from steward.operations.rollup import FEEDBACK_GIVEN, negative
from steward.store import Store
from steward.store.models import AuditRecord, Feedback

COMMENT_CHARS = 2000
_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


class FeedbackService:
    def __init__(
        self, store: Store, masker: Masker, authz: Authorizer, review: ReviewQueue
    ) -> None:
        self.store = store
        self.masker = masker
        self.authz = authz
        self.review = review

    def give(
        self,
        principal: Principal,
        audit_id: str,
        *,
        thumb: int | None,
        rating: int | None,
        comment: str = "",
    ) -> Feedback:
        """Record ``principal``'s feedback on their answer ``audit_id``; returns the row."""
        _validate(thumb, rating, comment)
        self.authz.authorize(principal, Permission.ASK, f"audit:{audit_id[:64]}")
        row = self._own_answer(principal, audit_id)
        # Masked before the write: the masker keeps its tokens in the store itself.
        masked = self.masker.mask(comment.strip()).text if comment.strip() else ""
        bad = negative({"thumb": thumb, "rating": rating})
        with self.store.write() as (s, _):
            fb = s.scalars(
                select(Feedback).where(
                    Feedback.audit_id == row.id, Feedback.user_id == principal.user_id
                )
            ).first()
            previous = {"thumb": fb.thumb, "rating": fb.rating} if fb is not None else None
            if fb is None:
                fb = Feedback(
                    id=str(ULID()),
                    audit_id=row.id,
                    user_id=principal.user_id,
                    center=row.center,
                    created_at=datetime.now(UTC),
                )
                s.add(fb)
            fb.thumb, fb.rating, fb.comment = thumb, rating, masked
            fb.created_at = datetime.now(UTC)
            event = audit.AuditEvent(
                FEEDBACK_GIVEN,
                actor=principal.user_id,
                target=f"audit:{row.id}",
                payload={
                    "audit_id": row.id,
                    "feedback": fb.id,
                    "thumb": thumb,
                    "rating": rating,
                    "previous": previous,
                    "comment_chars": len(masked),
                },
                groups=tuple(principal.groups),
                center=row.center,
            )
            audit.record(self.store, event, session=s)
            if bad and row.action == "answer":
                conv = (row.settings or {}).get("conversation_id")
                self.review.flag(
                    s,
                    audit_id=row.id,
                    user_id=row.user_id,
                    center=row.center,
                    conversation_id=conv if isinstance(conv, str) else None,
                    flags=["negative-feedback"],
                )
        return fb

    def _own_answer(self, principal: Principal, audit_id: str) -> AuditRecord:
        # The id is not echoed: a forged one could carry anything.
        missing = NotFoundError("No answer of yours with that id to give feedback on.")
        if not _ID.fullmatch(audit_id):
            raise missing  # a forged id never reaches the database
        with self.store.read() as s:
            row = s.get(AuditRecord, audit_id)
        if row is None or row.kind != "question":
            raise missing
        if row.user_id != principal.user_id:
            # The same 404 as an id that does not exist (no oracle), but on the record.
            rule = "feedback-on-another-askers-answer"
            self.authz.deny(principal, rule, f"audit:{row.id}", missing)
        return row

    def for_answer(self, principal: Principal, audit_id: str) -> Feedback | None:
        """The asker's own feedback on their answer, if any (the chat page shows it)."""
        row = self._own_answer(principal, audit_id)
        with self.store.read() as s:
            return s.scalars(
                select(Feedback).where(
                    Feedback.audit_id == row.id, Feedback.user_id == principal.user_id
                )
            ).first()


def _validate(thumb: int | None, rating: int | None, comment: str) -> None:
    if thumb not in (None, 1, -1):
        raise InputError("thumb is 1 (up), -1 (down) or empty.")
    if rating is not None and (isinstance(rating, bool) or not 1 <= rating <= 5):
        raise InputError("rating is a whole number from 1 to 5, or empty.")
    if len(comment) > COMMENT_CHARS:
        raise InputError(f"The comment is longer than {COMMENT_CHARS} characters.")
    if thumb is None and rating is None and not comment.strip():
        # Nothing said: stored, it would count as feedback given and dilute the figures.
        raise InputError("Give a thumb, a rating or a comment.")
