"""Erasure of a data subject: every copy Steward holds of a person's values goes.

Steward stores tokens, not values, so erasing a subject means: delete the records that are about
the subject (items whose declared personal fields hold the value), redact the subject's tokens
wherever else they appear (chunk text, index and vectors are rebuilt; conversation turns,
hand-off tickets and saved corrections), drop cached answers that mention them, delete their
sealed values from the vault, delete the token numbering (so later masks of the value are not
linkable to old ones), and leave a tombstone (the keyed digest, never the value) so that a later
sync does not bring the records back. The erasure itself is written to the audit trail without
the value.

The subject's values are every value declared in their records (found by the given value), and
the given value itself typed in plain text where masking missed it (any case and spacing). Audit
rows are redacted too: rows of hash format 3 commit to their text through a salted digest, so
erasure rewrites the text, deletes the salt and the chain still verifies; the ``subject-erased``
event lists each redacted row with the digest of its redacted text, which verification checks
instead (audit/trail.py). On SQLite the write-ahead log is then truncated, so no old page of the
erased text stays in a file under the data home (deleted content is zeroed: secure_delete).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.audit.trail import REDACTABLE, redacted_digest
from steward.guard import TokenBook
from steward.guard.pii import declared_variants
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.store.chunks import TextEdit
from steward.store.models import (
    AuditRecord,
    CacheEntry,
    Chunk,
    Correction,
    Document,
    Erasure,
    PiiToken,
    Ticket,
    Turn,
)

log = logging.getLogger(__name__)
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
    audit_rows: int = 0  # audit rows whose text was redacted


class Needles:
    """What erasure looks for: the subject's tokens, and their raw value in any case and
    spacing (where masking missed it). ``like`` are lower-case substrings for a SQL pre-filter;
    :meth:`redact` decides."""

    def __init__(self, tokens: Sequence[str], value: str) -> None:
        self.tokens = list(tokens)
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 7 and len(digits) >= 0.6 * len(re.sub(r"\s", "", value)):
            body, hint = r"[\s.()/-]*".join(digits), digits[-4:]
        else:
            words = value.split()
            body, hint = r"\s+".join(re.escape(w) for w in words), max(words, key=len, default="")
        self.raw = re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE) if body else None
        self.like = [t.lower() for t in self.tokens] + ([hint.lower()] if hint else [])

    def redact(self, text: str) -> str:
        for t in self.tokens:
            text = text.replace(t, ERASED)
        return self.raw.sub(ERASED, text) if self.raw is not None else text

    def redact_any(self, value: Any) -> Any:
        """The same, through JSON values (audit payloads and citations, cached responses)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_any(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact_any(v) for k, v in value.items()}
        return value

    def where(self, *columns: Any) -> Any:
        """A SQL pre-filter: rows whose columns (as text, lower case) hold a needle."""
        return or_(*(func.lower(cast(c, Text)).contains(n) for c in columns for n in self.like))


def subject_digests(rt: Runtime, value: str) -> dict[str, str]:
    """digest -> kind for every kind the value could have been masked as, and for the parts a
    name or address is masked by on its own (a surname typed alone, a street line): the outside
    review revealed "Thorncastle" from the vault after "Ignatius Thorncastle" was erased. A part
    shared with other people (a common first name) goes too: erasure errs on the side of the
    subject."""
    with rt.store.read() as s:
        kinds = set(KINDS) | set(s.scalars(select(PiiToken.kind).distinct()))
    out = {rt.masker.tokens.digest(k, value): k for k in sorted(kinds)}
    for kind in ("NAME", "ADDRESS"):
        for k, part in declared_variants(kind, value)[1:]:
            out.setdefault(rt.masker.tokens.digest(k, part), k)
    return out


