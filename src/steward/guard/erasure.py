"""Erasure of a data subject: every copy Steward holds of a person's values goes.

Steward stores tokens, not values, so erasing a subject means: delete the records that are about
the subject (items whose declared personal fields hold the value), redact the subject's tokens
wherever else they appear (chunk text, index and vectors are rebuilt; conversation turns,
hand-off tickets and saved corrections), drop cached answers that mention them, delete their
sealed values from the vault, delete the token numbering (so later masks of the value are not
linkable to old ones), and leave a tombstone (the keyed digest, never the value) so that a later
sync does not bring the records back. The erasure itself is written to the audit trail without
the value. Audit rows are append-only and hash-chained, so they keep their tokens; with the
numbering gone those tokens no longer lead to the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, or_, select
from ulid import ULID

from steward import audit
from steward.guard import TokenBook, load_or_create_key
from steward.identity.auth import Principal
from steward.knowledge.pipeline import embed_chunk
from steward.runtime import Runtime
from steward.store.models import (
    CacheEntry,
    Chunk,
    Correction,
    Document,
    Erasure,
    PiiToken,
    Ticket,
    Turn,
)

ERASED = "<ERASED>"
# Kinds a subject's value may have been masked as; declared fields add their own kinds.
KINDS = (
    "NAME",
    "EMAIL",
    "PHONE",
    "CARD",
    "ADDRESS",
    "IBAN",
    "SSN",
    "IP",
    "DOB",
    "ACCOUNT",
    "SWIFT",
)


@dataclass(frozen=True)
class ErasureReport:
    tokens: int
    documents: int
    chunks: int
    vault_entries: int
    audit_id: str
    records: int = 0  # conversation turns, tickets and corrections redacted
    cached: int = 0  # cached answers dropped


def subject_digests(rt: Runtime, value: str) -> dict[str, str]:
    """digest -> kind for every kind the value could have been masked as."""
    with rt.store.read() as s:
        kinds = set(KINDS) | set(s.scalars(select(PiiToken.kind).distinct()))
    return {rt.masker.tokens.digest(k, value): k for k in sorted(kinds)}


def erase_subject(rt: Runtime, value: str, who: Principal) -> ErasureReport:
    """Erase every copy of ``value`` (a name, e-mail, phone, card number...)."""
    who.require("admin")
    value = value.strip()
    digests = subject_digests(rt, value)
    with rt.store.read() as s:
        token_rows = s.execute(
            select(PiiToken.kind, PiiToken.number).where(PiiToken.digest.in_(list(digests)))
        ).all()
        tokens = [f"<{k}_{n}>" for k, n in token_rows]
        docs = [
            d
            for d in s.scalars(select(Document))
            if set((d.meta or {}).get("subjects", [])) & set(digests)
        ]
    removed_docs = _remove_documents(rt, [d.id for d in docs])
    redacted = _redact_chunks(rt, tokens)
    records = _redact_records(rt, tokens)
    cached = _drop_cached(rt, tokens)
    forgotten = rt.vault.forget(set(digests)) if rt.vault is not None else 0
    with rt.store.write() as (s, _):
        s.execute(delete(PiiToken).where(PiiToken.digest.in_(list(digests))))
        for digest, kind in digests.items():
            s.add(Erasure(id=str(ULID()), digest=digest, kind=kind, created_at=datetime.now(UTC)))
        rt.store.bump_kb_version(s)
    # Drop the in-memory numbering too: the next mask of this value gets a new, unlinked number.
    rt.masker.tokens = TokenBook(rt.store, load_or_create_key(rt.settings.key_file))
    reason = (
        f"erasure: {len(tokens)} token(s), {removed_docs} record(s) removed, "
        f"{redacted} chunk(s) redacted, {records} conversation/ticket record(s) redacted, "
        f"{cached} cached answer(s) dropped, {forgotten} vault entr(ies) deleted"
    )
    audit_id = audit.append(
        rt.store,
        audit.AuditEntry(
            channel="admin",
            user_id=who.user_id,
            groups=sorted(who.groups),
            center=who.center,
            question="[erasure request]",
            action="erase",
            reason=reason,
            escalation_reason=None,
            confidence=0.0,
            answer="",
            citations=[],
            retrieved=[],
            provider="none",
            model="none",
            prompt_version="none",
            kb_version=rt.store.kb_version(),
            settings={},
            latency_ms={},
        ),
    )
    return ErasureReport(
        len(tokens), removed_docs, redacted, forgotten, audit_id, records=records, cached=cached
    )


def _remove_documents(rt: Runtime, doc_pks: list[int]) -> int:
    if not doc_pks:
        return 0
    with rt.store.write() as (s, _):
        ids = list(s.scalars(select(Chunk.id).where(Chunk.document_id.in_(doc_pks))))
        rt.index.remove(s, ids)
        s.execute(delete(Chunk).where(Chunk.document_id.in_(doc_pks)))
        s.execute(delete(Document).where(Document.id.in_(doc_pks)))
    return len(doc_pks)


def _redact_chunks(rt: Runtime, tokens: list[str]) -> int:
    """Replace the tokens in chunk text; rebuild the chunk's index row and vectors."""
    if not tokens:
        return 0
    with rt.store.read() as s:
        rows = [
            (c.id, c.text, c.heading, c.quarantined, d.title)
            for c, d in s.execute(select(Chunk, Document).join(Document)).all()
            if any(t in c.text or t in c.heading for t in tokens)
        ]
    for chunk_id, text, heading, quarantined, title in rows:
        for t in tokens:
            text, heading = text.replace(t, ERASED), heading.replace(t, ERASED)
        v = embed_chunk(rt.embedder, heading, text, quarantined)
        with rt.store.write() as (s, _):
            chunk = s.get(Chunk, chunk_id)
            assert chunk is not None
            chunk.text, chunk.heading = text, heading
            chunk.embedding, chunk.heading_vector = v.embedding, v.heading_vector
            chunk.sentences, chunk.sentence_vectors = v.sentences, v.sentence_vectors
            rt.index.remove(s, [chunk_id])
            rt.index.add(s, [(chunk_id, title, heading, text)])
    return len(rows)


def _redact(text: str | None, tokens: list[str]) -> str | None:
    if text is None:
        return None
    for t in tokens:
        text = text.replace(t, ERASED)
    return text


def _redact_records(rt: Runtime, tokens: list[str]) -> int:
    """Replace the tokens in conversation turns, hand-off tickets and saved corrections."""
    if not tokens:
        return 0
    fields = {
        Turn: (Turn.text, Turn.standalone),
        Ticket: (Ticket.detail, Ticket.resolution),
        Correction: (Correction.question, Correction.answer),
    }
    n = 0
    with rt.store.write() as (s, _):
        for model, cols in fields.items():
            hit = or_(*(c.contains(t) for c in cols for t in tokens))
            for row in s.scalars(select(model).where(hit)):
                for c in cols:
                    setattr(row, c.key, _redact(getattr(row, c.key), tokens))
                n += 1
    return n


def _drop_cached(rt: Runtime, tokens: list[str]) -> int:
    """Delete cached answers whose question or answer holds a token (every replica re-checks
    its in-process copy against the table after an erasure: it bumps the knowledge version)."""
    if not tokens:
        return 0
    with rt.store.read() as s:
        rows = s.execute(select(CacheEntry.key, CacheEntry.question, CacheEntry.response)).all()
    keys = [k for k, q, r in rows if any(t in q or t in str(r) for t in tokens)]
    for key in keys:
        rt.cache.invalidate(key)
    return len(keys)
