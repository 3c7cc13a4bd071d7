"""The chunk repository: the one place that writes chunks.

A chunk lives in three places that must agree: its row in ``chunks``, the retrieval engine's
index (full-text rows, and vectors where the engine keeps its own copy) and the knowledge-base
version that caches and in-process matrices key on. Every write here changes all three inside
the caller's transaction: rows and index together, and ``Store.knowledge_changed`` so that the
version moves exactly once when that transaction commits.

The index is whatever engine the composition root built; it reaches this module through the
small ``ChunkIndex`` protocol, so ``store/`` imports nothing of ``retrieval/`` (which is above
it). Re-embedding comes in the same way (``Reembed``), from the runtime's embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from steward.store.db import Store
from steward.store.models import Chunk, Document

IndexRow = tuple[int, str, str, str]  # chunk id, document title, heading, text


class ChunkIndex(Protocol):
    """What the repository needs of a retrieval engine: keep its index in step with rows.

    >>> index.add(session, [(42, "Fees", "Wires", "A wire costs $45.")])  # doctest: +SKIP
    """

    def add(self, session: Session, rows: Sequence[IndexRow]) -> None:
        """Index rows of chunks already flushed in this session."""

    def remove(self, session: Session, chunk_ids: Sequence[int]) -> None: ...

    def refresh(self, session: Session, chunk_ids: Sequence[int]) -> None:
        """Chunks whose ACL, center, currency or quarantine changed."""


@dataclass(frozen=True)
class ChunkVectors:
    """A chunk's vectors as stored: float16 bytes, sentence spans in its text."""

    embedding: bytes
    heading_vector: bytes
    sentences: list[list[int]]
    sentence_vectors: bytes


class Reembed(Protocol):
    """Vectors for one chunk whose text changed outside a sync (``embed_chunk``)."""

    def __call__(self, heading: str, text: str, quarantined: bool) -> ChunkVectors: ...


@dataclass(frozen=True)
class NewChunk:
    """One chunk of a document being (re)written by a sync, its vectors already computed."""

    heading: str
    text: str
    vectors: ChunkVectors
    quarantine: str | None = None


@dataclass(frozen=True)
class TextEdit:
    """New text for a chunk (redaction, masked copy); ``title`` is its document's title."""

    chunk_id: int
    title: str
    heading: str
    text: str


class ChunkRepository:
    """Chunk rows, the engine's index and the knowledge-base version, changed together."""

    def __init__(self, index: ChunkIndex, reembed: Reembed) -> None:
        self.index = index
        self.reembed = reembed

    def replace(
        self, session: Session, doc: Document, title: str, chunks: Sequence[NewChunk]
    ) -> list[int]:
        """The document's chunks become ``chunks`` (it has been flushed); their ids."""
        self._drop_chunks(session, [doc.id])
        rows: list[IndexRow] = []
        for ordinal, c in enumerate(chunks):
            chunk = Chunk(
                document_id=doc.id,
                ordinal=ordinal,
                heading=c.heading,
                text=c.text,
                acl_set_id=doc.acl_set_id,
                is_current=doc.is_current,
                center=doc.center,
                quarantined=bool(c.quarantine),
                quarantine_reason=c.quarantine,
                embedding=c.vectors.embedding,
                heading_vector=c.vectors.heading_vector,
                sentences=c.vectors.sentences,
                sentence_vectors=c.vectors.sentence_vectors,
            )
            session.add(chunk)
            # One flush per chunk keeps ids in ordinal order, as rankers break ties by id.
            session.flush()
            rows.append((chunk.id, title, c.heading, c.text))
        self.index.add(session, rows)
        Store.knowledge_changed(session)
        return [r[0] for r in rows]

    def delete_documents(self, session: Session, doc_pks: Sequence[int]) -> int:
        """Documents go with their chunks and index rows; how many were asked for."""
        if not doc_pks:
            return 0
        self._drop_chunks(session, doc_pks)
        session.execute(delete(Document).where(Document.id.in_(list(doc_pks))))
        Store.knowledge_changed(session)
        return len(doc_pks)

    def set_access(self, session: Session, doc: Document) -> None:
        """The document's chunks take its (changed) ACL set and center."""
        session.execute(
            update(Chunk)
            .where(Chunk.document_id == doc.id)
            .values(acl_set_id=doc.acl_set_id, center=doc.center)
        )
        self.index.refresh(session, self._chunk_ids(session, [doc.id]))
        Store.knowledge_changed(session)

    def refresh_currency(self, session: Session) -> None:
        """A document is current unless a document in the store says it supersedes it."""
        superseded = set(
            session.scalars(select(Document.supersedes).where(Document.supersedes.is_not(None)))
        )
        for doc in session.scalars(select(Document)):
            current = doc.doc_id not in superseded
            if doc.is_current != current:
                doc.is_current = current
                session.execute(
                    update(Chunk).where(Chunk.document_id == doc.id).values(is_current=current)
                )
                self.index.refresh(session, self._chunk_ids(session, [doc.id]))
                Store.knowledge_changed(session)

    def rewrite(self, session: Session, edits: Sequence[TextEdit]) -> int:
        """New text for chunks: vectors re-embedded, index rows rebuilt; how many changed."""
        for e in edits:
            chunk = session.get(Chunk, e.chunk_id)
            if chunk is None:
                raise LookupError(f"no chunk {e.chunk_id}")
            v = self.reembed(e.heading, e.text, chunk.quarantined)
            chunk.text, chunk.heading = e.text, e.heading
            chunk.embedding, chunk.heading_vector = v.embedding, v.heading_vector
            chunk.sentences, chunk.sentence_vectors = v.sentences, v.sentence_vectors
            session.flush()
            self.index.remove(session, [e.chunk_id])
            self.index.add(session, [(e.chunk_id, e.title, e.heading, e.text)])
        if edits:
            Store.knowledge_changed(session)
        return len(edits)

    def release(self, session: Session, chunk_id: int) -> None:
        """A quarantined chunk becomes retrievable, with the sentence vectors that held-back
        chunks do not get (extractive answers read them)."""
        chunk = session.get(Chunk, chunk_id)
        if chunk is None:
            raise LookupError(f"no chunk {chunk_id}")
        v = self.reembed(chunk.heading, chunk.text, False)
        chunk.quarantined, chunk.quarantine_reason = False, None
        chunk.sentences, chunk.sentence_vectors = v.sentences, v.sentence_vectors
        session.flush()
        self.index.refresh(session, [chunk_id])
        Store.knowledge_changed(session)

    def reindex(self, session: Session) -> int:
        """Index every chunk from its row (a store whose index was not copied with it)."""
        rows = [
            (int(i), t, h, x)
            for i, t, h, x in session.execute(
                select(Chunk.id, Document.title, Chunk.heading, Chunk.text)
                .join(Document)
                .order_by(Chunk.id)
            ).all()
        ]
        ids = [r[0] for r in rows]
        for start in range(0, len(rows), 5000):
            self.index.remove(session, ids[start : start + 5000])
            self.index.add(session, rows[start : start + 5000])
        Store.knowledge_changed(session)
        return len(rows)

    def _chunk_ids(self, session: Session, doc_pks: Sequence[int]) -> list[int]:
        return list(session.scalars(select(Chunk.id).where(Chunk.document_id.in_(list(doc_pks)))))

    def _drop_chunks(self, session: Session, doc_pks: Sequence[int]) -> None:
        self.index.remove(session, self._chunk_ids(session, doc_pks))
        session.execute(delete(Chunk).where(Chunk.document_id.in_(list(doc_pks))))
