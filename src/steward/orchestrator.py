"""Wires the stages of one question, end to end (DESIGN.md, "One question, end to end").

identity (done by the caller) -> guard -> understand -> decide (pre) -> retrieve -> answer ->
verify -> decide -> audit. Every path, including refusals and failures, ends in exactly one
audit row written by :func:`ask`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from steward import audit
from steward.answer import AnswerResult, load_passages
from steward.decide import Decision, after_answer, before_retrieval
from steward.errors import GuardError, ProviderError, QuestionError
from steward.identity import Principal
from steward.providers.base import Passage
from steward.retrieval.search import TermStats, query_terms, term_stats
from steward.runtime import Runtime
from steward.understand import understand

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Citation:
    doc_id: str
    chunk_id: int
    title: str
    version: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "version": self.version,
        }


@dataclass
class Response:
    audit_id: str
    action: str
    answer: str
    citations: list[Citation]
    confidence: float
    escalation_reason: str | None
    reason: str
    latency_ms: float
    stages_ms: dict[str, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # distinct permitted docs retrieved, ranked

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "answer": self.answer,
            "citations": [c.as_dict() for c in self.citations],
            "confidence": self.confidence,
            "escalation_reason": self.escalation_reason,
            "reason": self.reason,
            "audit_id": self.audit_id,
            "latency_ms": self.latency_ms,
        }


class _Timer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round((time.perf_counter() - t) * 1000, 2)

    def total(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)


def validate_question(rt: Runtime, question: object) -> str:
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    text = question.strip()
    if not text:
        raise QuestionError("The question is empty — ask something.")
    if len(text) > rt.settings.max_question_chars:
        raise QuestionError(
            f"The question is {len(text):,} characters; the limit is "
            f"{rt.settings.max_question_chars:,} (STEWARD_MAX_QUESTION_CHARS)."
        )
    return text.replace("\x00", " ")


def _message(decision: Decision, passages: list[Passage], question: str) -> str:
    if decision.action == "refuse":
        return (
            "I can't help with that: the request asks me to ignore my instructions or to "
            "reveal content that I can't share. Ask me about products, fees or procedures."
        )
    if decision.action == "escalate":
        why = decision.escalation_reason or "review"
        return (
            f"I'm handing this conversation to a person who can help (reason: {why}). "
            "They will see what you wrote, so you don't need to repeat it."
        )
    terms = ", ".join(query_terms(question)[:8]) or "your question"
    titles = list(dict.fromkeys(p.title for p in passages))[:3]
    looked = f" The closest sources I can show you were: {'; '.join(titles)}." if titles else ""
    return (
        f"I don't know. I searched the knowledge you can access for: {terms}, and found "
        f"nothing that answers this confidently, so I won't guess.{looked}"
    )


def seal_own_values(rt: Runtime, text: str, principal: Principal) -> None:
    """Keep the asker's own personal values, sealed, so that they (and only they, or an
    authorised reviewer) can see them again: the conversation stays readable to its owner."""
    assert rt.vault is not None
    for sp in rt.masker.find(text):
        raw = text[sp.start : sp.end]
        rt.vault.put(sp.kind, raw, rt.masker.tokens.token(sp.kind, raw), principal.user_id)


def output_guard(rt: Runtime, text: str, cited: list[Passage]) -> str:
    """Mask personal values in an answer, except text quoted from the cited passages (which
    were masked at ingestion, with their source's allow-list for published contact points)."""
    spans = [
        sp
        for sp in rt.masker.find(text)
        if not any(text[sp.start : sp.end] in p.text for p in cited)
    ]
    for sp in sorted(spans, key=lambda sp: -sp.start):
        text = (
            text[: sp.start]
            + rt.masker.tokens.token(sp.kind, text[sp.start : sp.end])
            + text[sp.end :]
        )
    return text


def ask(rt: Runtime, principal: Principal, question: str, channel: str = "api") -> Response:
    """Answer one question for ``principal``; always returns a Response with an audit id."""
    text = validate_question(rt, question)
    timer = _Timer()
    result: AnswerResult | None = None
    passages: list[Passage] = []
    masked_q = "[withheld: personal-data check failed]"
    try:
        with timer.stage("guard"):
            masked = rt.masker.mask(text)
            masked_q = masked.text
            if rt.vault is not None and masked.entities:
                seal_own_values(rt, text, principal)
        with timer.stage("understand"):
            und = understand(masked_q)
        decision = before_retrieval(und, principal, rt.policy)
        if decision is None:
            result = _retrieve_and_answer(rt, principal, und.question, und.parts, timer)
            passages = result.passages if result else []
            decision = after_answer(result, rt.policy)
    except GuardError as exc:
        # Fail closed: text we could not check is not searched, sent or stored.
        decision = Decision("abstain", exc.message, rule="guard.fail-closed")
    except ProviderError as exc:
        # No grounded answer could be produced: say so rather than guess.
        decision = Decision(
            "abstain", f"answer provider unavailable ({exc.code})", rule="provider.unavailable"
        )
    answer_text = (
        result.draft.text
        if (result and decision.action == "answer")
        else _message(decision, passages, masked_q if decision.action == "abstain" else "")
    )
    if decision.action == "answer" and result is not None:
        with timer.stage("output_guard"):
            answer_text = output_guard(rt, answer_text, result.cited)
    cited = result.cited if (result and decision.action == "answer") else []
    citations = [Citation(p.doc_id, p.chunk_id, p.title, p.version) for p in cited]
    latency = timer.total()
    stages = dict(timer.stages)
    entry = audit.AuditEntry(
        channel=channel,
        user_id=principal.user_id,
        groups=sorted(principal.groups),
        center=principal.center,
        question=masked_q,
        action=decision.action,
        reason=f"{decision.rule}: {decision.reason}" if decision.rule else decision.reason,
        escalation_reason=decision.escalation_reason,
        confidence=result.confidence if result else 0.0,
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
            for p in passages
        ],
        provider=result.provider if result else "none",
        model=result.model if result else "none",
        prompt_version=result.prompt_version if result else "none",
        kb_version=rt.store.kb_version(),
        settings={
            "answer_threshold": rt.policy.answer_threshold,
            "top_k": rt.settings.retrieval_top_k,
            "embedder": rt.embedder.model_id,
            "degraded": result.degraded if result else None,
        },
        latency_ms={**stages, "total": latency},
    )
    with timer.stage("audit"):
        audit_id = audit.append(rt.store, entry)
    return Response(
        audit_id=audit_id,
        action=decision.action,
        answer=answer_text,
        citations=citations,
        confidence=round(result.confidence, 4) if result else 0.0,
        escalation_reason=decision.escalation_reason,
        reason=decision.reason,
        latency_ms=timer.total(),
        stages_ms=dict(timer.stages),
        sources=list(dict.fromkeys(p.doc_id for p in passages)),
    )


