"""Evaluation sets made from what happened: reviewers' verdicts and corrections, and sampled
production questions that a reviewer labels (docs/evaluation.md, "Evaluation sets").

Every line is a question in the Meridian format (:class:`~steward.evals.runner.Question`), asked
by its original asker when the set runs. The text is what the audit trail holds: the masked
question (a follow-up as its standalone rewrite, as shadow replay asks it), never anything
raw. What the format has no field for rides along in fields the loader ignores: ``reference``
(a reviewer's masked answer) and ``source`` (the ids it came from).

How a record becomes a question (the docs say the same):

- a reviewed answer marked **right**: ``kind: answerable``, ``expected_action: answer``, the
  documents it cited as ``gold_docs``;
- marked **wrong** with a note (the reviewer's corrected answer): ``kind: correction``,
  ``expected_action: answer``, no ``answer_facts`` (a free-text answer cannot be checked word
  for word), the note as ``reference``;
- marked **wrong** without one: ``kind: correction``, ``expected_action: abstain`` (the answer
  was rejected and no better one was given: the safe action is not to answer);
- a hand-off whose reply a reviewer saved as a correction: the question that was handed off,
  ``kind: escalate``, ``expected_action: escalate`` with the ticket's reason, the reply as
  ``reference``.

A sampled set's lines carry ``kind: unlabelled`` and ``expected_action: null`` until a reviewer
labels them; the question loader refuses such a line, so an unlabelled set never runs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select

from steward.core import channels, reasons
from steward.core.errors import ForbiddenError, InputError, NotFoundError
from steward.core.strictjson import RepeatedKeyError, each_key_once
from steward.evals.runner import Question
from steward.identity.authz import Permission
from steward.profiles.shadow import replayed_question
from steward.store.models import AuditRecord, Center, Correction, ReviewItem, Ticket

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

UNLABELLED = "unlabelled"
MAX_SAMPLE = 1000
POOL = 20_000  # a sample draws from at most this many of the window's newest questions
CHUNK = 500  # ids per IN (...) query


def _blank(qid: str, user: str, question: str) -> dict[str, Any]:
    return {
        "id": qid,
        "user": user,
        "question": question,
        "kind": UNLABELLED,
        "expected_action": None,
        "gold_docs": [],
        "answer_facts": [],
        "must_not_contain": [],
        "escalation_reason": None,
        "pii_in_question": [],
    }


def _scope(rt: Runtime, who: Principal, center: str | None) -> str | None:
    """The one center the caller reads (None: every center). A reviewer bound to a center sees
    that center's records only, as in the review queue; asking for another is refused."""
    everywhere = who.center is None or rt.authz.permits(who, Permission.SEE_ALL_CENTERS)
    if center is not None:
        with rt.store.read() as s:
            if s.get(Center, center) is None:
                known = ", ".join(sorted(s.scalars(select(Center.id)))) or "none"
                raise NotFoundError(f"Unknown center {center[:64]!r}; the centers: {known}.")
        if not everywhere and center != who.center:
            refused = ForbiddenError(f"You read the records of center {who.center} only.")
            rt.authz.deny(who, "set-of-another-center", f"center:{center}", refused)
        return center
    return None if everywhere else who.center


def _since(since: timedelta) -> datetime:
    if since <= timedelta(0):
        raise InputError("The period must be more than 0.")
    return (datetime.now(UTC) - since).replace(tzinfo=None)


def _rows(s: Any, ids: Sequence[str]) -> dict[str, AuditRecord]:
    out: dict[str, AuditRecord] = {}
    for i in range(0, len(ids), CHUNK):
        q = select(AuditRecord).where(AuditRecord.id.in_(ids[i : i + CHUNK]))
        out.update({r.id: r for r in s.scalars(q)})
    return out


def _cited(citations: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(c["doc_id"]) for c in citations or [] if isinstance(c, dict)))


def _reason(name: str | None) -> str | None:
    return name if name in reasons.BY_NAME else None


