"""How a decided request is written down: the text the asker gets, its audit row, and the one
unit of work that keeps the audit row, the conversation turns, the hand-off ticket and the cache
entry together (all of them commit, or none does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from steward import audit
from steward.answering.providers.base import Passage
from steward.core import channels, reasons
from steward.core.errors import StewardError
from steward.observability.context import current as current_context
from steward.operations.review import grounding
from steward.pipeline.cache import CACHED_ACTIONS
from steward.pipeline.conversations import NewTurn
from steward.pipeline.decide import Decision
from steward.pipeline.policy import Policy
from steward.pipeline.stages import WITH_PERSON, cache_key, output_guard
from steward.pipeline.turn import Citation, Response, Turn
from steward.retrieval.search import query_terms
from steward.runtime import Runtime
from steward.store.models import AuditRecord

ERROR = "error"  # the action of a request that failed before it was decided
ROLLOUT_RULE = "rollout.not_rolled_out"  # sponsor/rollout.py: the previous behaviour


@dataclass(frozen=True)
class Outcome:
    """What the asker is shown, before it is recorded."""

    decision: Decision
    answer: str
    citations: list[Citation]
    confidence: float


def _short(word: str, limit: int = 40) -> str:
    """A word as repeated to the asker: a very long one cut ("a 4,000-letter word" is no word)."""
    return word if len(word) <= limit else word[:limit] + "…"


def message(
    decision: Decision,
    passages: list[Passage],
    question: str,
    policy: Policy | None = None,
    confidence: float = 0.0,
    read_as: dict[str, str] | None = None,
) -> str:
    """What the asker is told of a decision other than an answer. ``read_as``: misspelt words
    of the question and the knowledge base's words they were searched as."""
    if decision.action == "refuse":
        return (
            "I can't help with that: the request asks me to ignore my instructions or to "
            "reveal content that I can't share. Ask me about products, fees or procedures."
        )
    if decision.action == "escalate":
        # The reason stays with staff (the ticket, the audit row, the response's
        # ``escalation_reason``): told "reason: mule" or "reason: fraud", a customer would be
        # tipped off about a suspicion the bank may not disclose.
        text = (
            "I'm handing this conversation to a person who can help. "
            "They will see what you wrote, so you don't need to repeat it."
        )
        if decision.rule == WITH_PERSON:
            text = (
                "A person has your conversation: I've passed this message to them, and their "
                "reply will appear here."
            )
        hours = policy.business_hours if policy is not None else None
        if hours is not None and not hours.is_open(datetime.now(UTC)):
            text += (
                f" Our team is available {hours.describe()}; a person will pick this up "
                "when we open."
            )
        return text
    if decision.rule == ROLLOUT_RULE:
        return (
            "I can't answer this here yet: this topic is still being rolled out and is not "
            "open to you. Please use your usual channel for it."
        )
    # Words only: a number the masker did not know for personal (a date of birth typed in a
    # way it missed) is not repeated back, nor kept again in the answer cache.
    spelt = read_as or {}
    words = [
        _short(spelt.get(t, t)) for t in query_terms(question) if not any(c.isdigit() for c in t)
    ]
    terms = ", ".join(words[:8]) or "your question"
    titles = list(dict.fromkeys(p.title for p in passages))[:3]
    looked = f" The closest sources I can show you were: {'; '.join(titles)}." if titles else ""
    bar = policy.answer_threshold if policy is not None else 1.0
    if decision.rule.endswith(":threshold") and confidence >= bar / 2:
        # The words say what the figures say: an answer was found, just not sure enough (far
        # below the bar, "found nothing that answers this" is the truer sentence).
        return (
            f"I don't know for sure. I searched the knowledge you can access for: "
            f"{terms}; the best answer I found has confidence {confidence:.2f}, below the "
            f"{bar:.2f} required here, so I won't guess.{looked}"
        )
    if decision.rule.startswith("answerability."):
        detail = decision.reason.split(": ", 1)[-1]
        return (
            f"I don't know. I searched the knowledge you can access for: {terms}; what I "
            f"found does not answer what you asked ({detail}), so I won't guess.{looked}"
        )
    return (
        f"I don't know. I searched the knowledge you can access for: {terms}, and found "
        f"nothing that answers this confidently, so I won't guess.{looked}"
    )


