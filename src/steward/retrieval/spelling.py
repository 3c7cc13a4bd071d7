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
masked, so it holds no personal values) once per knowledge-base version: inline on a knowledge
base of up to 20,000 chunks, in the background above that (from the 200,000 most recent).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from steward.guard.kinds import edits1
from steward.retrieval.search import query_terms
from steward.store.models import Chunk

if TYPE_CHECKING:
    from collections.abc import Callable

    from steward.retrieval.search import Filter, SearchIndex
    from steward.store.db import Store

log = logging.getLogger(__name__)
MIN_LENGTH = 5
_PLAIN = re.compile(r"[a-z]+")


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
        from steward.guard.kinds import has_word_vectors, vector_row

        return cls(vector_row) if has_word_vectors() else None


class Speller:
    # Below this many chunks the vocabulary is read when needed (about 4 MB of text a second,
    # so a few seconds at most); above it, in the background while the last one serves (none
    # until the first is read: nothing is corrected meanwhile). At most MAX_CHUNKS, the most
    # recently written, are read.
    INLINE_CHUNKS = 20_000
    MAX_CHUNKS = 200_000

    def __init__(self, store: Store, index: SearchIndex, vectors: WordVectors | None) -> None:
        self.store = store
        self.index = index
        self.vectors = vectors
        self._lock = threading.Lock()
        self._version = -1  # the knowledge-base version _counts was read at
        self._reading = -1  # the version being read
        self._counts: Counter[str] = Counter()
        self.reader: threading.Thread | None = None  # the last background read

    def vocabulary(self, kb_version: int) -> Counter[str]:
        """The knowledge base's plain words of five letters or more, with their counts, as of
        ``kb_version`` (or the last version read, while a large knowledge base is re-read)."""
        with self._lock:
            if kb_version in (self._version, self._reading):
                return self._counts
            self._reading = kb_version
            current = self._counts  # what this request gets while a large one is read
        with self.store.read() as s:
            chunks = int(
                s.scalar(select(func.count()).select_from(Chunk).where(Chunk.is_current)) or 0
            )
        if chunks <= self.INLINE_CHUNKS:
            self._read(kb_version)
            return self._counts
        self.reader = threading.Thread(target=self._read, args=(kb_version,), daemon=True)
        self.reader.start()
        # The last vocabulary read, not whatever the reader has reached by now (it may already
        # have finished: the caller would then be told the read was inline, at random).
        return current

    def _read(self, kb_version: int) -> None:
        counts: Counter[str] = Counter()
        try:
            with self.store.read() as s:
                rows = s.execute(
                    select(Chunk.heading, Chunk.text)
                    .where(Chunk.is_current)
                    .order_by(Chunk.id.desc())
                    .limit(self.MAX_CHUNKS)
                    .execution_options(yield_per=2000)
                )
                for heading, text in rows:
                    counts.update(
                        w for w in query_terms(f"{heading}\n{text}") if _PLAIN.fullmatch(w)
                    )
        except Exception:  # the last vocabulary goes on serving; the next version tries again
            log.exception("spelling vocabulary not read")
            with self._lock:
                self._reading = -1
            return
        with self._lock:
            if kb_version >= self._version:
                self._version, self._counts = kb_version, counts
            if self._reading == kb_version:
                self._reading = -1

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
