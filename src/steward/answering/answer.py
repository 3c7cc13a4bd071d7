"""Context assembly, generation, the grounding check and the answer's confidence.

Only permitted, current, unquarantined chunks become passages. After generation every claim must
be supported by a passage (its numbers and most of its words appear there) and is cited to the
passage that holds it (a model that cites the wrong passage is corrected); claims no passage
supports are dropped, and the confidence falls with them. A failing provider degrades to the
extractive provider (grounded by construction) and, if that fails too, to no answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from steward.answering.providers import base
from steward.answering.providers.base import AnswerRequest, Claim, Draft, Passage, Provider
from steward.answering.providers.extractive import ExtractiveProvider
from steward.answering.providers.openai_compat import SENTENCE_END
from steward.core.errors import ProviderError
from steward.models.embeddings import Vectors
from steward.retrieval.search import Hit, TermStats, stem_terms
from steward.store import Store
from steward.store.models import Chunk, Document

log = logging.getLogger(__name__)
_NUMBER = re.compile(r"\d[\d,.:%]*")


def load_passages(
    store: Store,
    hits: Sequence[Hit],
    dim: int,
    center: str | None,
    acl_ids: frozenset[int],
    embed: Callable[[Sequence[str]], Vectors] | None = None,
) -> list[Passage]:
    """Passages for the hits, in rank order, with their sentence vectors. ``acl_ids`` is the
    asker's permission filter, checked again per chunk before any text leaves the store.

    Chunks of a source ingested with ``sentence_vectors: false`` carry none; ``embed`` then
    supplies them (answering needs them, search does not)."""
    if not hits:
        return []
    ids = [h.chunk_id for h in hits]
    with store.read() as s:
        rows = {
            c.id: (c, d)
            for c, d in s.execute(
                select(Chunk, Document)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.id.in_(ids), Chunk.quarantined.is_(False), Chunk.is_current.is_(True))
            ).all()
        }
    out: list[Passage] = []
    for h in hits:
        if h.chunk_id not in rows:
            continue  # removed between search and load
        c, d = rows[h.chunk_id]
        if c.acl_set_id not in acl_ids:
            continue  # second, per-chunk permission check before any text is shown
        vecs = np.frombuffer(c.sentence_vectors, np.float16).astype(np.float32)
        if len(c.sentences) and not len(vecs):
            vecs = (
                embed([f"{c.heading}: {c.text[a:b]}" for a, b in c.sentences]).reshape(-1)
                if embed is not None
                else np.zeros(len(c.sentences) * dim, np.float32)
            )
        out.append(
            Passage(
                n=len(out) + 1,
                chunk_id=c.id,
                doc_id=d.doc_id,
                title=d.title,
                heading=c.heading,
                text=c.text,
                version=d.version[:16],
                updated=d.updated,
                sentences=[(int(a), int(b)) for a, b in c.sentences],
                sentence_vectors=vecs.reshape(len(c.sentences), dim)
                if len(c.sentences)
                else np.zeros((0, dim), np.float32),
                vector=np.frombuffer(c.embedding, np.float16).astype(np.float32),
                heading_vector=np.frombuffer(c.heading_vector, np.float16).astype(np.float32),
                score=h.score,
                scoped=center is not None and d.center == center,
                authority=float((d.meta or {}).get("authority", 1.0)),
                ranks=dict(h.ranks),
            )
        )
    return out


def supported(claim: str, passage: Passage) -> bool:
    """A claim is supported when its numbers and most of its content words are in the passage."""
    source = passage.text + " " + passage.heading
    for num in _NUMBER.findall(claim):
        if num.rstrip(".,:") not in source:
            return False
    words = set(stem_terms(claim))
    if not words:
        return True
    have = set(stem_terms(source))
    return len(words & have) / len(words) >= 0.6


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[^\w$%.,:/-]+", " ", text.lower()).split())


def holding(claim: Claim, by_n: dict[int, Passage]) -> int | None:
    """The passage a claim is cited to: the one that holds its sentence word for word (the one
    it cites first), else the cited one when it supports the claim, else the first passage that
    does. None: no passage supports it (the claim is dropped). A model that cites [1] for a
    sentence of passage [3] gets [3]: every sentence cites the passage that holds it."""
    text = _flat(claim.text.rstrip(".!? "))
    order = sorted(by_n, key=lambda n: (n != claim.passage, n))
    for n in order:
        if text and text in _flat(by_n[n].text):
            return n
    for n in order:
        if supported(claim.text, by_n[n]):
            return n
    return None


@dataclass
class AnswerResult:
    draft: Draft
    passages: list[Passage]
    cited: list[Passage]
    confidence: float
    provider: str
    model: str
    prompt_version: str
    dropped_claims: int = 0
    degraded: str | None = None
    route: dict[str, Any] = field(default_factory=dict)  # the router's choice, tries and cost

    @property
    def tokens(self) -> tuple[int, int]:
        """Model tokens in and out, as billed."""
        return self.draft.tokens_in, self.draft.tokens_out


class Answerer:
    def __init__(self, provider: Provider, fallback: Provider | str | None = "extractive") -> None:
        """``fallback``: the provider used when ``provider`` fails ("extractive" by default,
        None to abstain instead)."""
        self.provider = provider
        self.fallback: Provider | None = None
        if isinstance(fallback, str):
            if not isinstance(provider, ExtractiveProvider):
                self.fallback = ExtractiveProvider()
        else:
            self.fallback = fallback

    @property
    def can_stream(self) -> bool:
        """Whether answers can be sent as the model writes them. A provider plugin written
        before providers declared it counts as one that cannot: it is answered whole first."""
        return bool(getattr(self.provider, "can_stream", False))

    @staticmethod
    def request(
        question: str,
        parts: list[str],
        qvec: Vectors,
        part_vecs: Vectors,
        passages: list[Passage],
        terms: TermStats,
    ) -> AnswerRequest:
        return AnswerRequest(
            question, parts, qvec, part_vecs, passages, terms.weights, terms.unknown, terms.missing
        )

    def answer(
        self,
        question: str,
        parts: list[str],
        qvec: Vectors,
        part_vecs: Vectors,
        passages: list[Passage],
        terms: TermStats,
    ) -> AnswerResult:
        request = self.request(question, parts, qvec, part_vecs, passages, terms)
        provider: Provider = self.provider
        degraded = None
        try:
            draft = base.complete(provider, request)
        except ProviderError as exc:
            log.warning("provider failed", extra={"provider": provider.name, "err": exc.code})
            if self.fallback is None:
                raise
            degraded = f"{provider.name} failed ({exc.code}); answered by {self.fallback.name}"
            provider = self.fallback
            draft = base.complete(provider, request)
        return self.verify(draft, passages, provider, degraded)

    def verify(
        self, draft: Draft, passages: list[Passage], provider: Provider, degraded: str | None
    ) -> AnswerResult:
        """Keep only claims that cite a passage and are supported by it. The route comes with
        the draft (a router's choice, failed tries and cost)."""
        by_n = {p.n: p for p in passages}
        kept = []
        for c in draft.claims:
            holder = holding(c, by_n)
            if holder is not None:
                kept.append(c if holder == c.passage else Claim(c.text, holder, c.score))
        dropped = len(draft.claims) - len(kept)
        share = len(kept) / len(draft.claims) if draft.claims else 0.0
        cited_ns = list(dict.fromkeys(c.passage for c in kept))
        # Markers count the citations as listed ([1] is the first source shown), not the
        # passages retrieved.
        number = {n: i for i, n in enumerate(cited_ns, 1)}
        draft.text = " ".join(f"{c.text} [{number[c.passage]}]" for c in kept)
        draft.claims = kept
        route: dict[str, Any] = dict(draft.route)
        if degraded is None and route.get("tried"):
            degraded = f"{'; '.join(route['tried'])}; answered by {route['provider']}"
        return AnswerResult(
            draft=draft,
            passages=passages,
            cited=[by_n[n] for n in cited_ns],
            confidence=0.0 if draft.no_answer else round(draft.support * share, 4),
            provider=provider.name,
            model=draft.model,
            prompt_version=draft.prompt_version
            or route.pop("prompt_version", None)
            or provider.prompt_version,
            dropped_claims=dropped,
            degraded=degraded,
            route=route,
        )

    def stream(self, request: AnswerRequest) -> SentenceStream:
        return SentenceStream(self, request)


class SentenceStream:
    """A provider's streamed reply, released one verified sentence at a time.

    Text reaches the asker only after its sentence is complete, cites a permitted passage and is
    supported by it: the same check a whole answer gets. After iteration, ``result`` holds the
    AnswerResult for the decision and the audit row.
    """

    def __init__(self, answerer: Answerer, request: AnswerRequest) -> None:
        self.answerer = answerer
        self.request = request
        self.result: AnswerResult | None = None
        self._claims: list[Claim] = []
        self._seen = 0
        self._no_answer = False
        self._numbers: dict[int, int] = {}  # passage -> citation number, in order shown

    def _check(self, sentence: str) -> Iterator[str]:
        from steward.answering.providers.openai_compat import parse

        if "NO_ANSWER" in sentence:
            self._no_answer = True
            return
        by_n = {p.n: p for p in self.request.passages}
        for claim in parse(sentence.strip(), "", 0, 0).claims:
            self._seen += 1
            holder = holding(claim, by_n)
            if holder is not None:
                claim = Claim(claim.text, holder, claim.score)
                self._claims.append(claim)
                number = self._numbers.setdefault(holder, len(self._numbers) + 1)
                yield f"{claim.text} [{number}] "

    def __iter__(self) -> Iterator[str]:
        provider = self.answerer.provider
        if not self.answerer.can_stream:
            # Nothing to stream incrementally: verify the whole draft, then release it.
            self.result = self.answerer.answer(
                self.request.question,
                self.request.parts,
                self.request.query_vector,
                self.request.part_vectors,
                self.request.passages,
                TermStats(
                    self.request.term_weights,
                    self.request.unknown_terms,
                    0,
                    self.request.missing_weight,
                ),
            )
            yield from _sentences(self.result)
            return
        buffer, started, degraded = "", False, None
        route: dict[str, Any] = {}
        try:
            pieces = iter(base.stream(provider, self.request))
            while True:
                try:
                    piece = next(pieces)
                except StopIteration as end:  # a router returns the route it took
                    route = dict(end.value) if isinstance(end.value, dict) else {}
                    break
                buffer += piece
                *done, buffer = SENTENCE_END.split(buffer)
                for sentence in done:
                    for out in self._check(sentence):
                        started = True
                        yield out
            for out in self._check(buffer):
                yield out
        except ProviderError as exc:
            if started or self.answerer.fallback is None:
                raise
            degraded = f"{provider.name} failed ({exc.code}); answered by extractive"
            fallback = self.answerer.fallback
            self.result = self.answerer.verify(
                base.complete(fallback, self.request), self.request.passages, fallback, degraded
            )
            yield from _sentences(self.result)
            return
        text = " ".join(f"{c.text} [{c.passage}]" for c in self._claims)
        tokens = route.pop("tokens", None)  # what the server said it used
        if tokens is None:
            # Its server did not count them: the spend is unknown (unpriced), never free.
            route["usage"] = "unreported"
            tokens = [0, 0]
        draft = Draft(
            text,
            list(self._claims),
            1.0,
            str(route.pop("model", provider.model)),  # a router names the model it streamed
            no_answer=self._no_answer and not self._claims,
            route=route,
        )
        draft.tokens_in, draft.tokens_out = int(tokens[0]), int(tokens[1])
        result = self.answerer.verify(draft, self.request.passages, provider, degraded)
        result.confidence = round(len(self._claims) / self._seen, 4) if self._seen else 0.0
        self.result = result


def _sentences(result: AnswerResult) -> Iterator[str]:
    """A verified answer's text, sentence by sentence (markers already renumbered)."""
    for piece in SENTENCE_END.split(result.draft.text):
        if piece.strip():
            yield piece + " "
