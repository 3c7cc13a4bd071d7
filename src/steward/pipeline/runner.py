"""The stage runner: one path from an accepted question to an audited decision, for whole and
streamed answers alike.

A question that passes validation always ends in exactly one audit row: a decision (answer,
abstain, escalate, refuse) written with its turns, ticket and cache entry in one transaction, or
an ``error`` row when a stage failed, after which the error reaches the caller unchanged (the
HTTP API maps it to its status and the one error shape). A guard failure abstains (fail closed)
and a provider failure abstains (no grounded answer, no guess): both are decisions, not errors.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Generator, Iterator
from typing import TypeVar

from ulid import ULID

from steward.core.errors import GuardError, ProviderError, StewardError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.observability import metrics
from steward.observability.context import request_context
from steward.pipeline import record, stages
from steward.pipeline.decide import Decision, after_answer
from steward.pipeline.turn import Response, Turn
from steward.retrieval.search import Filter, term_stats
from steward.runtime import Runtime

log = logging.getLogger(__name__)
GUARD_FAILED = "[withheld: personal-data check failed]"
T = TypeVar("T")
Steps = Generator[str | Response, None, None]


def run(
    rt: Runtime,
    principal: Principal,
    question: object,
    *,
    channel: str,
    conversation_id: str | None,
    previous: str | None,
    profile: str | None,
    streaming: bool,
) -> Steps:
    """Drive the stages for one question: yields the sentences streamed as they are verified
    (only with ``streaming``), then the Response."""
    text = stages.validate_question(rt, question)  # bad input is an error, and writes nothing
    # Before any unit of work: a denial writes its own audit event (its own transaction).
    rt.authz.authorize(principal, Permission.ASK, "ask")
    opens = conversation_id is not None or channel in ("api", "chat")
    fresh = str(ULID()) if conversation_id is None and opens else None  # a new conversation
    if rt.profile_version is None:
        # The assistant profile version that answers this asker now (a canary is sticky per
        # conversation, from its first question); its runtime shapes everything below, and
        # its row names it.
        rt = rt.profiles.for_request(principal, conversation_id or fresh)
    t = Turn(
        text,
        principal,
        channel,
        rt.policies.for_center(principal.center, profile, principal.groups),
        previous=previous,
        streaming=streaming,
    )
    try:
        if opens:
            # Inside: asking into someone else's conversation (404) is on the record too.
            t.conversation_id = rt.conversations.open(conversation_id, principal, fresh)
        decision = yield from _decide(rt, t)
        outcome = record.render(rt, t, _after_streaming(t, decision))
    except GeneratorExit:
        # The client went away mid-stream: the row keeps what it was shown.
        _fail(rt, t, "client_disconnected")
        raise
    except Exception as exc:
        _fail(rt, t, exc)
        raise
    # A failure here is the store refusing the unit of work: it rolled back whole, so nothing
    # of this request was kept, and there is no decision left to audit.
    response = record.commit(rt, t, outcome)
    metrics.decided(
        channel,
        response.action,
        outcome.decision.rule,
        response.escalation_reason,
        principal.center,
        response.latency_ms / 1000,
    )
    log.info(
        "question decided",
        extra={
            "action": response.action,
            "audit_id": response.audit_id,
            "channel": channel,
            "latency_ms": response.latency_ms,
        },
    )
    yield response


def _weights(rt: Runtime, text: str, flt: Filter) -> dict[str, float]:
    """IDF of the words of ``text`` over the asker's permitted passages; none in a knowledge
    base too small for a word's spread to mean anything."""
    stats = term_stats(rt.index, text, flt)
    return stats.weights if stats.total >= 20 else {}


def _similar(rt: Runtime, a: str, b: str) -> float:
    """The cosine of two words' vectors from the embedder (normalised)."""
    va, vb = rt.embedder.embed([a, b])
    return float(va @ vb)


def _decide(rt: Runtime, t: Turn) -> Generator[str, None, Decision]:
    try:
        for stage in stages.BEFORE_ANSWER:
            decision = stage(rt, t)
            if decision is not None:
                return decision
        yield from stages.answer(rt, t)
        flt = t.flt
        decision = after_answer(
            t.result,
            t.policy,
            t.request,
            (lambda text: _weights(rt, text, flt)) if flt is not None else None,
            lambda a, b: _similar(rt, a, b),
        )
        return stages.second_opinion(rt, t, decision)
    except GuardError as exc:
        # Fail closed: text we could not check is not searched, sent or stored.
        t.masked = GUARD_FAILED
        return Decision("abstain", exc.message, rule="guard.fail-closed")
    except ProviderError as exc:
        # No grounded answer could be produced: say so rather than guess.
        return Decision(
            "abstain", f"answer provider unavailable ({exc.code})", rule="provider.unavailable"
        )


def _after_streaming(t: Turn, decision: Decision) -> Decision:
    """The sentences already sent were each verified, but when the whole answer did not reach
    the bar the turn still goes where the policy says (a person, or a clear "not sure"): the
    asker is told so after what they saw, and the audit row keeps both."""
    if not t.shown or decision.action == "answer":
        return decision
    t.streamed = "".join(t.shown)
    return Decision(
        decision.action,
        f"{decision.reason}; {len(t.shown)} verified sentence(s) were already streamed",
        decision.escalation_reason,
        rule=f"{decision.rule}+streamed",
    )


def _fail(rt: Runtime, t: Turn, exc: Exception | str) -> None:
    """Audit a request that ended without a decision; ``exc`` is the error, or the code of
    an ending that raised none (``client_disconnected``)."""
    if isinstance(exc, str):
        code = exc
        log.warning("request ended early", extra={"err": code})
    elif isinstance(exc, StewardError):
        code = exc.code
        log.warning("request failed", extra={"err": code})
    else:
        code = "internal_error"
        log.error("request failed unexpectedly", exc_info=exc)
        # The HTTP edge logs unhandled errors too; this one is already in the log.
        exc.steward_logged = True  # type: ignore[attr-defined]
    seconds = t.timer.total() / 1000
    metrics.decided(t.channel, record.ERROR, f"error.{code}", None, t.principal.center, seconds)
    try:
        record.record_failure(rt, t, code)
    except Exception:  # the original error matters more than the lost row
        log.error("could not audit the failed request", exc_info=True)


def in_request(channel: str, steps: Generator[T, None, None]) -> Iterator[T]:
    """Drive ``steps`` inside one request context of its own (the caller's request id, or a
    new one): a streamed answer is pulled by worker threads, each running in a fresh copy of
    the server's context, where a context variable set by one step would be gone by the next."""
    ctx = contextvars.copy_context()
    scope = contextlib.ExitStack()
    ctx.run(scope.enter_context, request_context(channel=channel))
    try:
        while True:
            try:
                item = ctx.run(next, steps)
            except StopIteration:
                return
            yield item
    finally:
        ctx.run(steps.close)
        ctx.run(scope.close)


def pieces(text: str, size: int = 6) -> Iterator[str]:
    words = text.split(" ")
    for i in range(0, len(words), size):
        yield " ".join(words[i : i + size]) + (" " if i + size < len(words) else "")


def sent_in_pieces(steps: Iterator[str | Response]) -> Iterator[str | Response]:
    """What was decided before it was shown (a refusal, a hand-off, a cached or whole answer)
    is sent in pieces after the fact; after streamed sentences, only what the decision added."""
    shown: list[str] = []
    for item in steps:
        if not isinstance(item, Response):
            shown.append(item)
        elif not shown:
            yield from pieces(item.answer)
        elif item.action != "answer":
            yield from pieces(item.answer[len("".join(shown)) :])
        yield item
