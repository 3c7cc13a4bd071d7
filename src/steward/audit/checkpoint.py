"""Audit checkpoints: the chain head, signed with a key outside the database, kept outside it.

A hash chain proves order, not completeness: whoever can write the database can delete its
newest rows, or put back an older copy, and the chain that is left still verifies. A checkpoint
pins the head as it was (sequence number, hash, row count, time) with an Ed25519 signature by a
key the database never holds, in a sink the database's writers cannot rewrite (an append-only
JSON Lines file, optionally syslog). :func:`check` then compares the trail with it: a trail that
ends before the checkpoint's row lost its newest rows; a row at that seq with another hash means
the trail was rolled back or rewritten.

A checkpoint is NOT an audit row: recording it in the trail would move the head it has just
signed, so every checkpoint would be stale when written. Each one verifies on its own, so
duplicates (several replicas, a manual one beside the server's) are harmless.

>>> cp = write(store, settings)            # sign the head now, append it to the sink(s)
>>> check(store, read_file(path)[-1], public_key(settings))   # CheckResult(ok=..., problem=...)
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select

from steward.audit.trail import GENESIS
from steward.config.settings import Settings
from steward.core.errors import InputError
from steward.core.periodic import Periodic
from steward.core.secretfile import read_or_create
from steward.store import Store
from steward.store.models import AuditRecord

log = logging.getLogger(__name__)
FORMAT = 1
SIGNED = ("v", "seq", "hash", "rows", "ts", "anchor_seq", "key_id")


class CheckpointError(InputError):
    """A checkpoint file that cannot be read as checkpoints (bad input, not a failed check)."""


@dataclass(frozen=True)
class Checkpoint:
    """The chain head at one moment, signed. ``rows`` counts the rows held then (from the
    retention anchor on); ``key_id`` names the public key that signs it."""

    v: int
    seq: int
    hash: str
    rows: int
    ts: str
    anchor_seq: int
    key_id: str
    sig: str = ""

    def signed_bytes(self) -> bytes:
        body = {k: getattr(self, k) for k in SIGNED}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def key_file(settings: Settings) -> Path:
    return settings.audit.checkpoint_key_file or settings.home / "audit-checkpoint.key"


def sink_file(settings: Settings) -> Path:
    return settings.audit.checkpoint_file or settings.home / "audit-checkpoints.jsonl"


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key: 32 random bytes (hex) in a 0600 file, created on first use."""
    text = read_or_create(path, lambda: Ed25519PrivateKey.generate().private_bytes_raw().hex())
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key(settings: Settings) -> Ed25519PublicKey:
    """The key checkpoints are checked with (derived from the signing key file)."""
    path = key_file(settings)
    if not path.exists():
        raise CheckpointError(
            f"No checkpoint key at {path}: no checkpoint was signed here, or "
            "STEWARD_AUDIT_CHECKPOINT_KEY_FILE points elsewhere."
        )
    try:
        return load_or_create_key(path).public_key()
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a checkpoint key (64 hex digits).") from exc


def head(store: Store) -> tuple[int, str, int, int]:
    """(seq, hash, rows, anchor seq) of the trail now; an empty trail is its anchor."""
    anchor = store.get_meta("audit_anchor_seq")
    anchor_seq = int(anchor) if anchor else 0
    with store.read() as s:
        last = s.execute(
            select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
        ).first()
        rows = int(s.scalar(select(func.count()).select_from(AuditRecord)) or 0)
    if last is None:
        return anchor_seq, store.get_meta("audit_anchor_hash") or GENESIS, 0, anchor_seq
    return int(last[0]), str(last[1]), rows, anchor_seq


def sign(store: Store, key: Ed25519PrivateKey) -> Checkpoint:
    seq, hash_, rows, anchor_seq = head(store)
    ts = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    cp = Checkpoint(FORMAT, seq, hash_, rows, ts, anchor_seq, key_id(key.public_key()))
    return Checkpoint(**{**asdict(cp), "sig": key.sign(cp.signed_bytes()).hex()})


