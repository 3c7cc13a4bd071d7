"""The answer requests the extractive provider sees for a question file, built by the same
retrieval as `ask` (orchestrator.gather), for the scripts that study the provider offline."""

from __future__ import annotations

from collections.abc import Iterator

from steward.answering.providers.base import AnswerRequest
from steward.evals.runner import Question
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import gather
from steward.pipeline.stages import spelled
from steward.pipeline.understand import understand
from steward.runtime import Runtime


def answer_requests(
    rt: Runtime, questions: list[Question]
) -> Iterator[tuple[Question, AnswerRequest]]:
    """(question, request) for each question that reaches the answer stage with passages
    (refused and escalation questions, and those with nothing retrieved, are left out)."""
    for q in questions:
        if q.kind == "escalate":
            continue
        who = principal_for(rt.store, q.user)
        und = understand(rt.masker.mask(q.question).text, detector=rt.injection)
        if und.refuse or not und.question:
            continue
        flt = rt.search.filter_for(who.groups, who.center)
        question, parts, _ = spelled(rt, und.question, und.parts, flt)
        vecs = rt.embedder.embed([question] + (parts if len(parts) > 1 else []))
        part_vecs = vecs[1:] if len(parts) > 1 else vecs[:1]
        passages, terms = gather(rt, question, parts, vecs[0], part_vecs, flt, who.center)
        if passages:
            yield q, rt.answerer.request(question, parts, vecs[0], part_vecs, passages, terms)
