"""The vault: raw personal values kept for a business need, encrypted, revealed under rules.

Values are sealed with AES-256-GCM; the key comes from ``STEWARD_VAULT_KEY_FILE`` or
``STEWARD_VAULT_KEY`` and never enters the database. Each entry is bound to its token and owner
(as associated data), so a ciphertext copied onto another row does not decrypt. A value is
revealed to the asker who gave it, or to a user holding the ``reveal-others`` permission (granted
from the configured access level up); every reveal, allowed or not, is a ``value-revealed`` audit
event that names the token, never the value.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from steward import audit
from steward.core.errors import ConfigError, ForbiddenError
from steward.guard import TokenBook
from steward.guard.pii import DROPPED_KINDS
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer, Permission
from steward.store import Store
from steward.store.models import VaultEntry


def load_vault_key(key_hex: str | None, key_file: Path | None) -> bytes | None:
    """The vault key from settings, or None when the vault is off."""
    raw = key_hex
    if raw is None and key_file is not None:
        try:
            raw = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"Cannot read the vault key file {key_file}: {exc.strerror}") from exc
    if raw is None:
        return None
    try:
        key = bytes.fromhex(raw.strip())
    except ValueError as exc:
        raise ConfigError("The vault key must be 64 hex characters (32 bytes).") from exc
    if len(key) != 32:
        raise ConfigError("The vault key must be 64 hex characters (32 bytes).")
    return key


def new_vault_key_file(path: Path) -> None:
    """Write a fresh random vault key (mode 0600). Refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))


@dataclass(frozen=True)
class Revealed:
    token: str
    value: str
    audit_id: str


class Vault:
    def __init__(self, store: Store, key: bytes, tokens: TokenBook, authz: Authorizer) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.store = store
        self._aead = AESGCM(key)
        self.tokens = tokens
        self.authz = authz

    @staticmethod
    def _aad(token: str, owner: str | None) -> bytes:
        return f"{token}\x00{owner or ''}".encode()

    def put(
        self, kind: str, value: str, token: str, owner: str | None, source_id: str | None = None
    ) -> None:
        """Seal ``value`` (idempotent per value and owner). CVVs and expiry dates are never
        sealed: card security data is not stored, even encrypted."""
        if kind in DROPPED_KINDS:
            return
        digest = self.tokens.digest(kind, value)
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, value.encode(), self._aad(token, owner))
        try:
            with self.store.write() as (s, _):
                exists = s.scalars(
                    select(VaultEntry.id).where(
                        VaultEntry.digest == digest, VaultEntry.owner == owner
                    )
                ).first()
                if exists is None:
                    s.add(
                        VaultEntry(
                            kind=kind,
                            digest=digest,
                            token=token,
                            ciphertext=sealed,
                            owner=owner,
                            source_id=source_id,
                            created_at=datetime.now(UTC),
                        )
                    )
        except IntegrityError:
            pass  # a concurrent writer sealed the same value first

    def _open(self, row: VaultEntry) -> str:
        nonce, body = row.ciphertext[:12], row.ciphertext[12:]
        return self._aead.decrypt(nonce, body, self._aad(row.token, row.owner)).decode()

    def reveal(self, token: str, who: Principal, channel: str = "vault") -> Revealed:
        """The raw value behind ``token`` for ``who``, if the rules allow; always audited."""
        with self.store.read() as s:
            rows = list(s.scalars(select(VaultEntry).where(VaultEntry.token == token)))
        own = [r for r in rows if r.owner == who.user_id]
        allowed = own or (rows if rows and self._may_reveal_others(who, token) else [])
        outcome = "revealed" if allowed else ("denied" if rows else "not-found")
        audit_id = audit.record(
            self.store,
            audit.AuditEvent(
                audit.Kind.VALUE_REVEALED,
                actor=who.user_id,
                target=f"token:{token}",
                decision="reveal" if allowed else "refuse",
                payload={"outcome": outcome, "owner": bool(own)},
                reason=f"vault: {outcome} ({'owner' if own else who.access})",
                channel=channel,
                groups=tuple(who.groups),
                center=who.center,
                summary=f"[reveal {token}]",
            ),
        )
        if not allowed:
            # One refusal for a token that is someone else's and for one that does not exist:
            # a different answer would tell the caller which tokens are in the vault.
            raise ForbiddenError(self._refusal(who, token))
        return Revealed(token, self._open(allowed[0]), audit_id)

    def _may_reveal_others(self, who: Principal, token: str) -> bool:
        try:
            self.authz.authorize(who, Permission.REVEAL_OTHERS, f"token:{token}")
        except ForbiddenError:
            return False  # the denial is audited; the reveal event below records the refusal
        return True

    def _refusal(self, who: Principal, token: str) -> str:
        least = self.authz.least_role(Permission.REVEAL_OTHERS) or "no"
        return (
            f"Nothing {who.user_id} may reveal for {token[:64]}: a value is revealed only to "
            f"its owner or with {least} access."
        )

    def forget(self, digests: set[str]) -> int:
        """Delete every sealed value with one of these digests (erasure)."""
        if not digests:
            return 0
        with self.store.write() as (s, _):
            result = s.execute(delete(VaultEntry).where(VaultEntry.digest.in_(digests)))
        return int(getattr(result, "rowcount", 0) or 0)
