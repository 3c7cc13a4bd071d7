"""The retrieval interface and hybrid search.

Permission filter before ranking: both rankers receive the set of ACL ids the asker may read and
rank only chunks inside it. Deny by default: an asker with no groups matches no ACL set, and a
chunk whose document has no ACL never exists (connectors refuse such items).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np
import snowballstemmer  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.models.embeddings import Vectors
from steward.store import Store
from steward.store.models import AclSet

if TYPE_CHECKING:
    from steward.retrieval.rerank import Reranker

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves get got im ive id dont cant whats hows thats theres isnt arent
    wont also please tell know need want like much many one us let lets may might must shall
    """.split()  # noqa: SIM905 - a word list reads best as text
)
# A word of any Latin-script language: "póliza" and "daños" are words, not "p", "liza", "da".
_WORD = re.compile(r"[^\W_][\w$%.,'-]*[^\W_]|[^\W_]%?")


def _folded(word: str) -> str:
    """``word`` without its accents, as the index stores it (``remove_diacritics``)."""
    if word.isascii():
        return word
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch)
    )


_PII_TOKEN = re.compile(r"<[A-Z_]+(?:_\d+)?>")  # "<CARD_3>", and "<CVV>", dropped
_INNER = re.compile(r"[,'.-]")  # splits "u.s." or "2,500" or "follow-up" inside a word


def query_terms(text: str) -> list[str]:
    """Content words of a query, lower-cased, stop words dropped, order kept, no repeats.
    Masked values (``<CARD_3>``) are not words to search for."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in _WORD.findall(_PII_TOKEN.sub(" ", text)):
        for w in _INNER.split(_folded(raw.lower()).replace("'s", "")):
            w = w.strip("$%_")
            if w and w not in STOPWORDS and (len(w) > 1 or w.isdigit()) and w not in seen:
                seen.add(w)
                out.append(w)
    return out


_STEMMER = snowballstemmer.stemmer("english")
_STEM_LOCK = threading.Lock()
_STEMS: dict[str, str] = {}


def stem(word: str) -> str:
    """English Snowball stem (cached; the stemmer object is not thread-safe)."""
    found = _STEMS.get(word)
    if found is None:
        with _STEM_LOCK:
            found = _STEMS[word] = str(_STEMMER.stemWord(word))
    return found


def stem_terms(text: str) -> list[str]:
    return [stem(t) for t in query_terms(text)]


@lru_cache(maxsize=65536)
def stem_set(text: str) -> frozenset[str]:
    """The stems of a passage or sentence, cached: passages are read far more than written."""
    return frozenset(stem_terms(text))


@dataclass(frozen=True)
class Filter:
    """Who is searching: the ACL ids they may read and their center (for audience scoping),
    as of one knowledge-base version (read once per request)."""

    acl_ids: frozenset[int]
    center: str | None = None
    kb_version: int = -1
    # Documents (row ids) an operator's switch took out of retrieval (operations/switches.py):
    # a second filter, applied with the permission filter before ranking, never instead of it.
    excluded: frozenset[int] = frozenset()


@dataclass
class Hit:
    chunk_id: int
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)


class SearchIndex(Protocol):
    """One retrieval engine: lexical and dense ranking over permitted chunks only.

    >>> hits = index.lexical("late fee gold", Filter(frozenset({1, 2})), k=10)  # doctest: +SKIP
    >>> [(h.chunk_id, round(h.score, 2)) for h in hits]                         # doctest: +SKIP
    [(42, 7.31), (17, 5.02)]
    """

    name: str

    def add(self, session: Session, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Index (chunk id, title, heading, text) rows inside the caller's transaction."""

    def remove(self, session: Session, chunk_ids: Sequence[int]) -> None: ...

    def refresh(self, session: Session, chunk_ids: Sequence[int]) -> None:
        """Chunks whose ACL, center, currency or quarantine changed (engines that keep a copy
        of those in their index update it)."""

    def lexical(self, query: str, flt: Filter, k: int) -> list[Hit]: ...

    def dense(self, vector: Vectors, flt: Filter, k: int) -> list[Hit]: ...

    def term_counts(self, terms: Sequence[str], flt: Filter) -> tuple[int, dict[str, int]]:
        """Permitted chunk count and, per term, how many permitted chunks contain it."""
        ...

    def bulk(self) -> AbstractContextManager[None]:
        """A large first load: engines whose indexes build faster over a full table than row
        by row drop them here and rebuild them once on exit."""
        ...


def allowed_acl_ids(session: Session, groups: frozenset[str]) -> frozenset[int]:
    """ACL sets that share at least one group with the asker. Empty groups: nothing."""
    if not groups:
        return frozenset()
    rows = session.execute(select(AclSet.id, AclSet.groups)).all()
    return frozenset(i for i, g in rows if groups.intersection(g))


