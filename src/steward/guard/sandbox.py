"""Masked exports: a copy of a store for development or testing with no production personal data.

The copy keeps the knowledge (documents, chunks, vectors, directory, sources, sync history),
names each user by their id instead of their display name, and replaces every masking token with
a realistic fake of the same kind: the same token always gets the same fake, and formats are kept
(a Luhn-valid card number, a 555 phone number, an ``example.test`` e-mail). The vault, API keys,
erasure tombstones, token numbering and the audit trail are not copied. The copy is marked
non-production and gets its own masking key; a non-production store refuses sources that declare
personal fields unless they are marked ``already_masked``. The copy is a SQLite file whatever the
source's engine: a SQLite store is backed up as a file, a PostgreSQL one is copied row by row from
one snapshot; either way the chunk repository re-indexes what it rewrites (or, from PostgreSQL,
every chunk).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from steward.core.errors import InputError
from steward.guard import load_or_create_key, luhn_ok
from steward.knowledge.pipeline import embed_chunk
from steward.retrieval.engines import open_index
from steward.runtime import Runtime
from steward.store import open_store
from steward.store.chunks import ChunkRepository, TextEdit
from steward.store.db import Store
from steward.store.models import (
    ApiKey,
    AuditRecord,
    Base,
    Chunk,
    Document,
    Erasure,
    PiiToken,
    User,
    VaultEntry,
)

NON_PRODUCTION = "non-production"
_TOKEN = re.compile(r"<([A-Z_]+)_(\d+)>")
FIRST = [
    "Alex",
    "Blake",
    "Casey",
    "Drew",
    "Emery",
    "Finley",
    "Gray",
    "Harper",
    "Jordan",
    "Kai",
    "Logan",
    "Morgan",
    "Parker",
    "Quinn",
    "Riley",
    "Sage",
    "Taylor",
    "Avery",
]
LAST = [
    "Ashdown",
    "Brookes",
    "Carver",
    "Dalton",
    "Ellery",
    "Fairfax",
    "Garnet",
    "Holloway",
    "Ingram",
    "Jessop",
    "Kendal",
    "Lowther",
    "Marsh",
    "Norwood",
    "Oakes",
    "Pemberton",
]
STREETS = ["Maple Row", "Test Avenue", "Sample Lane", "Example Road", "Demo Street"]


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError("unreachable: one check digit always fits")


def fake_value(kind: str, seed: bytes) -> str:
    """A deterministic, format-keeping fake for one token."""
    n = int.from_bytes(seed[:8], "big")
    digits = "".join(str(b % 10) for b in seed[8:32])
    if kind == "CARD":
        card = _luhn_complete("4000" + digits[:11])  # 4000... is a test card range
        return " ".join(card[i : i + 4] for i in range(0, 16, 4))
    if kind == "PHONE":
        return f"+1-202-555-01{n % 100:02d}"  # 555-01xx is reserved for fiction
    if kind == "EMAIL":
        return (
            f"{FIRST[n % len(FIRST)].lower()}.{LAST[(n >> 8) % len(LAST)].lower()}"
            f"{n % 1000}@example.test"
        )
    if kind == "NAME":
        return f"{FIRST[n % len(FIRST)]} {LAST[(n >> 8) % len(LAST)]}"
    if kind == "ADDRESS":
        return f"{n % 900 + 100} {STREETS[n % len(STREETS)]}, Springfield, ZZ 00000"
    if kind == "SSN":
        return f"9{digits[:2]}-{digits[2:4]}-{digits[4:8]}"  # 9xx is never issued
    if kind == "IBAN":
        return f"XX00TEST{digits[:14]}"
    if kind == "IP":
        return f"192.0.2.{n % 254 + 1}"  # TEST-NET-1
    if kind == "DOB":
        return f"19{50 + n % 50:02d}-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
    if kind == "ACCOUNT":
        return "000" + digits[:9]
    if kind == "SWIFT":
        return "TESTUS3" + "ABCDEFGHJK"[n % 10]
    return f"{kind.lower()}-sample-{n % 100000}"


@dataclass(frozen=True)
class ExportReport:
    dest: Path
    documents: int
    chunks: int
    tokens_replaced: int


# Never copied: sealed values, credentials, tombstones, token numbering and the audit trail.
_NOT_COPIED = (VaultEntry, ApiKey, Erasure, PiiToken, AuditRecord)


def export_masked(rt: Runtime, dest: Path) -> ExportReport:
    """Write a masked, non-production copy of ``rt``'s store into the folder ``dest``."""
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"{dest} is not empty; export into a new folder.")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / "steward.db"
    if rt.store.dialect == "sqlite":
        src = rt.store.engine.url.database or ""
        with sqlite3.connect(src) as source, sqlite3.connect(target) as copy:
            source.backup(copy)  # a consistent snapshot, even while the source is being written
    key = hashlib.sha256(rt.masker.tokens.digest("EXPORT", "seed").encode()).digest()
    fakes: dict[str, str] = {}

    def fake(m: re.Match[str]) -> str:
        token = m.group()
        if token not in fakes:
            seed = hmac.new(key, token.encode(), hashlib.sha256).digest()
            fakes[token] = fake_value(m.group(1), seed + hashlib.sha256(seed).digest())
        return fakes[token]

    store = open_store(f"sqlite:///{target}")
    try:
        index = open_index(store, rt.embedder.dim)
        chunks = ChunkRepository(index, partial(embed_chunk, rt.embedder))
        with store.write() as (s, _):
            if rt.store.dialect != "sqlite":
                _copy_rows(rt.store, s, chunks)
            n_docs, n_chunks = _rewrite(s, chunks, fake)
    finally:
        store.dispose()
    for leftover in ("steward.db-wal", "steward.db-shm"):
        (dest / leftover).unlink(missing_ok=True)
    load_or_create_key(dest / "secret.key")  # a fresh masking key; none of the source's keys
    return ExportReport(dest, n_docs, n_chunks, len(fakes))


