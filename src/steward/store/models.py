"""Relational state. One schema for SQLite and PostgreSQL; Alembic revisions create it.

Text columns that can hold content (chunk text, questions, audit rows) only ever receive text
that the guard has masked: raw personal values never reach these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from steward.store.sealed import SealedText


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    """Small key/value facts about the store (knowledge-base version, store id)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Center(Base):
    __tablename__ = "centers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")


class UserGroup(Base):
    __tablename__ = "user_groups"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Shown back as given ("Signed in as ..."), so kept readable, but encrypted at rest.
    display_name: Mapped[str] = mapped_column(SealedText("users.display_name"))
    center_id: Mapped[str | None] = mapped_column(ForeignKey("centers.id"), nullable=True)
    # The job role from the directory (informational, e.g. `supervisor`).
    role: Mapped[str] = mapped_column(String(64), default="")
    # What the user may do in Steward: asker, reviewer, operator or admin.
    access: Mapped[str] = mapped_column(String(16), default="asker")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    groups: Mapped[list[Group]] = relationship(secondary="user_groups", lazy="selectin")


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Written on authentication at most once a minute per key (identity/auth.py), not per request.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RateCounter(Base):
    """Requests (or failed logins) of one bucket (``user:ID``, ``key:DIGEST``, ``center:ID``,
    ``auth-addr:IP``, ``auth-key:PREFIX``) in one fixed window; shared by every replica."""

    __tablename__ = "rate_counters"
    bucket: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class Source(Base):
    """A registered source: one connector and its settings."""

    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AclSet(Base):
    """A distinct access list. Documents point at one; search filters on these ids."""

    __tablename__ = "acl_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    groups_key: Mapped[str] = mapped_column(String(2000), unique=True)
    groups: Mapped[list[Any]] = mapped_column(JSON)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    doc_id: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    version: Mapped[str] = mapped_column(String(64))
    updated: Mapped[str | None] = mapped_column(String(40), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sensitivity: Mapped[str] = mapped_column(String(32), default="internal")
    supersedes: Mapped[str | None] = mapped_column(String(300), nullable=True)
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acl_set_id: Mapped[int] = mapped_column(ForeignKey("acl_sets.id"), index=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Chunk(Base):
    __tablename__ = "chunks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(Text)
    # Denormalised from the document so that search filters without a join.
    acl_set_id: Mapped[int] = mapped_column(Integer, index=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    quarantine_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    heading_vector: Mapped[bytes] = mapped_column(LargeBinary)
    # Sentence offsets in `text` and their vectors (float16, n x dim) for extractive answers.
    sentences: Mapped[list[Any]] = mapped_column(JSON)
    sentence_vectors: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_chunks_filter", "acl_set_id", "is_current", "quarantined"),)


class SyncRun(Base):
    __tablename__ = "sync_runs"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    seen: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class PiiToken(Base):
    """Stable numbering for masked values: keyed HMAC digest -> `<KIND_n>`. No raw value."""

    __tablename__ = "pii_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    # A record declared this value personal (Masker.remember): typed into a question later, it
    # is masked as a known value. Tokens a recognizer made are not known values.
    declared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    __table_args__ = (
        UniqueConstraint("kind", "digest", name="uq_pii_tokens_kind_digest"),
        UniqueConstraint("kind", "number", name="uq_pii_tokens_kind_number"),
    )


class VaultEntry(Base):
    """A raw personal value kept for a business need, encrypted (AES-GCM) with a key that lives
    outside the database. ``owner`` is the asker who gave it (they may see it again)."""

    __tablename__ = "vault"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64), index=True)
    token: Mapped[str] = mapped_column(String(64), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    source_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("digest", "owner", name="uq_vault_digest_owner"),)


class Erasure(Base):
    """A data subject erased on request: the keyed digest only, so that a later sync does not
    bring the subject's records back. Never the value."""

    __tablename__ = "erasures"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | with_human | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Turn(Base):
    """One message of a conversation; text is masked."""

    __tablename__ = "turns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # asker | assistant | human
    text: Mapped[str] = mapped_column(Text)
    standalone: Mapped[str | None] = mapped_column(Text, nullable=True)  # rewritten question
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    audit_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    author: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Ticket(Base):
    """A conversation handed to people: why, with what context, and how it ended."""

    __tablename__ = "tickets"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    center: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500))
    intent: Mapped[str | None] = mapped_column(String(100), nullable=True)
    signals: Mapped[list[Any]] = mapped_column(JSON)
    sources: Mapped[list[Any]] = mapped_column(JSON)
    priority: Mapped[str] = mapped_column(String(8))  # p1 | p2 | p3
    status: Mapped[str] = mapped_column(String(16), index=True)  # open|claimed|answered|resolved
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    audit_id: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)


