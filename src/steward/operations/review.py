"""Quality monitoring: answered conversations put in front of reviewers, and their verdicts.

An answer is flagged when it is committed (:meth:`ReviewQueue.watch`, inside the answer's own
unit of work, from a few indexed reads): its confidence barely cleared its center's threshold
(``low-margin``), one of its sentences barely passed the grounding check (``weak-grounding``),
it answers a follow-up that repeats the conversation's previous question (``repeated``), or its
asker sent an unusual number of questions in the last hour (``unusual-volume``). Negative
feedback flags it later (``negative-feedback``, from :class:`~steward.operations.feedback.
FeedbackService`). Reviewers of the answer's center (operators: every center) claim an item
and mark the answer right or wrong; verdicts make answer precision (docs/metrics.md).

A flag is not an audit event of its own: it is worked out from the answer's audit row (its
confidence, threshold, grounding and conversation) and the trail before it. Claims and verdicts
are events (``review-claimed``, ``review-verdict``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.answering.answer import AnswerResult
from steward.config.settings import OperationsSettings
from steward.core import channels
from steward.core.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from steward.guard import Masker
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer, Permission
from steward.operations.rollup import REVIEW_CLAIMED, REVIEW_VERDICT
from steward.retrieval.search import stem_terms
from steward.store import Store
from steward.store.models import AuditRecord, ReviewItem, Turn

FLAGS = ("negative-feedback", "low-margin", "weak-grounding", "repeated", "unusual-volume")
STATUSES = ("open", "claimed", "reviewed")
VERDICTS = ("right", "wrong")
MAX_LIST = 500
NOTE_CHARS = 2000
_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_WORD = re.compile(r"\w+")
_STANDALONE = " [standalone: "


@dataclass(frozen=True)
class ReviewView:
    """One review item with the masked question and answer it is about."""

    id: str
    audit_id: str
    conversation_id: str | None
    user_id: str
    center: str | None
    flags: list[str]
    status: str
    assignee: str | None
    verdict: str | None
    note: str
    created_at: datetime
    reviewed_at: datetime | None
    question: str
    answer: str
    confidence: float | None
    citations: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("created_at", "reviewed_at"):
            out[k] = _aware(out[k]).isoformat() if out[k] is not None else None
        return out


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def similarity(a: str, b: str) -> float:
    """Word overlap (Jaccard) of two masked texts, 0..1."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


