"""Who is asking: API keys and directory users become a :class:`Principal`.

Keys are shown once at creation and stored only as a SHA-256 digest (they carry 256 bits of
randomness, so a plain digest cannot be reversed by guessing). Deny by default: no key, an
unknown key, a revoked key or an inactive user is an :class:`AuthError`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from ulid import ULID

from steward.directory import get_user
from steward.errors import AuthError, ForbiddenError, NotFoundError
from steward.store import Store
from steward.store.models import ApiKey, Group, User

KEY_PREFIX = "stw_"
ACCESS_RANK = {"asker": 0, "reviewer": 1, "operator": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    """An authenticated asker with the entitlements in force at this moment."""

    user_id: str
    display_name: str
    groups: frozenset[str]
    center: str | None
    access: str
    external: bool

    def require(self, level: str) -> None:
        """Raise ForbiddenError unless this principal has at least ``level`` access."""
        if ACCESS_RANK.get(self.access, -1) < ACCESS_RANK[level]:
            raise ForbiddenError(
                f"This needs {level} access; {self.user_id} has {self.access}.",
                user=self.user_id,
            )


def principal_for(store: Store, user_id: str) -> Principal:
    """The principal of an active directory user (NotFoundError if unknown)."""
    user = get_user(store, user_id)
    with store.read() as s:
        external = set(s.scalars(select(Group.id).where(Group.external.is_(True))))
    groups = frozenset(g.id for g in user.groups)
    return Principal(
        user_id=user.id,
        display_name=user.display_name,
        groups=groups,
        center=user.center_id,
        access=user.access,
        # Someone outside the organisation: any external group and no internal one.
        external=bool(groups) and groups <= external,
    )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: Store, user_id: str) -> str:
    """Create an API key for ``user_id``; the return value is the only copy of the secret."""
    get_user(store, user_id)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.write() as (s, _):
        s.add(
            ApiKey(
                id=str(ULID()),
                user_id=user_id,
                prefix=secret[: len(KEY_PREFIX) + 6],
                key_hash=_digest(secret),
                created_at=datetime.now(UTC),
            )
        )
    return secret


def revoke_key(store: Store, key_id: str) -> None:
    with store.write() as (s, _):
        row = s.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"No API key {key_id!r}; `steward keys list` shows them.")
        row.revoked_at = row.revoked_at or datetime.now(UTC)


def list_keys(store: Store, user_id: str | None = None) -> list[ApiKey]:
    with store.read() as s:
        q = select(ApiKey).order_by(ApiKey.created_at)
        if user_id:
            q = q.where(ApiKey.user_id == user_id)
        return list(s.scalars(q))


def authenticate(store: Store, authorization: str | None) -> Principal:
    """Turn an ``Authorization: Bearer <key>`` header into a principal, or refuse."""
    if not authorization:
        raise AuthError("Missing credentials: send `Authorization: Bearer <API key>`.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Malformed Authorization header: expected `Bearer <API key>`.")
    digest = _digest(token)
    with store.read() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        # compare_digest keeps the comparison constant-time even though the lookup is indexed.
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise AuthError("Invalid API key.")
        if row.revoked_at is not None:
            raise AuthError("This API key was revoked; ask an operator for a new one.")
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            raise AuthError("The user of this API key is no longer active.")
        user_id = user.id
    return principal_for(store, user_id)