class Correction(Base):
    """A reviewer's answer kept as a labelled example for later evaluation (masked)."""

    __tablename__ = "corrections"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(26), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    expected_action: Mapped[str] = mapped_column(String(16))
    escalation_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CacheEntry(Base):
    """A cached answer, keyed by a hash of the masked question, the asker's permission
    fingerprint, the knowledge-base and prompt versions. No raw text in the key."""

    __tablename__ = "answer_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    question: Mapped[str] = mapped_column(Text)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    cited_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRecord(Base):
    """One row per audit event, append-only, hash-chained (each row hashes the previous one).

    ``kind`` says what happened: ``question`` rows fill the question columns; every other kind
    (ticket-claimed, key-created, access-denied, ...) names its ``target`` and keeps its masked
    details in ``payload``, with ``user_id`` as the actor and ``action`` as the decision."""

    __tablename__ = "audit"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(40), default="question", index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # 1: rows written before typed events (hash without kind/target/request_id/payload)
    # 3: the redactable text is hashed through content_digest (migration 0008)
    hash_format: Mapped[int] = mapped_column(Integer, default=2)
    # Format 3: random salt (hex) + SHA-256(salt, redactable text). Erasure deletes the salt and
    # keeps the digest, so the chain still verifies and the digest confirms no guessed value.
    content_salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    content_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    groups: Mapped[list[Any]] = mapped_column(JSON)
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    escalation_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float] = mapped_column(Float)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[Any]] = mapped_column(JSON)
    retrieved: Mapped[list[Any]] = mapped_column(JSON)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(64))
    kb_version: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    latency_ms: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The OpenTelemetry trace of the request that wrote the row (32 hex), when tracing is on.
    # Not in the hash: it links the row to telemetry, it is not part of the decision.
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


# --- operations (issue #19): feedback, review, switches, alerts, rollups, console sessions ---


class Feedback(Base):
    """An asker's feedback on one answer: thumbs (+1/-1) and/or a 1-5 rating, and a masked
    comment. The ``feedback-given`` audit event records the same."""

    __tablename__ = "feedback"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    audit_id: Mapped[str] = mapped_column(String(26), index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    thumb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ReviewItem(Base):
    """An answered conversation that quality monitoring put in front of reviewers (negative
    feedback, low margin, weak grounding, a repeated question, unusual volume), and the
    reviewer's verdict on it (right or wrong), which feeds answer precision."""

    __tablename__ = "review_items"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    audit_id: Mapped[str] = mapped_column(String(26), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    user_id: Mapped[str] = mapped_column(String(64))
    center: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    flags: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | claimed | reviewed
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(8), nullable=True)  # right | wrong
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Switch(Base):
    """A kill switch or override an operator set (stop answers, force escalation, pin an
    answer, exclude a source or document, provider fallback); cleared, never deleted."""

    __tablename__ = "switches"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    intent: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pattern: Mapped[str | None] = mapped_column(Text, nullable=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AlertState(Base):
    """The current state of one alert rule (ok | pending | firing)."""

    __tablename__ = "alert_states"
    rule: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertEvent(Base):
    """A rule firing or resolving, and its delivery to the webhook."""

    __tablename__ = "alert_events"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    rule: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16))  # firing | resolved
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Lease(Base):
    """A named lease one replica holds for a while (the alert evaluator runs on one only)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricRollup(Base):
    """Counts of one hour and center folded from the audit trail (operations/rollup.py), so
    that reports over millions of rows read hundreds. ``center`` is '' for none."""

    __tablename__ = "metric_rollups"
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    center: Mapped[str] = mapped_column(String(64), primary_key=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)  # name -> number
    latency_buckets: Mapped[list[Any]] = mapped_column(JSON)  # counts per histogram bucket
    # Audit ids of this hour's answers already counted as reopened ("r") or handed off later
    # ("h"), so that a second signal about the same answer never counts it twice.
    marks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The watermark (audit seq) of the fold that last wrote the row: a report re-reads only the
    # rows written since its last read.
    seq: Mapped[int] = mapped_column(Integer, default=0, index=True)


class MetricRollupDaily(Base):
    """The hourly rollups of one day (UTC) and center summed, kept by the same fold in the same
    transaction, so that a report over a month reads ~30 rows per center, not ~720."""

    __tablename__ = "metric_rollups_daily"
    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    center: Mapped[str] = mapped_column(String(64), primary_key=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)  # as MetricRollup.counts
    latency_buckets: Mapped[list[Any]] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(Integer, default=0, index=True)  # as MetricRollup.seq


class Asker(Base):
    """First and last question of one asker in one center ('' for none), for adoption."""

    __tablename__ = "askers"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    center: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    days_active: Mapped[int] = mapped_column(Integer, default=1)
    seq: Mapped[int] = mapped_column(Integer, default=0, index=True)  # as MetricRollup.seq


class WebSession(Base):
    """A signed-in browser session of the chat page and console: the token's SHA-256 only,
    and the CSRF token its forms carry."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(token)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # idle expiry
    via: Mapped[str] = mapped_column(String(16), default="api-key")  # api-key | oidc
    # The API key it was started with: revoking or expiring the key ends the session too.
    key_id: Mapped[str | None] = mapped_column(String(26), nullable=True, index=True)
    # An OIDC session's groups, center and access as its token gave them (the token is gone).
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# ------------------------------------------------------------------ change control (issue 20)


