"""What one request carries through the stages: its state so far, its timings and the Response
it ends in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from steward.answering.answer import AnswerResult
from steward.answering.judge import Judgement
from steward.answering.providers.base import AnswerRequest, Passage
from steward.identity.auth import Principal
from steward.models.risk import RiskScore
from steward.observability import metrics, tracing
from steward.pipeline.policy import Policy
from steward.pipeline.understand import Understanding
from steward.retrieval.search import Filter
from steward.retrieval.spelling import Correction


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


class Timer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one stage: its audit latency, its histogram and its trace span."""
        t = time.perf_counter()
        try:
            with tracing.stage_span(name):
                yield
        finally:
            took = time.perf_counter() - t
            self.stages[name] = round(took * 1000, 2)
            metrics.stage(name, took)

    def total(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)


@dataclass
class Turn:
    """What one request has worked out so far. Stages fill it in; the runner reads it."""

    text: str
    principal: Principal
    channel: str
    policy: Policy
    timer: Timer = field(default_factory=Timer)
    conversation_id: str | None = None
    previous: str | None = None  # the prior question, when the client keeps the history
    # The asker's previous question, masked, once looked up (``stages.previous_question``):
    # None until then, "" when there is none.
    previous_masked: str | None = None
    streaming: bool = False  # send verified sentences as the model writes them
    # What the audit row says of a question that never reached the guard (a request that
    # failed first, e.g. asking into another asker's conversation); the guard stage sets the
    # masked text, or the failure text when the check itself failed.
    masked: str = "[not examined: the request ended before the personal-data check]"
    standalone: str = ""
    # Comments that were cut into a number, taken out before masking (their text, masked).
    split_markup: list[str] = field(default_factory=list)
    und: Understanding | None = None
    vector: np.ndarray | None = None
    risk: RiskScore | None = None  # the learned risk detector's reading
    judgement: Judgement | None = None  # the model judge's verdict (STEWARD_JUDGE)
    result: AnswerResult | None = None
    passages: list[Passage] = field(default_factory=list)
    cache_kind: str | None = None
    cache_missed: bool = False  # looked in the cache and found nothing
    cached: dict[str, Any] | None = None
    request: AnswerRequest | None = None
    # Misspelt question words read as the knowledge base's words (retrieval/spelling.py).
    spelling: list[Correction] = field(default_factory=list)
    flt: Filter | None = None
    shown: list[str] = field(default_factory=list)  # verified sentences already streamed
    streamed: str = ""  # what was shown, when the turn did not end as an answer
    # The rolled-out use case of the question and the open wave that serves its asker (None:
    # the previous behaviour), for the audit row (sponsor/rollout.py); None: no use case.
    rollout: dict[str, Any] | None = None