class ReviewQueue:
    def __init__(
        self,
        store: Store,
        masker: Masker,
        authz: Authorizer,
        settings: OperationsSettings | None = None,
    ) -> None:
        self.store = store
        self.masker = masker
        self.authz = authz
        self.ops = settings or OperationsSettings()

    # ------------------------------------------------------------------ flagging

    def watch(self, s: Session, audit_id: str, entry: audit.AuditEntry) -> list[str]:
        """Flag an answer being committed (``s`` is its unit of work); returns the flags."""
        if entry.action != "answer" or entry.channel in channels.OFFLINE:
            return []  # an evaluation's or a shadow replay's answer reached no one
        flags = self.checks(s, audit_id, entry)
        if flags:
            conv = entry.settings.get("conversation_id")
            self.flag(
                s,
                audit_id=audit_id,
                user_id=entry.user_id,
                center=entry.center,
                conversation_id=conv if isinstance(conv, str) else None,
                flags=flags,
            )
        return flags

    def checks(self, s: Session, audit_id: str, entry: audit.AuditEntry) -> list[str]:
        """Which quality flags an answer raises (see the module's docstring)."""
        ops, settings = self.ops, entry.settings
        flags: list[str] = []
        bar = settings.get("answer_threshold")
        low = isinstance(bar, int | float) and entry.confidence - float(bar) < ops.review_margin
        if ops.review_margin > 0 and low:
            flags.append("low-margin")
        grounding = settings.get("grounding")
        if isinstance(grounding, int | float) and grounding < ops.review_grounding:
            flags.append("weak-grounding")
        conv = settings.get("conversation_id")
        question = entry.question.split(_STANDALONE, 1)[0]
        if isinstance(conv, str) and self._repeats(s, conv, audit_id, question):
            flags.append("repeated")
        if ops.review_volume_per_hour > 0 and self._busy(s, entry.user_id):
            flags.append("unusual-volume")
        return flags

    def _repeats(self, s: Session, conv: str, audit_id: str, question: str) -> bool:
        previous = s.execute(
            select(Turn.text)
            .where(
                Turn.conversation_id == conv,
                Turn.role == "asker",
                (Turn.audit_id != audit_id) | Turn.audit_id.is_(None),
            )
            .order_by(Turn.id.desc())
            .limit(1)
        ).scalar()
        return (
            previous is not None
            and similarity(previous, question) >= self.ops.review_repeat_similarity
        )

    def _busy(self, s: Session, user_id: str) -> bool:
        since = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)
        n = s.execute(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.ts >= since,
                AuditRecord.user_id == user_id,
                AuditRecord.kind == "question",
            )
        ).scalar()
        return int(n or 0) > self.ops.review_volume_per_hour

    def flag(
        self,
        s: Session,
        *,
        audit_id: str,
        user_id: str,
        center: str | None,
        conversation_id: str | None,
        flags: list[str],
    ) -> ReviewItem:
        """Put an answer in the queue, or add ``flags`` to its item; inside the caller's unit
        of work (the answer's commit, or the feedback that flags it)."""
        item = s.scalars(select(ReviewItem).where(ReviewItem.audit_id == audit_id)).first()
        if item is not None:
            item.flags = list(dict.fromkeys([*item.flags, *flags]))
            return item
        item = ReviewItem(
            id=str(ULID()),
            audit_id=audit_id,
            conversation_id=conversation_id,
            user_id=user_id,
            center=center,
            flags=list(dict.fromkeys(flags)),
            status="open",
            assignee=None,
            verdict=None,
            note="",
            created_at=datetime.now(UTC),
        )
        s.add(item)
        return item

    # ------------------------------------------------------------------ the queue

    def _require(self, who: Principal, resource: str) -> None:
        self.authz.authorize(who, Permission.WORK_TICKETS, resource)

    def _everywhere(self, who: Principal) -> bool:
        return who.center is None or self.authz.permits(who, Permission.SEE_ALL_CENTERS)

    def list(
        self,
        who: Principal,
        status: str | None = None,
        center: str | None = None,
        limit: int = 50,
    ) -> list[ReviewView]:
        """Items this reviewer may work (their center; operators every center, or ``center``):
        open first, then claimed, then reviewed; oldest first within each."""
        if status is not None and status not in STATUSES:
            raise InputError(f"Unknown review status; use one of: {', '.join(STATUSES)}.")
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"limit must be between 1 and {MAX_LIST}.")
        self._require(who, "review")
        order = case({s: i for i, s in enumerate(STATUSES)}, value=ReviewItem.status, else_=9)
        q = select(ReviewItem).order_by(order, ReviewItem.created_at, ReviewItem.id).limit(limit)
        if status:
            q = q.where(ReviewItem.status == status)
        if not self._everywhere(who):
            q = q.where(ReviewItem.center == who.center)  # scoping: the rest is not this queue
        elif center is not None:
            q = q.where(ReviewItem.center == center)
        with self.store.read() as s:
            items = list(s.scalars(q))
            rows = {
                r.id: r
                for r in s.scalars(
                    select(AuditRecord).where(AuditRecord.id.in_([i.audit_id for i in items]))
                )
            }
        return [_view(i, rows.get(i.audit_id)) for i in items]

    def _get(self, who: Principal, item_id: str) -> ReviewItem:
        self._require(who, f"review:{item_id}")
        missing = NotFoundError(f"No review item {item_id[:64]!r} in your queue.")
        if not _ID.fullmatch(item_id):
            raise missing
        with self.store.read() as s:
            item = s.get(ReviewItem, item_id)
        if item is None:
            raise missing
        if not self._everywhere(who) and item.center != who.center:
            self.authz.deny(who, "review-of-another-center", f"review:{item.id}", missing)
        return item

    def get(self, who: Principal, item_id: str) -> ReviewView:
        item = self._get(who, item_id)
        with self.store.read() as s:
            row = s.get(AuditRecord, item.audit_id)
        return _view(item, row)

    def _event(self, kind: str, who: Principal, item: ReviewItem, **payload: object) -> Any:
        return audit.AuditEvent(
            kind,
            actor=who.user_id,
            target=f"review:{item.id}",
            payload={"audit_id": item.audit_id, "status": item.status, **payload},
            groups=tuple(who.groups),
            center=item.center,
        )

    def claim(self, who: Principal, item_id: str) -> ReviewView:
        item = self._get(who, item_id)
        if item.assignee not in (None, who.user_id):
            busy = ForbiddenError(f"Review item {item_id} is claimed by {item.assignee}.")
            self.authz.deny(who, "review-claimed-by-another", f"review:{item.id}", busy)
        with self.store.write() as (s, _):
            row = s.get(ReviewItem, item.id)
            assert row is not None
            if row.status == "reviewed":
                raise ConflictError(f"Review item {item_id} is reviewed; it cannot be claimed.")
            if row.assignee not in (None, who.user_id):
                raise ForbiddenError(f"Review item {item_id} is claimed by {row.assignee}.")
            row.status, row.assignee = "claimed", who.user_id
            audit.record(self.store, self._event(REVIEW_CLAIMED, who, row), session=s)
        return self.get(who, item_id)

    def verdict(self, who: Principal, item_id: str, verdict: str, note: str = "") -> ReviewView:
        """Mark the answer right or wrong (a reviewer may change their verdict; the rollup
        takes the earlier one back). Someone else's claim needs RESOLVE_ANY_TICKET."""
        if verdict not in VERDICTS:
            raise InputError("The verdict is right or wrong.")
        if len(note) > NOTE_CHARS:
            raise InputError(f"The note is longer than {NOTE_CHARS} characters.")
        item = self._get(who, item_id)
        if item.assignee not in (None, who.user_id):
            hint = f"Review item {item_id} is claimed by {item.assignee}."
            self.authz.authorize(
                who, Permission.RESOLVE_ANY_TICKET, f"review:{item.id}", message=hint
            )
        masked = self.masker.mask(note.strip()).text if note.strip() else ""
        with self.store.write() as (s, _):
            row = s.get(ReviewItem, item.id)
            assert row is not None
            previous = row.verdict
            row.verdict, row.note, row.status = verdict, masked, "reviewed"
            row.assignee = row.assignee or who.user_id
            row.reviewed_at = datetime.now(UTC)
            event = self._event(
                REVIEW_VERDICT,
                who,
                row,
                verdict=verdict,
                previous=previous,
                note_chars=len(masked),
            )
            audit.record(self.store, event, session=s)
        return self.get(who, item_id)

    def depth(self) -> tuple[int, datetime | None]:
        """Items not reviewed yet, and when the oldest of them was flagged (for telemetry)."""
        with self.store.read() as s:
            n, oldest = s.execute(
                select(func.count(), func.min(ReviewItem.created_at)).where(
                    ReviewItem.status != "reviewed"
                )
            ).one()
        return int(n or 0), _aware(oldest) if oldest is not None else None


