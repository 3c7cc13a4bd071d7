"""Personal values that Steward must show back, encrypted at rest.

Most personal data never reaches the store in plain text: it is masked to a token first. A few
values must be shown back as they are, such as a directory user's display name ("Signed in as
Lena Park"). Those columns use :class:`SealedText`: AES-256-GCM under a key derived (HKDF) from
the store's masking key, which never enters the database, with the column's name as associated
data (a ciphertext copied into another column does not open). A database dump, a backup or a
replica's disk then holds no such value in plain text.

The key is bound to a store's engine (:func:`bind`); the runtime does this when it opens the
store. A store opened without a key (tests of the bare store) writes these columns in plain
text and reads plain text back; a sealed value read without its key reads as
:data:`UNREADABLE`, never as ciphertext. Values written before this module existed are plain
and are read as they are; ``Runtime`` seals them once (:func:`seal_plain`).
"""

from __future__ import annotations

import base64
import secrets
import weakref
from typing import Any

from sqlalchemy import Text, TypeDecorator
from sqlalchemy.engine import Dialect, Engine

PREFIX = "s1:"
UNREADABLE = "(sealed)"
_PAD = 32
_KEYS: weakref.WeakKeyDictionary[Dialect, Sealer] = weakref.WeakKeyDictionary()


class Sealer:
    """AES-256-GCM with a key derived from the masking key; one nonce per value."""

    def __init__(self, masking_key: bytes) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(hashes.SHA256(), 32, None, b"steward sealed columns v1").derive(masking_key)
        self._aead = AESGCM(key)

    def seal(self, value: str, purpose: str) -> str:
        nonce = secrets.token_bytes(12)
        # Padded to a multiple of 32 bytes, so the ciphertext's length tells little of the
        # value's ("Al" and "Maximilian" seal to the same length).
        plain = value.encode()
        plain += b"\0" * (-len(plain) % _PAD)
        body = self._aead.encrypt(nonce, plain, purpose.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + body).decode("ascii")

    def open(self, stored: str, purpose: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before sealing, or by a store without a key
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            plain = self._aead.decrypt(raw[:12], raw[12:], purpose.encode())
            return plain.rstrip(b"\0").decode()
        except Exception:  # damaged, another key or another column's value: never shown raw
            return UNREADABLE


def seal_with(sealer: Sealer | None, value: str, purpose: str) -> str:
    """``value`` sealed, or as it is without a key."""
    return sealer.seal(value, purpose) if sealer is not None else value


def open_with(sealer: Sealer | None, stored: str, purpose: str) -> str:
    """``stored`` opened; without a key a sealed value reads as :data:`UNREADABLE`."""
    if sealer is not None:
        return sealer.open(stored, purpose)
    return UNREADABLE if stored.startswith(PREFIX) else stored


def bind(engine: Engine, sealer: Sealer) -> None:
    """Seal :class:`SealedText` columns written through ``engine`` with ``sealer``."""
    _KEYS[engine.dialect] = sealer


def sealer_for(engine: Engine) -> Sealer | None:
    return _KEYS.get(engine.dialect)


class SealedText(TypeDecorator[str]):
    """A text column whose values are sealed with the engine's key (see the module)."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else seal_with(_KEYS.get(dialect), str(value), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else open_with(_KEYS.get(dialect), str(value), self.purpose)


def seal_plain(engine: Engine) -> int:
    """Seal the values of every :class:`SealedText` column still stored in plain text (rows
    written before sealing, or by a store without a key); the number sealed. Needs the key."""
    from sqlalchemy import select, type_coerce, update

    from steward.store.models import Base

    sealer = _KEYS.get(engine.dialect)
    if sealer is None:
        return 0
    done = 0
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            for col in table.columns:
                if not isinstance(col.type, SealedText) or len(pk) != 1:
                    continue
                raw = type_coerce(col, Text)
                rows = conn.execute(
                    select(pk[0], raw).where(raw.is_not(None), ~raw.startswith(PREFIX))
                ).all()
                for key, value in rows:
                    conn.execute(update(table).where(pk[0] == key).values({col.name: value}))
                done += len(rows)
    return done
