"""The audit trail: one append-only, hash-chained row per event, from one code path.

Each row stores the SHA-256 of its own canonical content plus the previous row's hash, so an
edited, deleted or reordered row breaks the chain at a place :func:`verify` names. Rows hold only
masked text. A question and its answer is one kind of event (:class:`AuditEntry`, written by
:func:`append`); every other state change is an :class:`~steward.audit.events.AuditEvent`
(written by :func:`record`). Both take the caller's session, so an event commits or rolls back
with the change it describes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session
from ulid import ULID

from steward.audit.events import AuditEvent, Kind
from steward.core.errors import NotFoundError
from steward.observability.context import request_id as current_request_id
from steward.store import Store
from steward.store.models import AuditRecord

GENESIS = "0" * 64
HASHED_FIELDS = (
    "id",
    "seq",
    "ts",
    "channel",
    "user_id",
    "groups",
    "center",
    "question",
    "action",
    "reason",
    "escalation_reason",
    "confidence",
    "answer",
    "citations",
    "retrieved",
    "provider",
    "model",
    "prompt_version",
    "kb_version",
    "settings",
    "latency_ms",
    "prev_hash",
)
# Format 2 (typed events) also hashes what kind of event it was, its target, its request and
# its payload; rows written before keep format 1 and verify as they were written.
HASHED_FIELDS_V2 = (*HASHED_FIELDS, "kind", "target", "request_id", "payload")
# Format 3 (migration 0008) hashes the text an erasure may have to redact through a salted
# digest (``content_digest``) instead of the text itself: erasure rewrites the text and deletes
# the salt, the chain still verifies, and without the salt the digest confirms no guessed value.
REDACTABLE = ("question", "answer", "reason", "target", "payload", "citations")
HASHED_FIELDS_V3 = (*(f for f in HASHED_FIELDS_V2 if f not in REDACTABLE), "content_digest")
HASH_FORMAT = 3


def _canonical_ts(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds")


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(values: dict[str, Any]) -> str:
    fmt = values.get("hash_format", 2)
    fields = HASHED_FIELDS if fmt == 1 else HASHED_FIELDS_V3 if fmt >= 3 else HASHED_FIELDS_V2
    payload = {k: values[k] for k in fields}
    payload["ts"] = _canonical_ts(payload["ts"])
    return hashlib.sha256(_canonical(payload)).hexdigest()


def content_digest(values: dict[str, Any], salt: str) -> str:
    """Format 3: the salted digest of a row's redactable text, which the row hash covers."""
    text = _canonical({k: values[k] for k in REDACTABLE})
    return hashlib.sha256(bytes.fromhex(salt) + text).hexdigest()


def redacted_digest(values: dict[str, Any]) -> str:
    """What the ``subject-erased`` event records of each row it redacted: the digest of the
    redactable text as the erasure left it, so a later edit of a redacted row still shows."""
    return hashlib.sha256(_canonical({k: values[k] for k in REDACTABLE})).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """What the orchestrator records; everything textual here is already masked."""

    channel: str
    user_id: str
    groups: list[str]
    center: str | None
    question: str
    action: str
    reason: str
    escalation_reason: str | None
    confidence: float
    answer: str
    citations: list[dict[str, Any]]
    retrieved: list[dict[str, Any]]
    provider: str
    model: str
    prompt_version: str
    kb_version: int
    settings: dict[str, Any]
    latency_ms: dict[str, float]


def append(store: Store, entry: AuditEntry, session: Session | None = None) -> str:
    """Write one question record at the end of the chain; returns its id.

    With ``session``, the row joins the caller's transaction (one unit of work with the
    conversation turns, the ticket and the cache entry of the same request)."""
    values: dict[str, Any] = dict(entry.__dict__)
    values.update(kind=Kind.QUESTION.value, target="", payload=None)
    values["confidence"] = round(float(entry.confidence), 4)
    return _write(store, values, session)


def record(store: Store, event: AuditEvent, session: Session | None = None) -> str:
    """Write one typed event at the end of the chain; returns its id. Pass the session of the
    state change it describes, so that both commit or neither does."""
    values: dict[str, Any] = {
        "kind": str(event.kind),
        "target": event.target[:200],
        "payload": event.payload,
        "channel": event.channel,
        "user_id": event.actor,
        "groups": sorted(event.groups),
        "center": event.center,
        "question": event.summary[:500],
        "action": event.decision,
        "reason": event.reason[:500],
        "escalation_reason": None,
        "confidence": 0.0,
        "answer": "",
        "citations": [],
        "retrieved": [],
        "provider": "none",
        "model": "none",
        "prompt_version": "none",
        "kb_version": 0,
        "settings": {},
        "latency_ms": {},
    }
    return _write(store, values, session)