def render(rt: Runtime, t: Turn, decision: Decision) -> Outcome:
    """The answer text, citations and confidence for a decision."""
    result, cached = t.result, t.cached
    if cached is not None:
        return Outcome(
            decision,
            cached["answer"],
            [Citation(**c) for c in cached["citations"]],
            float(cached["confidence"]),
        )
    answered = result is not None and decision.action == "answer"
    if answered:
        assert result is not None
        text = result.draft.text
    else:
        # The words searched for: the question as read (attack sentences dropped, misspellings
        # and look-alike letters read), else as masked.
        question = ""
        if decision.action == "abstain":
            question = t.und.question if t.und is not None and t.und.question else t.masked
        confidence = result.confidence if result is not None else 0.0
        read_as = {f.typed: f.read_as for f in t.spelling}
        text = message(decision, t.passages, question, t.policy, confidence, read_as)
    if t.streamed and decision.action != "answer":
        if decision.action == "abstain":
            text = (
                "I'm not sure the sentences above answer all of your question, so I'll stop "
                "there: each is supported by its cited source; nothing else was."
            )
        text = f"{t.streamed}\n\n{text}"
    cited = result.cited if (result is not None and answered) else []
    if answered:
        with t.timer.stage("output_guard"):
            text = output_guard(rt, text, cited)
    citations = [Citation(p.doc_id, p.chunk_id, p.title, p.version) for p in cited]
    confidence = round(result.confidence, 4) if result else 0.0
    return Outcome(decision, text, citations, confidence)


def commit(rt: Runtime, t: Turn, out: Outcome) -> Response:
    """Write the request's audit row, turns, ticket and cache entry in one transaction."""
    decision = out.decision
    entry = _entry(rt, t, decision, out.answer, out.citations, out.confidence)
    # Worked out before the write lock is taken: an embedding is no work for inside it.
    cacheable = _cacheable(rt, t, decision)
    vector = _cache_vector(rt, t) if cacheable else None
    with rt.store.write() as (s, _):
        with t.timer.stage("audit"):
            audit_id = audit.append(rt.store, entry, session=s)
            _link_trace(s, audit_id)
        response = _response(t, out, audit_id)
        if t.conversation_id is not None:
            rt.conversations.record(t.conversation_id, t.principal, _turns(t, response), s)
            if decision.action == "escalate":
                response.ticket_id = _hand_off(rt, t, response, s)
        # Quality monitoring (operations/review.py): a few indexed reads in the same unit of work.
        rt.review.watch(s, audit_id, entry)
        if vector is not None:
            _cache(rt, t, response, vector, s)
    return response


def record_failure(rt: Runtime, t: Turn, code: str) -> str:
    """One audit row for a request that failed: action ``error``, its reason the error's code
    (an exception's text could carry what the asker wrote, so it is never recorded)."""
    decision = Decision(ERROR, f"the request failed ({code})", rule=f"error.{code}")
    # Sentences already streamed were verified and guarded: the row keeps what was shown.
    entry = _entry(rt, t, decision, "".join(t.shown), [], 0.0)
    with t.timer.stage("audit"), rt.store.write() as (s, _):
        audit_id = audit.append(rt.store, entry, session=s)
        _link_trace(s, audit_id)
        return audit_id


def _link_trace(s: Any, audit_id: str) -> None:
    """The row names the trace of the request that wrote it, when tracing is on (outside the
    row's hash: it links the row to telemetry, it is not part of the decision)."""
    ctx = current_context()
    if ctx is not None and ctx.trace_id:
        s.get(AuditRecord, audit_id).trace_id = ctx.trace_id


def _response(t: Turn, out: Outcome, audit_id: str) -> Response:
    result = t.result
    return Response(
        audit_id=audit_id,
        action=out.decision.action,
        answer=out.answer,
        citations=out.citations,
        confidence=out.confidence,
        escalation_reason=out.decision.escalation_reason,
        reason=out.decision.reason,
        latency_ms=t.timer.total(),
        stages_ms=dict(t.timer.stages),
        sources=list(dict.fromkeys(p.doc_id for p in t.passages)),
        conversation_id=t.conversation_id,
        cache=t.cache_kind,
        tokens=result.tokens if result else (0, 0),
    )


def _turns(t: Turn, response: Response) -> list[NewTurn]:
    return [
        NewTurn("asker", t.masked, standalone=t.standalone, audit_id=response.audit_id),
        NewTurn("assistant", response.answer, action=response.action, audit_id=response.audit_id),
    ]


def _hand_off(rt: Runtime, t: Turn, response: Response, s: Any) -> str:
    assert t.und is not None and t.conversation_id is not None
    return rt.handoff.open(
        conversation_id=t.conversation_id,
        who=t.principal,
        reason=response.escalation_reason or reasons.REVIEW.name,
        detail=response.reason,
        intent=t.und.intent,
        signals=[sig.reason for sig in t.und.signals],
        sources=response.sources[:5],
        audit_id=response.audit_id,
        hours=t.policy.business_hours,
        session=s,
    )