def _retrieve_and_answer(
    rt: Runtime, principal: Principal, question: str, parts: list[str], timer: _Timer
) -> AnswerResult | None:
    with timer.stage("embed"):
        texts = [question, *parts] if len(parts) > 1 else [question]
        vecs = rt.embedder.embed(texts)
    qvec = vecs[0]
    part_vecs = vecs[1:] if len(parts) > 1 else vecs[:1]
    with timer.stage("retrieve"):
        flt = rt.search.filter_for(principal.groups, principal.center)
        k = rt.settings.retrieval_top_k
        hits = rt.search.search(question, qvec, flt, k)
        if len(parts) > 1:
            # Each part of a compound question gets its own search, fused after the whole.
            seen = {h.chunk_id for h in hits}
            for i, part in enumerate(parts):
                for h in rt.search.search(part, part_vecs[i], flt, max(3, k // 2)):
                    if h.chunk_id not in seen:
                        seen.add(h.chunk_id)
                        hits.append(h)
        passages = load_passages(rt.store, hits, rt.embedder.dim, principal.center, flt.acl_ids)
        terms = term_stats(rt.index, question, flt) if passages else TermStats()
    if not passages:
        return None
    with timer.stage("answer"):
        result = rt.answerer.answer(question, parts, qvec, np.asarray(part_vecs), passages, terms)
    return result
