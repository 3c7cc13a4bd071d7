"""Quarantined chunks: instruction-like text held back from retrieval until an operator
releases it. A release is audited; a changed document is checked (and held) again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from steward import audit
from steward.core.errors import InputError, NotFoundError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
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
    rt.authz.authorize(who, Permission.RELEASE_QUARANTINE, f"chunk:{chunk_id}")
    with rt.store.read() as s:
        chunk = s.get(Chunk, chunk_id)
        if chunk is None:
            raise NotFoundError(f"No chunk {chunk_id}; `steward quarantine list` shows them.")
        if not chunk.quarantined:
            raise InputError(f"Chunk {chunk_id} is not quarantined.")
        doc = s.get(Document, chunk.document_id)
        doc_id = doc.doc_id if doc else "?"
    with rt.store.write() as (s, _):
        rt.chunks.release(s, chunk_id)
        audit_id = audit.record(rt.store, _released(who, chunk_id, doc_id), session=s)
    return audit_id


def _released(who: Principal, chunk_id: int, doc_id: str) -> audit.AuditEvent:
    return audit.AuditEvent(
        audit.Kind.QUARANTINE_RELEASED,
        actor=who.user_id,
        target=f"chunk:{chunk_id}",
        decision="release",
        payload={"chunk_id": chunk_id, "doc_id": doc_id},
        reason="quarantine: released by an operator",
        channel="admin",
        groups=tuple(who.groups),
        center=who.center,
        summary=f"[release quarantined chunk {chunk_id} of {doc_id}]",
    )
