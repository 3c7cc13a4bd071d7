"""Quarantined chunks: instruction-like text held back from retrieval until an operator
releases it. A release is audited; a changed document is checked (and held) again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from steward import audit
from steward.core.errors import InputError, NotFoundError
from steward.identity.auth import Principal
from steward.knowledge.pipeline import embed_chunk
from steward.runtime import Runtime
from steward.store.models import Chunk, Document


@dataclass(frozen=True)
class Held:
    chunk_id: int
    doc_id: str
    source_id: str
    reason: str
    text: str


def held(rt: Runtime) -> list[Held]:
    with rt.store.read() as s:
        rows = s.execute(
            select(Chunk, Document)
            .join(Document)
            .where(Chunk.quarantined.is_(True))
            .order_by(Chunk.id)
        ).all()
    return [Held(c.id, d.doc_id, d.source_id, c.quarantine_reason or "", c.text) for c, d in rows]


def release(rt: Runtime, chunk_id: int, who: Principal) -> str:
    """Let a held chunk be retrieved; returns the audit id of the release."""
    who.require("operator")
    with rt.store.read() as s:
        chunk = s.get(Chunk, chunk_id)
        if chunk is None:
            raise NotFoundError(f"No chunk {chunk_id}; `steward quarantine list` shows them.")
        if not chunk.quarantined:
            raise InputError(f"Chunk {chunk_id} is not quarantined.")
        doc = s.get(Document, chunk.document_id)
        heading, text, doc_id = chunk.heading, chunk.text, doc.doc_id if doc else "?"
    v = embed_chunk(rt.embedder, heading, text, quarantined=False)
    with rt.store.write() as (s, _):
        row = s.get(Chunk, chunk_id)
        assert row is not None
        row.quarantined, row.quarantine_reason = False, None
        row.sentences, row.sentence_vectors = v.sentences, v.sentence_vectors
        s.flush()
        rt.index.refresh(s, [chunk_id])
        rt.store.bump_kb_version(s)
    return audit.append(
        rt.store,
        audit.AuditEntry(
            channel="admin",
            user_id=who.user_id,
            groups=sorted(who.groups),
            center=who.center,
            question=f"[release quarantined chunk {chunk_id} of {doc_id}]",
            action="release",
            reason="quarantine: released by an operator",
            escalation_reason=None,
            confidence=0.0,
            answer="",
            citations=[],
            retrieved=[{"chunk_id": chunk_id, "doc_id": doc_id}],
            provider="none",
            model="none",
            prompt_version="none",
            kb_version=rt.store.kb_version(),
            settings={},
            latency_ms={},
        ),
    )
