"""Audit search: rows by asker, time, kind, decision, reason and cited document, newest first,
a page at a time (keyset on the chain's sequence number, so a page costs the same anywhere in a
million rows); one row in full through :mod:`steward.audit.view`, which withholds the answer
text and cited titles of documents the reader may not read, as ``GET /v1/audit/{id}`` does."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import String, cast, or_, select

from steward.audit import trail
from steward.audit import view as audit_view
from steward.audit.events import Kind
from steward.core.errors import InputError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.rollup import FEEDBACK_GIVEN, REVIEW_CLAIMED, REVIEW_VERDICT
from steward.operations.switches import SWITCH_CLEARED, SWITCH_SET
from steward.runtime import Runtime
from steward.store.models import AuditRecord
from steward.web.console.render import PageError, act, page, rt_of, viewer
from steward.web.placeholders import shown_to

router = APIRouter(include_in_schema=False)
PAGE = 50
FILTERS = ("asker", "since", "until", "kind", "action", "reason", "document")


# Every kind the trail holds: the Kind enum and the plain-string kinds operations code writes.
KINDS = sorted(
    {
        *(k.value for k in Kind),
        FEEDBACK_GIVEN,
        REVIEW_CLAIMED,
        REVIEW_VERDICT,
        SWITCH_SET,
        SWITCH_CLEARED,
    }
)
DECISIONS = (
    "answer",
    "abstain",
    "escalate",
    "refuse",
    "error",
    "done",
    "denied",
    "shown",
    "rejected",
    "release",
    "remove",
    "reveal",
    "erase",
)
MAX_SEQ = 2**63 - 1  # the sequence column's range: a larger cursor is no page at all


def _cursor(before: str) -> int | None:
    """The ``before`` cursor (None when absent); one that is not a sequence number is a 400,
    never a silent first page nor the database's overflow as a 500."""
    if not before:
        return None
    if before.isascii() and before.isdigit() and len(before) <= 19 and 0 < int(before) <= MAX_SEQ:
        return int(before)
    raise InputError("That page of results does not exist (a bad 'before' cursor): search again.")


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name}: write a date like 2026-01-31.") from None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(rt: Runtime, q: dict[str, str], before: int | None) -> list[dict[str, Any]]:
    """One page of rows matching ``q`` (values as typed in the form), older than ``before``."""
    stmt = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(PAGE + 1)
    if before is not None:
        stmt = stmt.where(AuditRecord.seq < before)
    if q.get("asker"):
        stmt = stmt.where(AuditRecord.user_id == q["asker"])
    since, until = _day(q.get("since", ""), "From"), _day(q.get("until", ""), "To")
    # The trail writes naive UTC times (audit/trail.py): compare like with like.
    if since:
        stmt = stmt.where(AuditRecord.ts >= datetime.combine(since, time()))
    if until:
        stmt = stmt.where(AuditRecord.ts < datetime.combine(until + timedelta(days=1), time()))
    if q.get("kind"):
        stmt = stmt.where(AuditRecord.kind == q["kind"])
    if q.get("action"):
        stmt = stmt.where(AuditRecord.action == q["action"])
    if q.get("reason"):
        pattern = f"%{_like(q['reason'])}%"
        stmt = stmt.where(
            or_(
                AuditRecord.escalation_reason == q["reason"],
                AuditRecord.reason.like(pattern, escape="\\"),
            )
        )
    if q.get("document"):
        quoted = f'%"{_like(q["document"])}"%'
        stmt = stmt.where(cast(AuditRecord.citations, String).like(quoted, escape="\\"))
    with rt.store.read() as s:
        rows = list(s.scalars(stmt))
    return [
        {
            "id": r.id,
            "seq": r.seq,
            "ts": (r.ts if r.ts.tzinfo else r.ts.replace(tzinfo=UTC)).strftime("%Y-%m-%d %H:%M:%S"),
            "kind": r.kind,
            "user_id": r.user_id,
            "center": r.center,
            "action": r.action,
            "reason": r.escalation_reason or r.reason,
            "question": r.question,
            "confidence": r.confidence,
        }
        for r in rows
    ]


def detail(rt: Runtime, who: Principal, audit_id: str) -> dict[str, Any]:
    auditor = rt.authz.permits(who, Permission.AUDITOR)
    row = audit_view.record(rt.store, who, audit_id, auditor=auditor, channel="console")
    sources = audit_view.sources(rt.store, who, audit_id, auditor=auditor, channel="console")
    row["trace_id"] = trail.get(rt.store, audit_id).trace_id
    row["question"] = shown_to(who, str(row.get("question") or ""))
    row["answer"] = shown_to(who, str(row.get("answer") or ""))
    row["sources"] = sources
    return row


@router.get("/console/audit")
async def audit_search(request: Request, before: str = "") -> Response:
    seen = await viewer(request, Permission.READ_AUDIT)
    rt = rt_of(request)
    q = {k: request.query_params.get(k, "").strip()[:200] for k in FILTERS}
    cursor = await act(seen, _cursor, before)
    rows = await act(seen, search, rt, q, cursor)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    for r in rows:
        r["question"] = shown_to(seen.who, r["question"])
    older = {**{k: v for k, v in q.items() if v}, "before": str(rows[-1]["seq"])} if more else None
    return page(
        "audit.html",
        seen,
        q=q,
        rows=rows,
        older=older,
        kinds=KINDS,
        actions=DECISIONS,
        searched=any(q.values()) or cursor is not None,
    )


@router.get("/console/audit/{audit_id}")
async def audit_row(request: Request, audit_id: str) -> Response:
    seen = await viewer(request, Permission.READ_AUDIT)
    rt = rt_of(request)
    if len(audit_id) > 40:
        raise PageError(404, "No such audit record.", seen)
    row = await act(seen, detail, rt, seen.who, audit_id)
    return page("audit_row.html", seen, row=row)
