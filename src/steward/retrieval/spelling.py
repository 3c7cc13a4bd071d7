"""Misspelt question words read as the knowledge base's words ("montly fee" as "monthly fee").

A question word that no permitted passage holds is corrected only when all of these hold:

- it is at least five letters and a plain word (no digits, no masked value);
- exactly one spelling change (a letter dropped, added, changed, or two swapped) turns it into
  a word of the knowledge base that the asker may read, at least five letters long;
- the language model's word vectors do not know it as an English word, or they know both
  spellings as one word (their vector table maps "recieve" to the row of "receive"); so "wife"
  is never read as "wire" nor "band" as "bank".

Without a word-vector model (the ``ner`` extra) nothing is corrected: without one, a real word
cannot be told from a misspelling. The vocabulary is read from the current chunks (stored
masked, so it holds no personal values) once per knowledge-base version.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from steward.retrieval.search import query_terms
from steward.store.models import Chunk

if TYPE_CHECKING:
    from collections.abc import Callable

    from steward.retrieval.search import Filter, SearchIndex
    from steward.store.db import Store

MIN_LENGTH = 5
_PLAIN = re.compile(r"[a-z]+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def edits1(word: str) -> set[str]:
    """Every string one change away from ``word``: a letter deleted, swapped with the next,
    replaced or inserted (the Damerau-Levenshtein neighbours)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return (deletes | swaps | replaces | inserts) - {word}


@dataclass(frozen=True)
class Correction:
    typed: str
    read_as: str


class WordVectors:
    """The one question the speller asks of a word-vector table: which row holds a word
    (-1: none). The NER extra's model provides it (``guard.kinds``)."""

    def __init__(self, row_of: Callable[[str], int]) -> None:
        self.row_of = row_of

    @classmethod
    def installed(cls) -> WordVectors | None:
        from steward.guard.kinds import _ner_model, ner_available

        if not ner_available():
            return None
        model = _ner_model()
        if model is None or not model.vocab.vectors.shape[0]:
            return None
        table = model.vocab.vectors
        return cls(lambda w: int(table.find(key=w)))


class Speller:
    def __init__(self, store: Store, index: SearchIndex, vectors: WordVectors | None) -> None:
        self.store = store
        self.index = index
        self.vectors = vectors
        self._lock = threading.Lock()
        self._version = -1
        self._counts: Counter[str] = Counter()

    def vocabulary(self, kb_version: int) -> Counter[str]:
        with self._lock:
            if self._version == kb_version:
                return self._counts
        counts: Counter[str] = Counter()
        with self.store.read() as s:
            rows = s.execute(
                select(Chunk.heading, Chunk.text).where(Chunk.is_current.is_(True))
            ).all()
        for heading, text in rows:
            counts.update(w for w in query_terms(f"{heading}\n{text}") if _PLAIN.fullmatch(w))
        with self._lock:
            self._version, self._counts = kb_version, counts
        return counts

    def suggest(self, word: str, flt: Filter) -> str | None:
        """The knowledge base's word ``word`` misspells, or None."""
        if self.vectors is None or len(word) < MIN_LENGTH or not _PLAIN.fullmatch(word):
            return None
        vocab = self.vocabulary(flt.kb_version if flt.kb_version >= 0 else self.store.kb_version())
        found = [w for w in edits1(word) if len(w) >= MIN_LENGTH and w in vocab]
        if not found:
            return None
        row = self.vectors.row_of(word)
        if row >= 0:  # an English word: only a spelling the model itself reads as this one
            found = [w for w in found if self.vectors.row_of(w) == row]
        if not found:
            return None
        _, counts = self.index.term_counts(found, flt)  # only words the asker may read
        readable = [w for w in found if counts.get(w, 0) > 0]
        if not readable:
            return None
        return max(readable, key=lambda w: (counts[w], vocab[w], w))

    def correct(self, text: str, flt: Filter, unknown: set[str]) -> tuple[str, list[Correction]]:
        """``text`` with each of its ``unknown`` words (lower case, as ``query_terms`` reads
        them) that reads as a misspelling replaced by the knowledge base's word."""
        fixes: list[Correction] = []
        for word in query_terms(text):
            read_as = self.suggest(word, flt) if word in unknown else None
            if read_as is not None:
                fixes.append(Correction(word, read_as))
        for fix in fixes:
            text = re.sub(
                rf"(?<![\w-]){re.escape(fix.typed)}(?![\w-])",
                fix.read_as,
                text,
                flags=re.IGNORECASE,
            )
        return text, fixes
