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
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.guard import TokenBook, load_or_create_key
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.store.chunks import TextEdit
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
    rt.authz.authorize(who, Permission.ERASE_SUBJECT, "subject")
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
    records = _redact_records(rt, tokens)
    cached = _drop_cached(rt, tokens)
    forgotten = rt.vault.forget(set(digests)) if rt.vault is not None else 0
    with rt.store.write() as (s, _):
        # Records, chunks, index rows and vectors go with the tombstones: one transaction,
        # one new knowledge-base version.
        removed_docs = rt.chunks.delete_documents(s, [d.id for d in docs])
        redacted = _redact_chunks(rt, s, tokens)
        counts = {
            "tokens": len(tokens),
            "documents": removed_docs,
            "chunks": redacted,
            "records": records,
            "cached": cached,
            "vault_entries": forgotten,
        }
        s.execute(delete(PiiToken).where(PiiToken.digest.in_(list(digests))))
        for digest, kind in digests.items():
            s.add(Erasure(id=str(ULID()), digest=digest, kind=kind, created_at=datetime.now(UTC)))
        # Even with no chunk changed: replicas re-check their cached answers on a new version.
        rt.store.knowledge_changed(s)
        # The tombstones and the event commit together; the event holds counts, never the value.
        audit_id = audit.record(rt.store, _erased(who, counts), session=s)
    # Drop the in-memory numbering too: the next mask of this value gets a new, unlinked number.
    rt.masker.tokens = TokenBook(rt.store, load_or_create_key(rt.settings.key_file))
    return ErasureReport(
        len(tokens), removed_docs, redacted, forgotten, audit_id, records=records, cached=cached
    )


def _erased(who: Principal, counts: dict[str, int]) -> audit.AuditEvent:
    reason = (
        f"erasure: {counts['tokens']} token(s), {counts['documents']} record(s) removed, "
        f"{counts['chunks']} chunk(s) redacted, {counts['records']} conversation/ticket "
        f"record(s) redacted, {counts['cached']} cached answer(s) dropped, "
        f"{counts['vault_entries']} vault entr(ies) deleted"
    )
    return audit.AuditEvent(
        audit.Kind.SUBJECT_ERASED,
        actor=who.user_id,
        target="subject",
        decision="erase",
        payload=dict(counts),
        reason=reason,
        channel="admin",
        groups=tuple(who.groups),
        center=who.center,
        summary="[erasure request]",
    )


def _redact_chunks(rt: Runtime, s: Session, tokens: list[str]) -> int:
    """Replace the tokens in chunk text (the repository re-embeds and re-indexes them)."""
    if not tokens:
        return 0
    edits = []
    for c, d in s.execute(select(Chunk, Document).join(Document)).all():
        text, heading = c.text, c.heading
        for t in tokens:
            text, heading = text.replace(t, ERASED), heading.replace(t, ERASED)
        if (text, heading) != (c.text, c.heading):
            edits.append(TextEdit(c.id, d.title, heading, text))
    return rt.chunks.rewrite(s, edits)


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