class ProfileVersion(Base):
    """One version of the assistant profile: the settings that shape answers (provider, model
    and route, prompt, retrieval, thresholds, detectors, policy overrides) as overrides of the
    deployment's configuration. Immutable once published (profiles/registry.py)."""

    __tablename__ = "profile_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(String(120), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # nested settings overrides
    # The effective answer-shaping settings when it was made (for the record and `diff`).
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical body
    source: Mapped[str] = mapped_column(String(16), default="file")  # configuration|file|learn
    parent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="draft")  # draft | published
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProfileActivation(Base):
    """Which version answers in one scope ('*' for every center without its own, else a center
    id), the one before it (for rollback), and a canary share routed to a candidate."""

    __tablename__ = "profile_activations"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    previous: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_percent: Mapped[int] = mapped_column(Integer, default=0)
    canary_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    activated_by: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")


class ProfileApproval(Base):
    """A second person's approval of one version for one scope, tied to the passing gate run it
    was given on; used once by the activation it allowed."""

    __tablename__ = "profile_approvals"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, index=True)
    scope: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(64))
    gate_run_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EvalRun(Base):
    """One evaluation run (a plain run, a gate's candidate run, or a shadow replay): its figures
    and, for a gate or shadow, the comparison with its baseline (evals/)."""

    __tablename__ = "eval_runs"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # run | gate | shadow
    profile_version: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    set_name: Mapped[str] = mapped_column(String(200))  # the question file's name, or a label
    set_digest: Mapped[str] = mapped_column(String(64))  # sha256 of the questions as run
    questions: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    baseline_run_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(8), nullable=True)  # pass | fail
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class EvalResult(Base):
    """One question's outcome in one run (masked: what the audit row holds, never more)."""

    __tablename__ = "eval_results"
    run_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    qid: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    expected: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    correct: Mapped[bool] = mapped_column(Boolean)
    leak: Mapped[bool] = mapped_column(Boolean)
    audit_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class BudgetState(Base):
    """How far one monthly budget (a center's or a use case's) has gone this month: the highest
    threshold crossed (0, 80, 100) and the spend when it was last read (operations/budgets.py)."""

    __tablename__ = "budget_states"
    budget: Mapped[str] = mapped_column(String(120), primary_key=True)  # center:X | usecase:Y
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM (UTC)
    level: Mapped[int] = mapped_column(Integer, default=0)
    spent_usd: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Action(Base):
    """One proposed tool call and where it stands (actions/service.py): who asked and for whom,
    the exact call's keyed hash (approvals are bound to it), the masked arguments for display
    and audit, and the raw ones sealed until the call ends (then wiped)."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("requested_by", "client_key", name="uq_actions_requester_client_key"),
    )
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tool: Mapped[str] = mapped_column(String(64))
    # awaiting-confirmation | awaiting-approval | ready | executing | executed | failed |
    # compensated | denied | rejected | expired
    status: Mapped[str] = mapped_column(String(24), index=True)
    risk: Mapped[str] = mapped_column(String(8))  # the class it was treated as: read|low|high
    mode: Mapped[str] = mapped_column(String(12))  # auto | confirm | propose
    approvals_needed: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(64), index=True)  # the asker it acts for
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the customer acted on
    center: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(12), default="asker")  # asker | assistant
    conversation_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    client_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    call_hash: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON)  # masked
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # raw, encrypted
    summary: Mapped[str] = mapped_column(Text, default="")  # masked: what will happen
    decision: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the policy's answer
    rule: Mapped[str] = mapped_column(String(200), default="")  # what decided the outcome
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # masked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ActionApproval(Base):
    """One person's approval or rejection of one action, bound to the call hash they saw."""

    __tablename__ = "action_approvals"
    __table_args__ = (
        UniqueConstraint("action_id", "approver", name="uq_action_approvals_approver"),
    )
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    action_id: Mapped[str] = mapped_column(String(26), index=True)
    approver: Mapped[str] = mapped_column(String(64))
    call_hash: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))  # approve | reject
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ------------------------------------------------------------- data readiness (issue 22, point 4)


