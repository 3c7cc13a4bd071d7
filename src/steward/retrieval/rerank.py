"""Reranking: a second look at the fused candidates, after the permission filter.

A reranker only reorders hits that the permission-filtered search already returned; it never
adds a chunk. The offline one, ``sentences``, uses the sentence vectors that ingestion stores
for answer composition: a chunk whose best single sentence matches the query closely moves up
(a claim usually matches one sentence of an abstract, not the abstract's average). Other
rerankers (a cross-encoder, an LLM judge) plug in under the ``steward.rerankers`` entry-point
group with the same ``rerank`` method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sqlalchemy import select

from steward.models.embeddings import Vectors
from steward.retrieval.search import Hit
from steward.store import Store
from steward.store.models import Chunk


class Reranker(Protocol):
    name: str

    def rerank(self, query: str, vector: Vectors, hits: Sequence[Hit]) -> list[Hit]:
        """The same hits, reordered best first."""
        ...


class SentenceReranker:
    """Adds a third reciprocal-rank term to the fused score: the rank of each candidate by
    the cosine of its best sentence (its chunk vector where it has no sentence vectors)."""

    name = "sentences"

    def __init__(
        self, store: Store, dim: int, depth: int = 30, rrf_k: int = 60, weight: float = 1.0
    ) -> None:
        self.store = store
        self.dim = dim
        self.depth = depth
        self.rrf_k = rrf_k  # the fusion's constant, so the third term weighs like the others
        self.weight = weight

    def rerank(self, query: str, vector: Vectors, hits: Sequence[Hit]) -> list[Hit]:
        head, tail = list(hits[: self.depth]), list(hits[self.depth :])
        if len(head) < 2:
            return list(hits)
        ids = [h.chunk_id for h in head]
        with self.store.read() as s:
            rows = {
                i: (e, sv)
                for i, e, sv in s.execute(
                    select(Chunk.id, Chunk.embedding, Chunk.sentence_vectors).where(
                        Chunk.id.in_(ids)
                    )
                ).all()
            }
        q = vector.reshape(-1).astype(np.float32)
        best: dict[int, float] = {}
        for i in ids:
            if i not in rows:
                continue
            emb, sv = rows[i]
            vecs = np.frombuffer(sv or emb, np.float16).astype(np.float32).reshape(-1, self.dim)
            best[i] = float((vecs @ q).max())
        order = sorted(best, key=lambda i: -best[i])
        rank = {i: r for r, i in enumerate(order, 1)}
        for h in head:
            if h.chunk_id in rank:
                h.score += self.weight / (self.rrf_k + rank[h.chunk_id])
                h.ranks["sentence"] = rank[h.chunk_id]
                h.raw["sentence"] = best[h.chunk_id]
        head.sort(key=lambda h: -h.score)
        return head + tail
