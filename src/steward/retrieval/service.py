"""Search as a service: permitted chunks for a query, best first (no answer composed).

The same permission filter as answering applies, inside both rankers. Used by the search API,
`steward search --batch` and the retrieval benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steward.core.errors import QuestionError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime

MAX_K = 100


@dataclass(frozen=True)
class SearchHit:
    doc_id: str
    chunk_id: int
    title: str
    heading: str
    score: float
    text: str

    def as_dict(self, with_text: bool = True) -> dict[str, object]:
        out: dict[str, object] = {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "score": round(self.score, 6),
        }
        if with_text:
            out.update(title=self.title, heading=self.heading, text=self.text)
        return out


def search(
    rt: Runtime,
    who: Principal,
    query: str,
    k: int = 10,
    mode: str = "hybrid",
    rerank: bool | None = None,
) -> list[SearchHit]:
    """Permitted chunks for ``query``, best first. The query is masked before use. ``mode``
    (``hybrid``, ``lexical``, ``dense``) picks the rankers; answering always uses hybrid."""
    from steward.answering.answer import load_passages
    from steward.retrieval.search import MODES

    if not isinstance(query, str) or not query.strip():
        raise QuestionError("The query is empty.")
    if len(query) > rt.settings.policy.max_question_chars:
        raise QuestionError(
            f"The query is longer than {rt.settings.policy.max_question_chars:,} "
            "characters (STEWARD_MAX_QUESTION_CHARS)."
        )
    rt.authz.authorize(who, Permission.SEARCH, "search")
    if not 1 <= k <= MAX_K:
        raise QuestionError(f"k must be between 1 and {MAX_K}.")
    if mode not in MODES:
        raise QuestionError(f"Unknown search mode {mode!r}; use one of {', '.join(MODES)}.")
    masked = rt.masker.mask(query.strip()).text
    vector = (
        rt.embedder.embed([masked])[0]
        if mode != "lexical"
        else np.zeros(rt.embedder.dim, np.float32)
    )
    flt = rt.search.filter_for(who.groups, who.center)
    if rerank is None:
        reranker = rt.reranker
    else:
        reranker = (rt.reranker or rt.sentence_reranker) if rerank else None
    hits = rt.search.search(masked, vector, flt, k, mode, reranker)
    passages = load_passages(rt.store, hits, rt.embedder.dim, who.center, flt.acl_ids)
    return [SearchHit(p.doc_id, p.chunk_id, p.title, p.heading, p.score, p.text) for p in passages]
