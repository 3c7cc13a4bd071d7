"""The provider contract: an answer request in, a draft with claims and citations out.

Retrieved passages are data. Providers receive them numbered and quoted; they never receive
anything the asker may not read, and nothing in a passage changes what a provider is asked to do.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, cast

import numpy as np
from pydantic import BaseModel

from steward.models.embeddings import Vectors
from steward.observability import tracing


@dataclass(frozen=True)
class Passage:
    n: int  # 1-based number used in citation markers
    chunk_id: int
    doc_id: str
    title: str
    heading: str
    text: str
    version: str
    updated: str | None
    sentences: list[tuple[int, int]]
    sentence_vectors: Vectors  # float32, len(sentences) x dim
    vector: Vectors  # the chunk's own vector
    heading_vector: Vectors  # the vector of its heading path ("Title > Section")
    score: float
    scoped: bool  # written for the asker's own center
    authority: float = 1.0  # how far the source is a reference (policies 1, tickets less)
    ranks: dict[str, int] = field(default_factory=dict)

    def sentence(self, i: int) -> str:
        a, b = self.sentences[i]
        return self.text[a:b]


@dataclass(frozen=True)
class AnswerRequest:
    question: str
    parts: list[str]
    query_vector: Vectors
    part_vectors: Vectors
    passages: list[Passage]
    # stemmed query term -> IDF weight over the permitted corpus, for terms it contains
    term_weights: dict[str, float]
    unknown_terms: list[str] = field(default_factory=list)  # query terms no permitted chunk has
    missing_weight: float = 0.0  # summed weight of the unknown terms in coverage


@dataclass(frozen=True)
class Claim:
    text: str
    passage: int  # Passage.n
    score: float = 0.0


@dataclass
class Draft:
    text: str
    claims: list[Claim]
    support: float  # the provider's evidence that the answer is right, 0..1
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    no_answer: bool = False
    # The prompt version of the provider that wrote it, when a router chose among several.
    prompt_version: str | None = None
    # How it was produced, when a router chose: {route, provider, tried, cost_usd}. It travels
    # with the draft (never in shared state), so concurrent requests cannot swap routes.
    route: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """Writes an answer from permitted passages.

    >>> draft = provider.complete(request)          # doctest: +SKIP
    >>> draft.text
    'The late payment fee is $29 for a first late payment [1].'
    """

    name: ClassVar[str]
    # True when ``stream`` yields text as a model writes it; False when it only replays a
    # finished draft (the answer stage then decides first and sends the result in pieces).
    can_stream: ClassVar[bool]
    model: str
    prompt_version: str

    def complete(self, request: AnswerRequest) -> Draft: ...

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        """The reply as it is written; the answer stage releases only verified sentences.

        A generator may ``return`` the route it took (a dict like :attr:`Draft.route`): a
        router does, so a streamed answer is audited with its own route."""
        ...


def complete(provider: Provider, request: AnswerRequest) -> Draft:
    """``provider.complete(request)`` as one observed model call (a GenAI span, the provider
    metrics). A router is not a model: each provider it calls is observed instead."""
    if getattr(provider, "composite", False):
        return provider.complete(request)
    with tracing.model_call(provider.name, provider.model) as call:
        draft = provider.complete(request)
        call.done(draft.model, draft.tokens_in, draft.tokens_out)
    return draft


def stream(provider: Provider, request: AnswerRequest) -> Iterator[str]:
    """``provider.stream(request)`` as one observed model call (its return value kept)."""
    if getattr(provider, "composite", False):
        return provider.stream(request)
    return tracing.streamed(provider.name, provider.model, _generator(provider.stream(request)))


def _generator(pieces: Iterator[str]) -> Generator[str, None, object]:
    """A provider's stream as a generator, whatever iterator it returned (its value kept)."""
    # A generator's return value passes through; a plain iterator's is None.
    return (yield from cast(Generator[str, None, object], pieces))


class NoOptions(BaseModel):
    model_config = {"extra": "forbid"}


def empty_vectors(dim: int) -> Vectors:
    return np.zeros((0, dim), np.float32)