@dataclass
class TermStats:
    """Query terms over the permitted chunks: IDF weights of those that occur, and the rest."""

    weights: dict[str, float] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    total: int = 0  # permitted chunks
    missing: float = 0.0  # the summed weight of the unknown terms (see term_stats)


_ASKING = re.compile(
    r"(?:^|(?<=[.!?,;:]\s))[^.!?,;:]*\b(?:what|which|how|when|where|who|why|whose|can|could|"
    r"do|does|did|is|are|will|would|should)\b[^.!?]*\?|[^.!?]*\?",
    re.IGNORECASE,
)


def asking_part(text: str) -> str:
    """The clauses that ask (ending in a question mark), without the story around them."""
    found = [m.group() for m in _ASKING.finditer(text)]
    return " ".join(found) if found else text


def term_stats(index: SearchIndex, text: str, flt: Filter) -> TermStats:
    """IDF weight of each (stemmed) content word of ``text`` over the permitted chunks only,
    so that rare words count more and nothing about unreadable chunks shapes the answer."""
    terms = query_terms(text)
    out = TermStats()
    if not terms:
        return out
    total, counts = index.term_counts(terms, flt)
    out.total = total
    rarest = float(np.log((total + 1) / 0.5))
    asked = set(query_terms(asking_part(text)))
    for t in terms:
        df = counts.get(t, 0)
        if df == 0:
            # A word no permitted chunk contains can never be covered. In the clause that asks
            # ("...which number do I ring?") it weighs like the rarest word; in the story around
            # it ("my purse was snatched on the subway") much less.
            out.unknown.append(stem(t))
            out.missing += rarest * (1.0 if t in asked else 0.25)
            continue
        w = max(float(np.log((total + 1) / (df + 0.5))), 0.05)
        out.weights[stem(t)] = max(out.weights.get(stem(t), 0.0), w)
    return out


def rrf(rankings: dict[str, list[Hit]], k: int, weights: dict[str, float]) -> list[Hit]:
    """Reciprocal rank fusion of several rankings of chunk ids."""
    fused: dict[int, Hit] = {}
    for name, hits in rankings.items():
        w = weights.get(name, 1.0)
        for rank, h in enumerate(hits, 1):
            out = fused.setdefault(h.chunk_id, Hit(h.chunk_id, 0.0))
            out.score += w / (k + rank)
            out.ranks[name] = rank
            out.raw[name] = h.score
    return sorted(fused.values(), key=lambda h: -h.score)


MODES = ("hybrid", "lexical", "dense")


class HybridSearch:
    """Lexical + dense, fused with RRF, over one engine."""

    def __init__(
        self,
        store: Store,
        index: SearchIndex,
        candidates: int = 50,
        rrf_k: int = 60,
        weights: dict[str, float] | None = None,
        exclude: Callable[[int], frozenset[int]] | None = None,
    ) -> None:
        """``exclude`` gives the documents switched out of retrieval at a knowledge-base
        version (operations/switches.py)."""
        self.store = store
        self.index = index
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.weights = weights or {"lexical": 1.0, "dense": 1.0}
        self.exclude = exclude
        self._filters: dict[tuple[frozenset[str], str | None, int], Filter] = {}

    def filter_for(self, groups: frozenset[str], center: str | None) -> Filter:
        """The asker's filter; ACL sets only change with ingestion, so it is remembered per
        knowledge-base version."""
        kb = self.store.kb_version()
        key = (groups, center, kb)
        found = self._filters.get(key)
        if found is None:
            with self.store.read() as s:
                found = Filter(allowed_acl_ids(s, groups), center, kb)
            if len(self._filters) > 4096:
                self._filters.clear()
            self._filters[key] = found
        excluded = self.exclude(kb) if self.exclude is not None else frozenset()
        return replace(found, excluded=excluded) if excluded else found

    def search(
        self,
        query: str,
        vector: Vectors,
        flt: Filter,
        k: int,
        mode: str = "hybrid",
        reranker: Reranker | None = None,
    ) -> list[Hit]:
        """The k best permitted chunks. ``mode`` is ``hybrid`` (both rankers, fused),
        ``lexical`` or ``dense`` (one ranker alone, for measurement); a ``reranker``
        reorders the fused candidates (hybrid only)."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not flt.acl_ids:
            return []
        if mode == "lexical":
            return self.index.lexical(query, flt, k)
        if mode == "dense":
            return self.index.dense(vector, flt, k)
        n = max(self.candidates, k)
        lexical = self.index.lexical(query, flt, n)
        dense = self.index.dense(vector, flt, n)
        fused = rrf({"lexical": lexical, "dense": dense}, self.rrf_k, self.weights)
        if reranker is not None:
            fused = reranker.rerank(query, vector, fused)
        return fused[:k]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, len(scores))
    idx = np.argpartition(-scores, k - 1)[:k]
    return idx[np.argsort(-scores[idx], kind="stable")]