def _cacheable(rt: Runtime, t: Turn, decision: Decision) -> bool:
    return (
        t.cached is None
        and decision.action in CACHED_ACTIONS
        and t.und is not None
        and t.result is not None
        and t.result.degraded is None  # a stand-in answer must not outlive the outage
        and rt.settings.cache.cache_answers
        and t.channel not in channels.OFFLINE  # an evaluation's answers are served to no one
    )


def _cache_vector(rt: Runtime, t: Turn) -> np.ndarray:
    assert t.und is not None
    return t.vector if t.vector is not None else rt.embedder.embed([t.und.question])[0]


def _cache(rt: Runtime, t: Turn, response: Response, vector: np.ndarray, s: Any) -> None:
    assert t.flt is not None and t.und is not None
    key, fp = cache_key(rt, t, t.flt.acl_ids)
    cited = {c.doc_id: c.version for c in response.citations}
    rt.cache.put(
        key, fp, t.und.question, vector, response.as_dict(), cited, t.flt.kb_version, session=s
    )


def _embedder_id(rt: Runtime) -> str:
    try:
        return rt.embedder.model_id
    except StewardError:  # the embedder failed to load: the failure is still recorded
        return str(rt.settings.embedding.name)


def _entry(
    rt: Runtime,
    t: Turn,
    decision: Decision,
    answer_text: str,
    citations: list[Citation],
    confidence: float,
) -> audit.AuditEntry:
    result = t.result
    return audit.AuditEntry(
        channel=t.channel,
        user_id=t.principal.user_id,
        groups=sorted(t.principal.groups),
        center=t.principal.center,
        question=t.masked
        if t.standalone in ("", t.masked)
        else f"{t.masked} [standalone: {t.standalone}]",
        action=decision.action,
        reason=_reason(t, decision),
        escalation_reason=decision.escalation_reason,
        confidence=confidence,
        answer=answer_text,
        citations=[c.as_dict() for c in citations],
        retrieved=[
            {
                "chunk_id": p.chunk_id,
                "doc_id": p.doc_id,
                "version": p.version,
                "score": round(p.score, 6),
                "ranks": p.ranks,
            }
            for p in t.passages
        ],
        provider=result.provider if result else ("cache" if t.cached else "none"),
        model=result.model if result else "none",
        prompt_version=result.prompt_version if result else "none",
        kb_version=t.flt.kb_version if t.flt is not None else rt.store.kb_version(),
        settings=_settings(rt, t),
        latency_ms={**t.timer.stages, "total": t.timer.total()},
    )


def _reason(t: Turn, decision: Decision) -> str:
    reason = f"{decision.rule}: {decision.reason}" if decision.rule else decision.reason
    und = t.und
    if und is not None and und.injection and not und.refuse:
        # The rest of the message went on; what was dropped stays on the record.
        kinds = sorted({f.kind for f in und.findings} | set(und.hidden_findings))
        reason += f" (instruction-like text dropped: {', '.join(kinds)})"
    return reason


def _risk(rt: Runtime, t: Turn) -> dict[str, Any] | None:
    """The risk detector's reading: the model, its threshold here, the probability (no words)."""
    if t.risk is None or rt.risk is None:
        return None
    threshold = t.policy.risk_threshold or rt.risk.threshold
    return {
        "model": rt.risk.model_id,
        "threshold": round(threshold, 4),
        "probability": t.risk.probability,
        "reason": t.risk.reason,
    }


def _settings(rt: Runtime, t: Turn) -> dict[str, Any]:
    result, policy = t.result, t.policy
    return {
        "policy": f"{policy.name}@{policy.version}",
        "profile": rt.profile_version,
        "answer_threshold": policy.answer_threshold,
        "top_k": rt.settings.retrieval.top_k,
        "embedder": _embedder_id(rt),
        "degraded": result.degraded if result else None,
        "route": result.route if result else None,
        "tokens": list(result.tokens) if result else None,
        # USD from the tokens billed, the model judge's included (docs/costs.md)
        "cost_usd": rt.budgets.cost(result, t.judgement),
        "intent": t.und.intent if t.und else None,
        "intent_confidence": t.und.intent_confidence if t.und else None,
        "risk": _risk(rt, t),
        "judge": t.judgement.as_dict() if t.judgement else None,
        "grounding": grounding(result) if result else None,
        "cache": t.cache_kind or ("miss" if t.cache_missed else None),
        "cached_audit_id": (t.cached or {}).get("audit_id"),
        "conversation_id": t.conversation_id,
        "injection": t.und.audit_note() if t.und else None,
        "rollout": t.rollout,
        # Words of the (masked) question read as the knowledge base's spelling.
        "spelling": [[f.typed, f.read_as] for f in t.spelling] or None,
    }