def _copy_rows(source: Store, dst: Session, chunks: ChunkRepository) -> None:
    """Copy a server store's rows into the new SQLite file (no file to back up), in one
    snapshot, then build the copy's own index from its chunks."""
    skip = {m.__table__.name for m in _NOT_COPIED}  # type: ignore[attr-defined]
    with source.engine.connect() as src:
        if source.dialect == "postgresql":
            src.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            result = src.execute(table.select()).mappings()
            while batch := result.fetchmany(1000):
                dst.execute(table.insert(), [dict(r) for r in batch])
        chunks.reindex(dst)


def _rewrite(
    s: Session, chunks: ChunkRepository, fake: Callable[[re.Match[str]], str]
) -> tuple[int, int]:
    for table in _NOT_COPIED:
        s.execute(delete(table))
    # A display name is personal data (sealed under the source's key, which the copy lacks):
    # the copy's users are named by their id.
    s.execute(update(User).values(display_name=User.id))
    docs = list(s.scalars(select(Document)))
    for d in docs:
        d.title = _TOKEN.sub(fake, d.title)
        d.meta = {k: v for k, v in (d.meta or {}).items() if k != "subjects"}
    edits = []
    for c, title in s.execute(select(Chunk, Document.title).join(Document)).all():
        body, heading = _TOKEN.sub(fake, c.text), _TOKEN.sub(fake, c.heading)
        if (body, heading) != (c.text, c.heading):
            edits.append(TextEdit(c.id, _TOKEN.sub(fake, title), heading, body))
    chunks.rewrite(s, edits)
    n_chunks = int(s.scalar(select(func.count()).select_from(Chunk)) or 0)
    Store.set_meta(s, "environment", NON_PRODUCTION)
    Store.knowledge_changed(s)
    return len(docs), n_chunks


def is_non_production(store: Store) -> bool:
    return store.get_meta("environment") == NON_PRODUCTION
