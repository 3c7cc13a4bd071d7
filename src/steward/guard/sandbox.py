"""Masked exports: a copy of a store for development or testing with no production personal data.

The copy keeps the knowledge (documents, chunks, vectors, directory, sources, sync history) and
replaces every masking token with a realistic fake of the same kind: the same token always gets
the same fake, and formats are kept (a Luhn-valid card number, a 555 phone number, an
``example.test`` e-mail). The vault, API keys, erasure tombstones, token numbering and the audit
trail are not copied. The copy is marked non-production and gets its own masking key; a
non-production store refuses sources that declare personal fields unless they are marked
``already_masked``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select

from steward.core.errors import ConfigError, InputError
from steward.guard import load_or_create_key, luhn_ok
from steward.knowledge.pipeline import embed_chunk
from steward.runtime import Runtime
from steward.store import open_store
from steward.store.db import Store
from steward.store.models import (
    ApiKey,
    AuditRecord,
    Chunk,
    Document,
    Erasure,
    PiiToken,
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


def _sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ConfigError(
            "Masked export copies SQLite stores; for PostgreSQL use pg_dump into "
            "a SQLite-free pipeline (not supported yet)."
        )
    return Path(url.removeprefix("sqlite:///"))


def export_masked(rt: Runtime, dest: Path) -> ExportReport:
    """Write a masked, non-production copy of ``rt``'s store into the folder ``dest``."""
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"{dest} is not empty; export into a new folder.")
    dest.mkdir(parents=True, exist_ok=True)
    src = _sqlite_path(rt.settings.db_url)
    target = dest / "steward.db"
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
        n_docs, n_chunks = _rewrite(store, rt, fake)
    finally:
        store.dispose()
    for leftover in ("steward.db-wal", "steward.db-shm"):
        (dest / leftover).unlink(missing_ok=True)
    load_or_create_key(dest / "secret.key")  # a fresh masking key; none of the source's keys
    return ExportReport(dest, n_docs, n_chunks, len(fakes))


def _rewrite(store: Store, rt: Runtime, fake: Callable[[re.Match[str]], str]) -> tuple[int, int]:
    from steward.retrieval.sqlite import SqliteIndex

    index = SqliteIndex(store, rt.embedder.dim)
    with store.write() as (s, _):
        for table in (VaultEntry, ApiKey, Erasure, PiiToken, AuditRecord):
            s.execute(delete(table))
        docs = list(s.scalars(select(Document)))
        for d in docs:
            d.title = _TOKEN.sub(fake, d.title)
            d.meta = {k: v for k, v in (d.meta or {}).items() if k != "subjects"}
        changed = []
        for c, title in s.execute(select(Chunk, Document.title).join(Document)).all():
            text, heading = _TOKEN.sub(fake, c.text), _TOKEN.sub(fake, c.heading)
            if (text, heading) != (c.text, c.heading):
                changed.append((c, _TOKEN.sub(fake, title), heading, text))
        for c, title, heading, text in changed:
            v = embed_chunk(rt.embedder, heading, text, c.quarantined)
            c.text, c.heading = text, heading
            c.embedding, c.heading_vector = v.embedding, v.heading_vector
            c.sentences, c.sentence_vectors = v.sentences, v.sentence_vectors
            index.remove(s, [c.id])
            index.add(s, [(c.id, title, heading, text)])
        n_chunks = int(s.scalar(select(func.count()).select_from(Chunk)) or 0)
        Store.set_meta(s, "environment", NON_PRODUCTION)
        Store.bump_kb_version(s)
    return len(docs), n_chunks


def is_non_production(store: Store) -> bool:
    return store.get_meta("environment") == NON_PRODUCTION