def from_corrections(
    rt: Runtime, who: Principal, since: timedelta, center: str | None = None
) -> list[dict[str, Any]]:
    """Reviewers' verdicts and saved corrections of the last ``since`` as questions (module
    docstring); masked, oldest first. Reviewers and up; a reviewer of one center gets that
    center's."""
    rt.authz.authorize(who, Permission.READ_PROFILES, "eval-sets")
    scope = _scope(rt, who, center)
    start = _since(since)
    with rt.store.read() as s:
        iq = select(ReviewItem).where(
            ReviewItem.verdict.is_not(None), ReviewItem.reviewed_at >= start
        )
        cq = (
            select(Correction, Ticket)
            .join(Ticket, Ticket.id == Correction.ticket_id)
            .where(Correction.created_at >= start)
        )
        if scope is not None:
            iq, cq = iq.where(ReviewItem.center == scope), cq.where(Ticket.center == scope)
        items = list(s.scalars(iq.order_by(ReviewItem.reviewed_at, ReviewItem.id)))
        saved = [(c, t) for c, t in s.execute(cq.order_by(Correction.created_at, Correction.id))]
        rows = _rows(s, [i.audit_id for i in items] + [t.audit_id for _, t in saved])
    out: list[dict[str, Any]] = []
    for item in items:
        row = rows.get(item.audit_id)
        if row is None or not row.question:
            continue  # its audit row was pruned: nothing masked left to ask
        q = _blank(f"review-{item.id}", item.user_id, replayed_question(row.question))
        q["source"] = {"review": item.id, "audit_id": item.audit_id, "verdict": item.verdict}
        if item.verdict == "right":
            q |= {"kind": "answerable", "expected_action": "answer"}
            q["gold_docs"] = _cited(row.citations)
        elif item.note:
            q |= {"kind": "correction", "expected_action": "answer", "reference": item.note}
        else:
            q |= {"kind": "correction", "expected_action": "abstain"}
        out.append(q)
    for c, t in saved:
        row = rows.get(t.audit_id)
        text = handed_off(row.question if row is not None else None, c.question)
        if not text:
            continue
        reason = _reason(c.escalation_reason or t.reason)
        q = _blank(f"correction-{c.id}", c.user_id, text)
        q |= {"kind": "escalate" if reason else "correction", "expected_action": "escalate"}
        q |= {"escalation_reason": reason, "reference": c.answer}
        q["source"] = {"correction": c.id, "ticket": t.id, "audit_id": t.audit_id}
        out.append(q)
    return [_masked(rt, q) for q in out]


def handed_off(logged: str | None, first_turn: str | None) -> str:
    """The question a ticket was opened for (its audit row's masked question), else the
    conversation's first question, which a saved correction keeps."""
    return replayed_question(logged or first_turn or "")


def _masked(rt: Runtime, q: dict[str, Any]) -> dict[str, Any]:
    """Mask again what was stored masked: a record written before a recognizer existed, or
    a reviewer's note, must not carry a raw value into a file that travels."""
    for key in ("question", "reference"):
        if q.get(key):
            q[key] = rt.masker.mask(str(q[key])).text
    return q


def sample(
    rt: Runtime,
    who: Principal,
    since: timedelta,
    n: int,
    *,
    center: str | None = None,
    seed: int | None = None,
) -> list[dict[str, Any]]:
    """``n`` askers' questions of the last ``since``, drawn at random (the same ``seed`` draws
    the same ones), masked, unlabelled, for a reviewer to label. Evaluation and shadow
    questions are not askers' and are never drawn; a question asked twice by the same asker
    is drawn once."""
    rt.authz.authorize(who, Permission.READ_PROFILES, "eval-sets")
    if not 1 <= n <= MAX_SAMPLE:
        raise InputError(f"--n is from 1 to {MAX_SAMPLE}.")
    scope = _scope(rt, who, center)
    q = (
        select(AuditRecord.id, AuditRecord.user_id, AuditRecord.question, AuditRecord.action)
        .where(
            AuditRecord.kind == "question",
            AuditRecord.ts >= _since(since),
            AuditRecord.channel.not_in(sorted(channels.OFFLINE)),
            AuditRecord.question != "",
        )
        .order_by(AuditRecord.seq.desc())
        .limit(POOL)
    )
    if scope is not None:
        q = q.where(AuditRecord.center == scope)
    with rt.store.read() as s:
        pool = list(s.execute(q))
    random.Random(seed).shuffle(pool)
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for row in pool:
        text = replayed_question(row.question)
        if (row.user_id, text) in seen:
            continue
        seen.add((row.user_id, text))
        line = _blank(f"sample-{row.id}", row.user_id, text)
        line["source"] = {"audit_id": row.id, "logged_action": row.action}
        out.append(_masked(rt, line))
        if len(out) == n:
            break
    return sorted(out, key=lambda r: str(r["id"]))


def unlabelled(row: Any) -> bool:
    """A line still waiting for a reviewer's label."""
    return isinstance(row, dict) and (
        row.get("kind") == UNLABELLED
        or ("expected_action" in row and row["expected_action"] is None)
    )


def check(path: Path) -> tuple[int, list[tuple[int, str]]]:
    """(questions in the file, [(line number, id) of each unlabelled one]); InputError for a
    line that is not JSON, or a labelled line that is not a valid question."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read question file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8."
        ) from exc
    total, left = 0, []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        total += 1
        try:
            row = json.loads(line, object_pairs_hook=each_key_once)
        except RepeatedKeyError as exc:
            raise InputError(f"{path}:{n}: the key {exc.key[:40]!r} is written twice.") from exc
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not JSON (column {exc.colno}: {exc.msg}).") from exc
        if unlabelled(row):
            left.append((n, str(row.get("id", "?"))[:120]))
            continue
        try:
            Question.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "line"
            raise InputError(f"{path}:{n}: {where}: {first['msg']}.") from exc
    if not total:
        raise InputError(f"Question file {path} has no questions.")
    return total, left


def write(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSONL (one question a line); returns how many."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot write {path}: {exc.strerror}") from exc
    return text.count("\n")