def _write(store: Store, values: dict[str, Any], session: Session | None) -> str:
    if session is not None:
        return _chain(store, session, values)
    with store.write() as (s, _):
        return _chain(store, s, values)


def _chain(store: Store, s: Session, values: dict[str, Any]) -> str:
    if store.dialect == "postgresql":
        # Replicas append concurrently: one writer at a time extends the chain.
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x5744_4954})
    anchor = _anchor_in(s)
    last = s.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first() or (anchor if anchor[0] else None)
    values.update(
        id=str(ULID()),
        seq=(last[0] + 1) if last else 1,
        ts=datetime.now(UTC).replace(tzinfo=None),
        prev_hash=last[1] if last else GENESIS,
        request_id=values.get("request_id") or current_request_id(),
        hash_format=HASH_FORMAT,
        content_salt=secrets.token_hex(16),
    )
    values["content_digest"] = content_digest(values, values["content_salt"])
    values["hash"] = row_hash(values)
    s.add(AuditRecord(**values))
    # Flushed now so that a later event of the same transaction chains after this one.
    s.flush()
    return str(values["id"])


def get(store: Store, audit_id: str) -> AuditRecord:
    with store.read() as s:
        row = s.get(AuditRecord, audit_id)
    if row is None:
        raise NotFoundError(f"No audit record {audit_id[:64]!r}.", audit_id=audit_id[:64])
    return row


def as_dict(row: AuditRecord) -> dict[str, Any]:
    out = {k: getattr(row, k) for k in (*HASHED_FIELDS_V2, "hash")}
    out["ts"] = _canonical_ts(row.ts) + "Z"
    return out


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    problem: str | None = None
    audit_id: str | None = None
    seq: int | None = None


def _anchor(store: Store) -> tuple[int, str]:
    """Where the chain starts: after a retention prune, the last pruned row's seq and hash."""
    seq = store.get_meta("audit_anchor_seq")
    return (int(seq), store.get_meta("audit_anchor_hash")) if seq else (0, GENESIS)


def _anchor_in(s: Session) -> tuple[int, str]:
    seq = Store.meta_in(s, "audit_anchor_seq")
    return (int(seq), Store.meta_in(s, "audit_anchor_hash")) if seq else (0, GENESIS)


def redactions(s: Session) -> dict[str, tuple[int, str]]:
    """Rows that erasures redacted: id -> (seq of the ``subject-erased`` event, digest of the
    redacted text); a later erasure of the same row supersedes an earlier one."""
    found: dict[str, tuple[int, str]] = {}
    events = s.execute(
        select(AuditRecord.seq, AuditRecord.payload)
        .where(AuditRecord.kind == Kind.SUBJECT_ERASED.value)
        .order_by(AuditRecord.seq)
    )
    for seq, payload in events:
        for audit_id, digest in ((payload or {}).get("redacted") or {}).items():
            found[str(audit_id)] = (int(seq), str(digest))
    return found


def _content_problem(
    row: AuditRecord, values: dict[str, Any], redacted: dict[str, tuple[int, str]]
) -> str | None:
    """Why the row's redactable text fails its check, or None. A redacted row is checked
    against the erasure event that redacted it; a format-3 row against its salted digest.
    Format 1 and 2 rows not redacted are checked by their row hash alone."""
    if row.id in redacted:
        event_seq, digest = redacted[row.id]
        if event_seq <= row.seq or redacted_digest(values) != digest:
            return "redacted text does not match its erasure event (row edited)"
        return None
    if row.hash_format >= 3 and (
        row.content_salt is None or content_digest(values, row.content_salt) != row.content_digest
    ):
        return "content does not match its hash (row edited)"
    return None


