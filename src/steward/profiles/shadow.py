"""Shadow replay: the masked questions askers asked in a window, answered again by a candidate
profile version, shown to no one, compared question by question with what they were told.

A logged question is replayed as it was recorded (masked; a follow-up as its standalone
rewrite) for its asker with the entitlements they hold now (an asker who has left is skipped),
on the ``shadow`` channel: nothing is cached, flagged for review or counted as traffic, and no
ticket is opened. Production questions carry no gold answer, so the comparison says what
changed: the action (answered, abstained, handed off, refused), the cited documents, and where a
reviewer judged the logged answer, whether the candidate fixed or broke it. The risky changes
are named apart: a hand-off the candidate would miss, and an answer where there was none.

>>> run = shadow(rt, who, candidate=3, since=timedelta(days=7))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from ulid import ULID

from steward import audit
from steward.core import channels
from steward.core.errors import InputError, NotFoundError, StewardError
from steward.identity.auth import principal_for
from steward.identity.authz import Permission
from steward.pipeline.orchestrator import ask
from steward.store.models import AuditRecord, EvalResult, EvalRun, ReviewItem

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

STANDALONE = " [standalone: "
REPLAYED = ("answer", "abstain", "escalate", "refuse")
MAX_QUESTIONS = 10_000


def replayed_question(logged: str) -> str:
    """The text to replay: a follow-up's standalone rewrite, else the question as logged."""
    if STANDALONE in logged and logged.endswith("]"):
        return logged.split(STANDALONE, 1)[1][:-1]
    return logged


def _cited(citations: list[Any]) -> list[str]:
    return sorted({str(c.get("doc_id")) for c in citations or [] if isinstance(c, dict)})