def write(store: Store, settings: Settings) -> Checkpoint:
    """Sign the chain head now and append it to the file sink (and syslog, if configured)."""
    cp = sign(store, load_or_create_key(key_file(settings)))
    path = sink_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: concurrent writers (replicas, the CLI) never interleave inside a line.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (cp.line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if settings.audit.checkpoint_syslog:
        _to_syslog(settings.audit.checkpoint_syslog, cp)
    return cp


def _to_syslog(address: str, cp: Checkpoint) -> None:
    host, _, port = address.rpartition(":")
    target: str | tuple[str, int] = (host, int(port)) if host and port.isdigit() else address
    handler = logging.handlers.SysLogHandler(
        address=target, facility=logging.handlers.SysLogHandler.LOG_AUTH
    )
    record = logging.makeLogRecord(
        {"msg": "steward-audit-checkpoint " + cp.line(), "levelno": logging.INFO}
    )
    record.levelname = "INFO"
    try:
        handler.emit(record)
    finally:
        handler.close()


def read_file(path: Path) -> list[Checkpoint]:
    """Every checkpoint in a JSON Lines file, oldest first; :class:`CheckpointError` (one line)
    on anything that is not one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"Cannot read checkpoint file {path}: {exc}") from exc
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            out.append(
                Checkpoint(
                    int(data["v"]),
                    int(data["seq"]),
                    str(data["hash"]),
                    int(data["rows"]),
                    str(data["ts"]),
                    int(data["anchor_seq"]),
                    str(data["key_id"]),
                    str(data["sig"]),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{path} line {number} is not an audit checkpoint ({type(exc).__name__})."
            ) from exc
    if not out:
        raise CheckpointError(f"{path} holds no checkpoints.")
    return out


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    seq: int
    ts: str
    problem: str | None = None
    missing: int = 0  # rows the trail lacks at its end


def check(store: Store, cp: Checkpoint, public: Ed25519PublicKey) -> CheckResult:
    """Does the trail still hold the checkpoint's row, with its hash? Its signature first."""
    where = f"checkpoint at seq {cp.seq} ({cp.ts})"
    if cp.key_id != key_id(public):
        return CheckResult(False, cp.seq, cp.ts, f"{where}: signed by another key ({cp.key_id})")
    try:
        public.verify(bytes.fromhex(cp.sig), cp.signed_bytes())
    except (InvalidSignature, ValueError):
        return CheckResult(
            False, cp.seq, cp.ts, f"{where}: signature does not verify (forged or edited)"
        )
    seq, _, _, anchor_seq = head(store)
    if anchor_seq > cp.seq:  # retention pruned past it: nothing of it is left to compare
        return CheckResult(True, cp.seq, cp.ts, f"{where}: pruned since (anchor seq {anchor_seq})")
    if seq < cp.seq:
        gap = cp.seq - seq
        problem = f"{where}; the trail ends at seq {seq}: {gap} rows missing"
        return CheckResult(False, cp.seq, cp.ts, problem + " (deleted or rolled back)", gap)
    if cp.seq == anchor_seq:
        found = store.get_meta("audit_anchor_hash") or GENESIS
    else:
        with store.read() as s:
            found = s.scalar(select(AuditRecord.hash).where(AuditRecord.seq == cp.seq)) or ""
    if found != cp.hash:
        shown = found[:12] or "no row"
        return CheckResult(
            False,
            cp.seq,
            cp.ts,
            f"{where}: the trail holds {shown} there, not {cp.hash[:12]}: rolled back or rewritten",
        )
    return CheckResult(True, cp.seq, cp.ts)


def writer(store: Store, settings: Settings) -> Periodic:
    """Writes a checkpoint at start, every ``interval_s`` and at stop, in one daemon thread
    (the server's; one per replica is enough, duplicates are harmless)."""
    return Periodic(
        "audit-checkpoint",
        settings.audit.checkpoint_interval_s,
        lambda: write(store, settings),
        at_start=True,
        at_stop=True,
    )


def as_dict(result: CheckResult) -> dict[str, Any]:
    return asdict(result)