def verify(store: Store) -> ChainReport:
    """Walk the chain in order; the first broken link is reported with its row."""
    anchor_seq, prev = _anchor(store)
    expected_seq = anchor_seq + 1
    n = 0
    fields = (*HASHED_FIELDS_V2, "hash_format", "content_digest")
    with store.read() as s:
        redacted = redactions(s)
        for row in s.scalars(select(AuditRecord).order_by(AuditRecord.seq)):
            n += 1
            values = {k: getattr(row, k) for k in fields}
            if row.seq != expected_seq:
                return ChainReport(False, n, f"row missing before seq {row.seq}", row.id, row.seq)
            if row.prev_hash != prev:
                return ChainReport(
                    False, n, "previous-hash link broken (row deleted or moved)", row.id, row.seq
                )
            problem = _content_problem(row, values, redacted)
            # A redacted row of format 1 or 2 hashed its text itself: its old hash still links
            # the chain, and its text is checked against the erasure event instead.
            hashed = row.hash_format >= 3 or row.id not in redacted
            if problem is None and hashed and row_hash(values) != row.hash:
                problem = "content does not match its hash (row edited)"
            if problem is not None:
                return ChainReport(False, n, problem, row.id, row.seq)
            prev = row.hash
            expected_seq += 1
    return ChainReport(True, n)


def sources(store: Store, audit_id: str) -> list[dict[str, Any]]:
    """Which sources produced this answer: each cited document, its source and the version
    cited, and whether the document has changed (or gone) since."""
    from steward.store.models import Document

    row = get(store, audit_id)
    out = []
    with store.read() as s:
        for c in row.citations:
            doc = s.scalars(select(Document).where(Document.doc_id == c["doc_id"])).first()
            current = doc.version[:16] if doc else None
            out.append(
                {
                    "doc_id": c["doc_id"],
                    "title": c.get("title"),
                    "chunk_id": c.get("chunk_id"),
                    "cited_version": c.get("version"),
                    "source_id": doc.source_id if doc else None,
                    "current_version": current,
                    "status": "unchanged"
                    if current == c.get("version")
                    else ("removed" if doc is None else "changed"),
                }
            )
    return out


def export(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Audit rows in order, as dictionaries (their text is masked already)."""
    q = select(AuditRecord).order_by(AuditRecord.seq)
    if since is not None:
        q = q.where(AuditRecord.ts >= since.astimezone(UTC).replace(tzinfo=None))
    if until is not None:
        q = q.where(AuditRecord.ts < until.astimezone(UTC).replace(tzinfo=None))
    with store.read() as s:
        for row in s.scalars(q):
            yield as_dict(row)


@dataclass(frozen=True)
class ExportReport:
    rows: int
    sha256: str  # of the file written: proves later which rows left, without keeping them
    audit_id: str  # the audit-exported event


def export_file(
    store: Store,
    dest: Path,
    actor: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExportReport:
    """Write the rows of :func:`export` to ``dest`` as JSON Lines and record the export as an
    event (row count, file digest, window), written once the file is complete."""
    digest = hashlib.sha256()
    n = 0
    # Owner-only (0600) whatever the umask: the rows hold answers and passages that the audit
    # view withholds from operators who may not read them.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="utf-8") as fh:
        for row in export(store, since, until):
            line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
            fh.write(line)
            digest.update(line.encode("utf-8"))
            n += 1
    window = {k: v.isoformat() if v else None for k, v in (("since", since), ("until", until))}
    payload = {"rows": n, "sha256": digest.hexdigest(), **window}
    event = AuditEvent(Kind.AUDIT_EXPORTED, actor=actor, target="audit", payload=payload)
    return ExportReport(n, digest.hexdigest(), record(store, event))


def prune(store: Store, before: datetime, *, actor: str | None = None) -> int:
    """Retention: delete rows older than ``before``. The chain stays verifiable: the last
    deleted row's seq and hash become its anchor. With ``actor`` (who pruned), the prune is
    an event in the same transaction, chained after the newest kept row."""
    cutoff = before.astimezone(UTC).replace(tzinfo=None)
    with store.write() as (s, _):
        last = s.execute(
            select(AuditRecord.seq, AuditRecord.hash)
            .where(AuditRecord.ts < cutoff)
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        ).first()
        if last is None:
            return 0
        result = s.execute(delete(AuditRecord).where(AuditRecord.seq <= last[0]))
        Store.set_meta(s, "audit_anchor_seq", str(last[0]))
        Store.set_meta(s, "audit_anchor_hash", last[1])
        n = int(getattr(result, "rowcount", 0) or 0)
        if actor is not None:
            payload = {"rows": n, "before": cutoff.isoformat(), "anchor_seq": last[0]}
            event = AuditEvent(Kind.AUDIT_PRUNED, actor, "audit", payload=payload)
            record(store, event, session=s)
    return n


def count(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditRecord)) or 0)
