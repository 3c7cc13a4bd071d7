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
from datetime import UTC, datetime
from typing import Any

import numpy as np

from steward import audit
from steward.answering.answer import AnswerResult, load_passages
from steward.answering.providers.base import AnswerRequest, Passage
from steward.core.errors import GuardError, ProviderError, QuestionError
from steward.identity.auth import Principal
from steward.pipeline.cache import CACHED_ACTIONS, fingerprint
from steward.pipeline.conversations import NewTurn, is_follow_up, rewrite
from steward.pipeline.decide import Decision, after_answer, before_retrieval
from steward.pipeline.policy import Policy
from steward.pipeline.understand import Understanding, understand
from steward.retrieval.search import Filter, TermStats, query_terms, term_stats
from steward.runtime import Runtime

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
    conversation_id: str | None = None
    ticket_id: str | None = None
    cache: str | None = None  # exact | semantic when served from the answer cache
    tokens: tuple[int, int] = (0, 0)  # model tokens in and out for this request (audit: settings)

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

    def as_public_dict(self) -> dict[str, Any]:
        """What an HTTP client sees: the batch fields plus the conversation and ticket."""
        return {
            **self.as_dict(),
            "conversation_id": self.conversation_id,
            "ticket_id": self.ticket_id,
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


def _message(
    decision: Decision, passages: list[Passage], question: str, policy: Policy | None = None
) -> str:
    if decision.action == "refuse":
        return (
            "I can't help with that: the request asks me to ignore my instructions or to "
            "reveal content that I can't share. Ask me about products, fees or procedures."
        )
    if decision.action == "escalate":
        why = decision.escalation_reason or "review"
        text = (
            f"I'm handing this conversation to a person who can help (reason: {why}). "
            "They will see what you wrote, so you don't need to repeat it."
        )
        hours = policy.business_hours if policy is not None else None
        if hours is not None and not hours.is_open(datetime.now(UTC)):
            text += (
                f" Our team is available {hours.describe()}; a person will pick this up "
                "when we open."
            )
        return text
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


@dataclass
class _Turn:
    """What one request has worked out so far."""

    text: str
    principal: Principal
    channel: str
    timer: _Timer
    conversation_id: str | None = None
    masked: str = "[withheld: personal-data check failed]"
    standalone: str = ""
    policy: Policy | None = None
    und: Understanding | None = None
    vector: np.ndarray | None = None
    result: AnswerResult | None = None
    passages: list[Passage] = field(default_factory=list)
    cache_kind: str | None = None
    cache_missed: bool = False  # looked in the cache and found nothing
    cached: dict[str, Any] | None = None
    request: AnswerRequest | None = None
    flt: Filter | None = None
    previous: str | None = None  # the prior question, when the client keeps the history
    streamed: str = ""  # verified sentences already sent to the asker (streaming only)


def ask(
    rt: Runtime,
    principal: Principal,
    question: str,
    channel: str = "api",
    conversation_id: str | None = None,
    previous: str | None = None,
    profile: str | None = None,
) -> Response:
    """Answer one question for ``principal``; always returns a Response with an audit id.

    With ``conversation_id`` (the asker's own), a follow-up is rewritten into a standalone
    question first; permissions are those of this moment, never of earlier turns. ``profile``
    names an assistant profile (a policy overlay, see policy.py).
    """
    text = validate_question(rt, question)
    if conversation_id is not None or channel in ("api", "chat"):
        conversation_id = rt.conversations.open(conversation_id, principal)
    t = _Turn(text, principal, channel, _Timer(), conversation_id, previous=previous)
    t.policy = rt.policies.for_center(principal.center, profile)
    try:
        decision = _decide(rt, t)
        assert decision is not None
    except GuardError as exc:
        # Fail closed: text we could not check is not searched, sent or stored.
        decision = Decision("abstain", exc.message, rule="guard.fail-closed")
    except ProviderError as exc:
        # No grounded answer could be produced: say so rather than guess.
        decision = Decision(
            "abstain", f"answer provider unavailable ({exc.code})", rule="provider.unavailable"
        )
    return _finish(rt, t, decision)


def ask_stream(
    rt: Runtime,
    principal: Principal,
    question: str,
    channel: str = "api",
    conversation_id: str | None = None,
    previous: str | None = None,
    profile: str | None = None,
) -> Iterator[str | Response]:
    """Like :func:`ask`, but yields the answer as it is verified, then the Response.

    With a model that streams, each sentence is released only once it is complete, cites a
    permitted passage, is supported by it and has passed the output guard. Refusals, hand-offs,
    cached answers, the extractive provider and abstentions are decided first and then sent in
    pieces, so nothing reaches the asker that a whole answer would not have shown.
    """
    if not hasattr(rt.answerer.provider, "stream") or rt.answerer.provider.name == "extractive":
        response = ask(rt, principal, question, channel, conversation_id, previous, profile)
        yield from _pieces(response.answer)
        yield response
        return
    text = validate_question(rt, question)
    conversation_id = rt.conversations.open(conversation_id, principal)
    t = _Turn(text, principal, channel, _Timer(), conversation_id, previous=previous)
    t.policy = rt.policies.for_center(principal.center, profile)
    shown: list[str] = []
    try:
        decision = _decide(rt, t, stop_before_answer=True)
        if decision is None:
            assert t.request is not None
            stream = rt.answerer.stream(t.request)
            with t.timer.stage("answer"):
                for piece in stream:
                    piece = output_guard(rt, piece, t.request.passages)
                    shown.append(piece)
                    yield piece
            t.result = stream.result
            decision = after_answer(t.result, t.policy)
    except GuardError as exc:
        decision = Decision("abstain", exc.message, rule="guard.fail-closed")
    except ProviderError as exc:
        decision = Decision(
            "abstain", f"answer provider unavailable ({exc.code})", rule="provider.unavailable"
        )
    if shown and decision.action != "answer":
        # The sentences already sent were each verified, but the whole answer did not reach
        # the bar: the turn still goes where the policy says (a person, or a clear "not
        # sure"), the asker is told so after what they saw, and the audit row keeps both.
        t.streamed = "".join(shown)
        decision = Decision(
            decision.action,
            f"{decision.reason}; {len(shown)} verified sentence(s) were already streamed",
            decision.escalation_reason,
            rule=f"{decision.rule}+streamed",
        )
    response = _finish(rt, t, decision)
    if not shown:
        yield from _pieces(response.answer)
    elif t.streamed:
        yield from _pieces(response.answer[len(t.streamed) :])
    yield response


def _pieces(text: str, size: int = 6) -> Iterator[str]:
    words = text.split(" ")
    for i in range(0, len(words), size):
        yield " ".join(words[i : i + size]) + (" " if i + size < len(words) else "")


def _decide(rt: Runtime, t: _Turn, stop_before_answer: bool = False) -> Decision | None:
    assert t.policy is not None
    with t.timer.stage("guard"):
        masked = rt.masker.mask(t.text)
        t.masked = masked.text
        if rt.vault is not None and masked.entities:
            seal_own_values(rt, t.text, t.principal)
    with t.timer.stage("understand"):
        t.standalone = t.masked
        if is_follow_up(t.masked):
            previous = None
            if t.conversation_id is not None:
                previous = rt.conversations.last_question(t.conversation_id)
            if previous is None and t.previous:
                previous = rt.masker.mask(t.previous).text
            if previous:
                t.standalone = rewrite(t.masked, previous)
        t.und = understand(t.standalone, t.policy.large_amount, rt.injection)
    if not t.und.refuse and rt.intents is not None:
        with t.timer.stage("intent"):
            t.vector = rt.embedder.embed([t.und.question or t.standalone])[0]
            label, conf = rt.intents.predict([t.und.question], t.vector.reshape(1, -1))[0]
            t.und.intent, t.und.intent_confidence = label, round(conf, 4)
    decision = before_retrieval(t.und, t.principal, t.policy)
    if decision is not None:
        return decision
    flt = t.flt = rt.search.filter_for(t.principal.groups, t.principal.center)
    if _from_cache(rt, t, flt.acl_ids):
        cached = t.cached or {}
        return Decision(
            cached["action"],
            cached["reason"],
            cached.get("escalation_reason"),
            rule=f"cache.{t.cache_kind}",
        )
    if stop_before_answer:
        t.request = _retrieve(rt, t, flt)
        return None if t.request is not None else after_answer(None, t.policy)
    t.result = _retrieve_and_answer(rt, t, flt)
    t.passages = t.result.passages if t.result else []
    return after_answer(t.result, t.policy)


def _cache_key(rt: Runtime, t: _Turn, acl_ids: frozenset[int]) -> tuple[str, str]:
    assert t.und is not None and t.policy is not None
    fp = fingerprint(acl_ids, t.principal.center, t.policy.version)
    return rt.cache.key(t.und.question, fp, rt.answerer.provider.prompt_version), fp


def _from_cache(rt: Runtime, t: _Turn, acl_ids: frozenset[int]) -> bool:
    with t.timer.stage("cache"):
        key, fp = _cache_key(rt, t, acl_ids)
        kb = t.flt.kb_version if t.flt is not None else rt.store.kb_version()
        hit = rt.cache.get(key, acl_ids, kb)
        if hit is None:
            assert t.und is not None
            if t.vector is None:
                t.vector = rt.embedder.embed([t.und.question])[0]
            hit = rt.cache.get_semantic(fp, t.vector, acl_ids, kb)
        if hit is None:
            rt.cache.record_miss()
            t.cache_missed = True
            return False
        t.cached, t.cache_kind = hit.response, hit.kind
        rt.cache.record_hit(key, hit.kind, float(hit.response.get("latency_ms", 0.0)))
        return True


def _finish(rt: Runtime, t: _Turn, decision: Decision) -> Response:
    result, cached = t.result, t.cached
    if cached is not None:
        answer_text = cached["answer"]
        citations = [Citation(**c) for c in cached["citations"]]
        confidence = float(cached["confidence"])
    else:
        answer_text = (
            result.draft.text
            if (result and decision.action == "answer")
            else _message(
                decision,
                t.passages,
                t.masked if decision.action == "abstain" else "",
                t.policy,
            )
        )
        if t.streamed and decision.action != "answer":
            if decision.action == "abstain":
                answer_text = (
                    "I'm not sure the sentences above answer all of your question, so I'll stop "
                    "there: each is supported by its cited source; nothing else was."
                )
            answer_text = f"{t.streamed}\n\n{answer_text}"
        if decision.action == "answer" and result is not None:
            with t.timer.stage("output_guard"):
                answer_text = output_guard(rt, answer_text, result.cited)
        cited = result.cited if (result and decision.action == "answer") else []
        citations = [Citation(p.doc_id, p.chunk_id, p.title, p.version) for p in cited]
        confidence = round(result.confidence, 4) if result else 0.0
    audit_id = _audit(rt, t, decision, answer_text, citations, confidence)
    response = Response(
        audit_id=audit_id,
        action=decision.action,
        answer=answer_text,
        citations=citations,
        confidence=confidence,
        escalation_reason=decision.escalation_reason,
        reason=decision.reason,
        latency_ms=t.timer.total(),
        stages_ms=dict(t.timer.stages),
        sources=list(dict.fromkeys(p.doc_id for p in t.passages)),
        conversation_id=t.conversation_id,
        cache=t.cache_kind,
        tokens=(result.draft.tokens_in, result.draft.tokens_out) if result else (0, 0),
    )
    _after(rt, t, decision, response)
    return response


def _after(rt: Runtime, t: _Turn, decision: Decision, response: Response) -> None:
    """Conversation turns, the hand-off ticket, and the cache entry for next time."""
    if t.conversation_id is not None:
        rt.conversations.record(
            t.conversation_id,
            t.principal,
            [
                NewTurn("asker", t.masked, standalone=t.standalone, audit_id=response.audit_id),
                NewTurn(
                    "assistant", response.answer, action=decision.action, audit_id=response.audit_id
                ),
            ],
        )
        if decision.action == "escalate":
            assert t.und is not None
            response.ticket_id = rt.handoff.open(
                conversation_id=t.conversation_id,
                who=t.principal,
                reason=decision.escalation_reason or "review",
                detail=decision.reason,
                intent=t.und.intent,
                signals=[s.reason for s in t.und.signals],
                sources=response.sources[:5],
                audit_id=response.audit_id,
                hours=t.policy.business_hours if t.policy is not None else None,
            )
    if (
        t.cached is None
        and decision.action in CACHED_ACTIONS
        and t.und is not None
        and t.result is not None
        and t.result.degraded is None  # a stand-in answer must not outlive the outage
        and rt.settings.cache_answers
    ):
        assert t.flt is not None
        key, fp = _cache_key(rt, t, t.flt.acl_ids)
        vector = t.vector if t.vector is not None else rt.embedder.embed([t.und.question])[0]
        cited = {c.doc_id: c.version for c in response.citations}
        rt.cache.put(key, fp, t.und.question, vector, response.as_dict(), cited, t.flt.kb_version)


def _audit(
    rt: Runtime,
    t: _Turn,
    decision: Decision,
    answer_text: str,
    citations: list[Citation],
    confidence: float,
) -> str:
    result = t.result
    policy = t.policy
    entry = audit.AuditEntry(
        channel=t.channel,
        user_id=t.principal.user_id,
        groups=sorted(t.principal.groups),
        center=t.principal.center,
        question=t.masked
        if t.standalone in ("", t.masked)
        else f"{t.masked} [standalone: {t.standalone}]",
        action=decision.action,
        reason=f"{decision.rule}: {decision.reason}" if decision.rule else decision.reason,
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
        settings={
            "policy": f"{policy.name}@{policy.version}" if policy else None,
            "answer_threshold": policy.answer_threshold if policy else None,
            "top_k": rt.settings.retrieval_top_k,
            "embedder": rt.embedder.model_id,
            "degraded": result.degraded if result else None,
            "route": result.route if result else None,
            "tokens": [result.draft.tokens_in, result.draft.tokens_out] if result else None,
            "intent": t.und.intent if t.und else None,
            "intent_confidence": t.und.intent_confidence if t.und else None,
            "cache": t.cache_kind or ("miss" if t.cache_missed else None),
            "cached_audit_id": (t.cached or {}).get("audit_id"),
            "conversation_id": t.conversation_id,
        },
        latency_ms={**t.timer.stages, "total": t.timer.total()},
    )
    with t.timer.stage("audit"):
        return audit.append(rt.store, entry)


def _retrieve_and_answer(rt: Runtime, t: _Turn, flt: Filter) -> AnswerResult | None:
    request = _retrieve(rt, t, flt)
    if request is None:
        return None
    with t.timer.stage("answer"):
        return rt.answerer.answer(
            request.question,
            request.parts,
            request.query_vector,
            request.part_vectors,
            request.passages,
            TermStats(request.term_weights, request.unknown_terms, 0, request.missing_weight),
        )


def _retrieve(rt: Runtime, t: _Turn, flt: Filter) -> AnswerRequest | None:
    assert t.und is not None
    question, parts = t.und.question, t.und.parts
    with t.timer.stage("embed"):
        extra = parts if len(parts) > 1 else []
        if t.vector is None:
            vecs = rt.embedder.embed([question, *extra])
        else:  # the question was embedded for the semantic cache already
            vecs = t.vector.reshape(1, -1)
            if extra:
                vecs = np.vstack([vecs, rt.embedder.embed(extra)])
    qvec = t.vector = vecs[0]
    part_vecs = vecs[1:] if len(parts) > 1 else vecs[:1]
    with t.timer.stage("retrieve"):
        passages, terms = gather(rt, question, parts, qvec, part_vecs, flt, t.principal.center)
    t.passages = passages
    if not passages:
        return None
    return rt.answerer.request(question, parts, qvec, np.asarray(part_vecs), passages, terms)


def gather(
    rt: Runtime,
    question: str,
    parts: list[str],
    qvec: np.ndarray,
    part_vecs: np.ndarray,
    flt: Filter,
    center: str | None,
) -> tuple[list[Passage], TermStats]:
    """The permitted passages for a question, in rank order, and its word weights: the
    retrieval every answer (and the Meridian benchmarks' replay of it) starts from."""
    k = rt.settings.retrieval_top_k
    hits = rt.search.search(question, qvec, flt, k, reranker=rt.reranker)
    if len(parts) > 1:
        # Each part of a compound question gets its own search, fused after the whole.
        seen = {h.chunk_id for h in hits}
        for i, part in enumerate(parts):
            for h in rt.search.search(part, part_vecs[i], flt, max(3, k // 2)):
                if h.chunk_id not in seen:
                    seen.add(h.chunk_id)
                    hits.append(h)
    passages = load_passages(
        rt.store, hits, rt.embedder.dim, center, flt.acl_ids, rt.embedder.embed
    )
    terms = term_stats(rt.index, question, flt) if passages else TermStats()
    return passages, terms