class ReadinessRun(Base):
    """One data readiness audit (sponsor/readiness.py): its figures per source and per use case,
    kept run after run so that the change against the previous run shows (the trend). Figures
    only: counts, shares and densities, never a document's text or a personal value."""

    __tablename__ = "readiness_runs"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # command | sync | console
    actor: Mapped[str] = mapped_column(String(64))
    kb_version: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    usable: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)  # totals, sources, use_cases, settings
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class ReadinessFinding(Base):
    """One finding of a readiness run that names documents: a duplicate pair, a superseded
    document (and how often answers still cite it), a contradiction (the subject's key terms
    and the differing values), a planted instruction. Document ids and figures, no text."""

    __tablename__ = "readiness_findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(26), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    doc_id: Mapped[str] = mapped_column(String(300))
    other_doc_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- rollout (issue #22): which waves of which use case are open (sponsor/rollout.py) ---


class RolloutWave(Base):
    """One wave of one use case of the rollout file, and whether it is open: state here, the
    definition in the file. Opened and closed, never deleted (the audit trail keeps each step);
    ``override`` is the reason a wave was opened although its gates did not pass."""

    __tablename__ = "rollout_waves"
    usecase: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_open: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    opened_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    override: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # or "system"
    close_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


# ------------------------------------------------------------------ federated records (issue 22)


class RecordEntity(Base):
    """One federated entity record (a customer, a product): its type and the keyed digest of
    its key, so the raw key is never needed to find it; the label is the key as masked."""

    __tablename__ = "record_entities"
    __table_args__ = (UniqueConstraint("entity", "key_digest", name="uq_record_entities_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(64), index=True)
    key_digest: Mapped[str] = mapped_column(String(64))
    key_label: Mapped[str] = mapped_column(String(200))  # masked
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecordValue(Base):
    """One source's value of one field of one record (sponsor/records.py): masked (a token for
    a personal field), with a keyed digest of its normalised value for agreement, the item it
    came from (whose access list decides who sees it), when it was updated and how far the
    source is trusted."""

    __tablename__ = "record_values"
    __table_args__ = (
        UniqueConstraint("record_id", "field", "source_id", name="uq_record_values_source"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("record_entities.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(Text)  # masked
    value_key: Mapped[str] = mapped_column(String(64))  # HMAC of the normalised value
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a personal field's
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    authority: Mapped[float] = mapped_column(Float)


class RecordField(Base):
    """The merged value of one field as of the last merge, over every contributing source:
    the owners' and operators' view (an asker's is computed from the sources they may read)."""

    __tablename__ = "record_fields"
    record_id: Mapped[int] = mapped_column(
        ForeignKey("record_entities.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # masked
    value_key: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    agreement: Mapped[float] = mapped_column(Float)
    sources: Mapped[list[Any]] = mapped_column(JSON)  # source ids, those agreeing first
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecordTask(Base):
    """A conflict between sources on one field of one record, assigned to the owners of the
    contributing sources: open, resolved (a chosen source's value or a note), or closed when
    the sources came to agree. A new disagreement re-opens it."""

    __tablename__ = "record_tasks"
    __table_args__ = (UniqueConstraint("record_id", "field", name="uq_record_tasks_field"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("record_entities.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), index=True)  # open | resolved | closed
    owners: Mapped[list[Any]] = mapped_column(JSON)  # user ids, or group:NAME
    sources: Mapped[list[Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(64))  # digest of who says what
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chosen_source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chosen_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")  # masked