def erase_subject(rt: Runtime, value: str, who: Principal) -> ErasureReport:
    """Erase every copy of ``value`` (a name, e-mail, phone, card number...)."""
    rt.authz.authorize(who, Permission.ERASE_SUBJECT, "subject")
    value = value.strip()
    digests = subject_digests(rt, value)
    with rt.store.read() as s:
        docs = [
            d
            for d in s.scalars(select(Document))
            if set((d.meta or {}).get("subjects", [])) & set(digests)
        ]
        # Every value declared in the subject's records is the subject's too (their e-mail,
        # phone, card when erased by name): their tokens go as well.
        for d in docs:
            for digest in (d.meta or {}).get("subjects", []):
                digests.setdefault(digest, "RECORD")
        token_rows = s.execute(
            select(PiiToken.kind, PiiToken.number).where(PiiToken.digest.in_(list(digests)))
        ).all()
        tokens = [f"<{k}_{n}>" for k, n in token_rows]
    needles = Needles(tokens, value)
    records = _redact_records(rt, needles)
    cached = _drop_cached(rt, needles)
    forgotten = rt.vault.forget(set(digests)) if rt.vault is not None else 0
    with rt.store.write() as (s, _):
        # Records, chunks, index rows and vectors go with the tombstones: one transaction,
        # one new knowledge-base version.
        removed_docs = rt.chunks.delete_documents(s, [d.id for d in docs])
        redacted = _redact_chunks(rt, s, tokens)
        rows = _redact_audit(s, needles)
        counts = {
            "tokens": len(tokens),
            "documents": removed_docs,
            "chunks": redacted,
            "records": records,
            "cached": cached,
            "vault_entries": forgotten,
            "audit_rows": len(rows),
        }
        s.execute(delete(PiiToken).where(PiiToken.digest.in_(list(digests))))
        for digest, kind in digests.items():
            s.add(Erasure(id=str(ULID()), digest=digest, kind=kind, created_at=datetime.now(UTC)))
        # Even with no chunk changed: replicas re-check their cached answers on a new version.
        rt.store.knowledge_changed(s)
        # The tombstones, the redactions and the event commit together; the event holds counts
        # and the redacted rows' ids and digests (what verify checks them by), never the value.
        audit_id = audit.record(rt.store, _erased(who, counts, rows), session=s)
    # Drop the in-memory numbering too: the next mask of this value gets a new, unlinked number.
    rt.masker.tokens = TokenBook(rt.store, rt.masking_key)
    # Federated records merged from the erased items are merged again now, without them
    # (their values went with the items; the merged fields and the record's key digest go here).
    for source_id in sorted({d.source_id for d in docs}):
        rt.records.merge_source(source_id)
    _truncate_wal(rt)
    return ErasureReport(
        len(tokens),
        removed_docs,
        redacted,
        forgotten,
        audit_id,
        records=records,
        cached=cached,
        audit_rows=len(rows),
    )


def _redact_audit(s: Session, needles: Needles) -> dict[str, str]:
    """Redact the subject from audit rows' text; id -> digest of the redacted text. The salt
    goes, so the kept content digest can no longer confirm a guessed value."""
    cols = [getattr(AuditRecord, f) for f in REDACTABLE]
    done: dict[str, str] = {}
    for row in s.scalars(select(AuditRecord).where(needles.where(*cols))):
        values = {f: getattr(row, f) for f in REDACTABLE}
        changed = {f: needles.redact_any(v) for f, v in values.items()}
        if changed == values:
            continue  # the pre-filter's hint matched something else
        for f, v in changed.items():
            setattr(row, f, v)
        row.content_salt = None
        done[row.id] = redacted_digest(changed)
    s.flush()
    return done


def _truncate_wal(rt: Runtime) -> None:
    """SQLite: move the log into the database and truncate it, so the pages that held the
    erased text before the erasure do not stay in the -wal file."""
    if rt.store.dialect != "sqlite":
        return
    with rt.store.engine.connect() as conn:
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    if busy and busy[0]:
        log.warning("erasure: the SQLite log is in use and was not truncated; it will be")


def _erased(who: Principal, counts: dict[str, int], rows: dict[str, str]) -> audit.AuditEvent:
    reason = (
        f"erasure: {counts['tokens']} token(s), {counts['documents']} record(s) removed, "
        f"{counts['chunks']} chunk(s) redacted, {counts['records']} conversation/ticket "
        f"record(s) redacted, {counts['cached']} cached answer(s) dropped, "
        f"{counts['vault_entries']} vault entr(ies) deleted, {counts['audit_rows']} audit "
        "row(s) redacted"
    )
    return audit.AuditEvent(
        audit.Kind.SUBJECT_ERASED,
        actor=who.user_id,
        target="subject",
        decision="erase",
        payload={**counts, "redacted": rows},
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


def _redact_records(rt: Runtime, needles: Needles) -> int:
    """Redact the subject in conversation turns (and their standalone rewrites), hand-off
    tickets and saved corrections."""
    if not needles.like:
        return 0
    fields = {
        Turn: (Turn.text, Turn.standalone),
        Ticket: (Ticket.detail, Ticket.resolution),
        Correction: (Correction.question, Correction.answer),
    }
    n = 0
    with rt.store.write() as (s, _):
        for model, cols in fields.items():
            for row in s.scalars(select(model).where(needles.where(*cols))):
                values = {c.key: getattr(row, c.key) for c in cols}
                changed = {k: v if v is None else needles.redact(v) for k, v in values.items()}
                if changed != values:
                    for k, v in changed.items():
                        setattr(row, k, v)
                    n += 1
    return n


def _drop_cached(rt: Runtime, needles: Needles) -> int:
    """Delete cached answers whose question or answer holds the subject (every replica
    re-checks its in-process copy against the table after an erasure: it bumps the knowledge
    version)."""
    if not needles.like:
        return 0
    with rt.store.read() as s:
        rows = s.execute(select(CacheEntry.key, CacheEntry.question, CacheEntry.response)).all()
    keys = [k for k, q, r in rows if needles.redact_any([q, r]) != [q, r]]
    for key in keys:
        rt.cache.invalidate(key)
    return len(keys)