def shadow(
    rt: Runtime,
    who: Principal,
    candidate: int,
    since: timedelta,
    *,
    center: str | None = None,
    limit: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Replay up to ``limit`` logged questions of the last ``since`` (newest first; one center
    or all) against ``candidate``; store the run (kind ``shadow``) and return its summary."""
    rt.authz.authorize(who, Permission.MANAGE_PROFILES, f"profile:{candidate}")
    if not 1 <= limit <= MAX_QUESTIONS:
        raise InputError(f"--limit is from 1 to {MAX_QUESTIONS:,}.")
    cand = rt.profiles.runtime_for(candidate)  # NotFoundError for an unknown version
    start = datetime.now(UTC) - since
    q = (
        select(
            AuditRecord.id,
            AuditRecord.user_id,
            AuditRecord.question,
            AuditRecord.action,
            AuditRecord.escalation_reason,
            AuditRecord.citations,
            AuditRecord.settings,
        )
        .where(
            AuditRecord.kind == "question",
            AuditRecord.ts >= start,
            AuditRecord.channel.not_in(sorted(channels.OFFLINE)),
            AuditRecord.action.in_(REPLAYED),
        )
        .order_by(AuditRecord.seq.desc())
        .limit(limit)
    )
    if center is not None:
        q = q.where(AuditRecord.center == center)
    with rt.store.read() as s:
        rows = list(s.execute(q))
        verdicts = dict(
            s.execute(
                select(ReviewItem.audit_id, ReviewItem.verdict).where(
                    ReviewItem.audit_id.in_([r.id for r in rows]),
                    ReviewItem.verdict.is_not(None),
                )
            ).all()
        )
    if not rows:
        raise NotFoundError("No logged question to replay in that window.")
    began = time.perf_counter()
    results: list[EvalResult] = []
    counts: Counter[str] = Counter()
    principals: dict[str, Principal | None] = {}
    for i, row in enumerate(reversed(rows)):  # oldest first, as they were asked
        if row.user_id not in principals:
            try:
                principals[row.user_id] = principal_for(rt.store, row.user_id)
            except StewardError:
                principals[row.user_id] = None  # left, or never in the directory
        asker = principals[row.user_id]
        if asker is None:
            counts["skipped"] += 1
            continue
        r = ask(cand, asker, replayed_question(row.question), channel=channels.SHADOW)
        change = _change(row.action, r.action, row.escalation_reason, r.escalation_reason)
        counts[change] += 1
        before, after = _cited(row.citations), _cited([c.as_dict() for c in r.citations])
        if row.action == r.action == "answer" and before != after:
            counts["citations_changed"] += 1
        verdict = verdicts.get(row.id)
        judged = _judged(verdict, row.action, r.action, before, after)
        if judged:
            counts[judged] += 1
        results.append(
            EvalResult(
                run_id="",
                qid=row.id,
                kind="shadow",
                expected=row.action,
                action=r.action,
                correct=change == "same",
                leak=False,
                audit_id=r.audit_id,
                detail={
                    "change": change,
                    "verdict": verdict,
                    "judged": judged,
                    "cited_before": before,
                    "cited_after": after,
                    "confidence": r.confidence,
                    "profile_before": (row.settings or {}).get("profile"),
                },
            )
        )
        if progress is not None:
            progress(i + 1)
    elapsed = time.perf_counter() - began
    replayed = len(results)
    # What the candidate could not do as itself: its provider failed and the fallback (or an
    # abstention) stood in, or the request failed. Read from its own audit rows.
    with rt.store.read() as s:
        replay_rows = s.execute(
            select(AuditRecord.action, AuditRecord.settings, AuditRecord.reason).where(
                AuditRecord.id.in_([r.audit_id for r in results if r.audit_id])
            )
        ).all()
    degraded = sum(1 for a, st, _ in replay_rows if (st or {}).get("degraded"))
    unavailable = sum(
        1 for a, _, why in replay_rows if a == "error" or (why or "").startswith("provider.")
    )
    figures = {
        "questions": replayed,
        "skipped": counts["skipped"],
        "same_action": counts["same"],
        "changed": replayed - counts["same"],
        "missed_escalations": counts["missed-escalation"],
        "new_escalations": counts["new-escalation"],
        "new_answers": counts["new-answer"],
        "lost_answers": counts["lost-answer"],
        "other_changes": counts["other"],
        "citations_changed": counts["citations_changed"],
        "degraded": degraded,
        "provider_unavailable_or_failed": unavailable,
        "reviewed_fixed": counts["fixed"],
        "reviewed_broken": counts["broken"],
        "seconds": round(elapsed, 2),
    }
    run = EvalRun(
        id=str(ULID()), kind="shadow", profile_version=candidate,
        set_name=f"shadow {center or 'all centers'} since {start.isoformat()[:16]}",
        set_digest=hashlib.sha256(",".join(r.qid for r in results).encode()).hexdigest(),
        questions=replayed, figures=figures, baseline_run_id=None, verdict=None,
        comparison={"window_start": start.isoformat(), "center": center},
        author=who.user_id, created_at=datetime.now(UTC),
    )  # fmt: skip
    with rt.store.write() as (s, _):
        s.add(run)
        for res in results:
            res.run_id = run.id
            s.add(res)
        event = audit.AuditEvent(
            audit.Kind.EVAL_RUN, actor=who.user_id, target=f"eval-run:{run.id}",
            payload={"kind": "shadow", "profile_version": candidate, **figures},
            channel="cli" if who.via == "cli" else "service",
            groups=tuple(sorted(who.groups)), center=who.center,
        )  # fmt: skip
        audit.record(rt.store, event, session=s)
    return {"run_id": run.id, "profile_version": candidate, **figures}


def _change(before: str, after: str, reason_before: str | None, reason_after: str | None) -> str:
    if before == after:
        same_reason = before != "escalate" or reason_before == reason_after
        return "same" if same_reason else "other"
    if before == "escalate":
        return "missed-escalation"  # the riskiest change: a person would not have seen it
    if after == "escalate":
        return "new-escalation"
    if after == "answer":
        return "new-answer"
    if before == "answer":
        return "lost-answer"
    return "other"


def _judged(
    verdict: str | None, before: str, after: str, cited_before: list[str], cited_after: list[str]
) -> str | None:
    """Against a reviewer's verdict on the logged answer: a wrong answer the candidate no
    longer gives is fixed; a right one it changes or drops is broken."""
    if verdict not in ("right", "wrong") or before != "answer":
        return None
    same = after == "answer" and cited_after == cited_before
    if verdict == "wrong":
        return None if same else "fixed"
    return None if same else "broken"