def _view(item: ReviewItem, row: AuditRecord | None) -> ReviewView:
    return ReviewView(
        id=item.id,
        audit_id=item.audit_id,
        conversation_id=item.conversation_id,
        user_id=item.user_id,
        center=item.center,
        flags=list(item.flags),
        status=item.status,
        assignee=item.assignee,
        verdict=item.verdict,
        note=item.note,
        created_at=item.created_at,
        reviewed_at=item.reviewed_at,
        question=row.question if row is not None else "",
        answer=row.answer if row is not None else "",
        confidence=row.confidence if row is not None else None,
        citations=list(row.citations) if row is not None else [],
    )


def grounding(result: AnswerResult) -> float | None:
    """How well the answer's weakest sentence is grounded: the least share of a sentence's
    content words found in the passage it cites (1.0: held word for word; the grounding check
    drops a sentence below 0.6). None without sentences. Kept on the audit row."""
    by_n = {p.n: p for p in result.passages}
    have: dict[int, set[str]] = {}
    shares: list[float] = []
    for claim in result.draft.claims:
        passage = by_n.get(claim.passage)
        words = set(stem_terms(claim.text))
        if passage is None or not words:
            continue
        if passage.n not in have:
            have[passage.n] = set(stem_terms(passage.text + " " + passage.heading))
        shares.append(len(words & have[passage.n]) / len(words))
    return round(min(shares), 4) if shares else None
