"""Who is asking: API keys, OIDC/JWT bearer tokens and directory users become a Principal.

Deny by default: no credentials, an unknown, revoked or expired key, a token that fails any check
(signature against the configured JWKS, issuer, audience, expiry with bounded clock skew), or an
inactive user is an :class:`AuthError`. Anonymous access exists only when an operator names an
``anonymous_group``, and then reads only documents whose access list holds that group.

API keys are shown once at creation and stored only as a SHA-256 digest (they carry 256 bits of
randomness, so a plain digest cannot be reversed by guessing). Rotation issues a new key and lets
the old one live for a grace period; revocation is immediate. A key may carry an expiry
(:func:`expiry_from` reads ``30d`` or ``2027-01-31``).

A key's ``last_used_at`` is written on successful authentication at most once per
:data:`LAST_USED_EVERY` (one minute): the row is read anyway, so deciding costs nothing, and the
hot path writes once a minute per key, not on every request. It is telemetry for `steward keys
list`, not an audit event (one per request would bury the trail); a failed write of it never
fails the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from ulid import ULID

from steward import audit
from steward.core.errors import AuthError, ConfigError, InputError, NotFoundError
from steward.identity.authz import highest_role
from steward.identity.directory import get_user
from steward.store import Store
from steward.store.models import ApiKey, Group, User

KEY_PREFIX = "stw_"
ANONYMOUS = "anonymous"
LAST_USED_EVERY = timedelta(minutes=1)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """An authenticated asker with the entitlements in force at this moment; what ``access``
    (the role) allows is :mod:`steward.identity.authz`'s to decide."""

    user_id: str
    display_name: str
    groups: frozenset[str]
    center: str | None
    access: str
    external: bool
    via: str = "directory"  # directory | api-key | oidc | anonymous


def _external_groups(store: Store) -> set[str]:
    with store.read() as s:
        return set(s.scalars(select(Group.id).where(Group.external.is_(True))))


def principal_for(store: Store, user_id: str, via: str = "directory") -> Principal:
    """The principal of an active directory user (NotFoundError if unknown)."""
    user = get_user(store, user_id)
    groups = frozenset(g.id for g in user.groups)
    external = _external_groups(store)
    return Principal(
        user_id=user.id,
        display_name=user.display_name,
        groups=groups,
        center=user.center_id,
        access=user.access,
        # Someone outside the organisation: any external group and no internal one.
        external=bool(groups) and groups <= external,
        via=via,
    )


def anonymous(group: str) -> Principal:
    """The anonymous asker: reads only documents whose access list holds ``group``."""
    return Principal(ANONYMOUS, "Anonymous", frozenset({group}), None, "asker", True, "anonymous")


# ------------------------------------------------------------------ API keys


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _add_key(s: Session, user_id: str, expires_at: datetime | None) -> tuple[str, str]:
    """Add a key row for ``user_id`` in ``s``; returns its id and the secret."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = str(ULID())
    s.add(
        ApiKey(
            id=key_id,
            user_id=user_id,
            prefix=secret[: len(KEY_PREFIX) + 6],
            key_hash=_digest(secret),
            created_at=datetime.now(UTC),
            expires_at=expires_at,
        )
    )
    return key_id, secret


def _key_event(kind: audit.Kind, actor: str, key_id: str, **payload: object) -> audit.AuditEvent:
    # Ids and times only: the secret, its digest and its prefix never enter the trail.
    return audit.AuditEvent(kind, actor=actor, target=f"key:{key_id}", payload=payload)


def create_key(
    store: Store, user_id: str, expires_at: datetime | None = None, *, actor: str = "system"
) -> str:
    """Create an API key for ``user_id``; the return value is the only copy of the secret.
    ``actor`` (who created it) is recorded in the audit trail with the key's id."""
    get_user(store, user_id)
    with store.write() as (s, _):
        key_id, secret = _add_key(s, user_id, expires_at)
        expires = expires_at.isoformat() if expires_at else None
        event = _key_event(audit.Kind.KEY_CREATED, actor, key_id, user=user_id, expires=expires)
        audit.record(store, event, session=s)
    return secret


def revoke_key(store: Store, key_id: str, *, actor: str = "system") -> None:
    """Revoke a key at once (audited as ``actor``'s act)."""
    with store.write() as (s, _):
        row = s.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"No API key {key_id!r}; `steward keys list` shows them.")
        already = row.revoked_at is not None
        row.revoked_at = row.revoked_at or datetime.now(UTC)
        event = _key_event(
            audit.Kind.KEY_REVOKED, actor, key_id, user=row.user_id, already_revoked=already
        )
        audit.record(store, event, session=s)


def rotate_key(
    store: Store, key_id: str, grace: timedelta = timedelta(0), *, actor: str = "system"
) -> str:
    """A new key for the same user; the old one stops working after ``grace``. The new key,
    the old one's end and the audit event commit together."""
    with store.read() as s:
        row = s.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            raise NotFoundError(f"No active API key {key_id!r}; `steward keys list` shows them.")
        user_id = row.user_id
    get_user(store, user_id)
    with store.write() as (s, _):
        old = s.get(ApiKey, key_id)
        assert old is not None
        new_id, secret = _add_key(s, user_id, None)
        if grace.total_seconds() <= 0:
            old.revoked_at = datetime.now(UTC)
        else:
            old.expires_at = datetime.now(UTC) + grace
        event = _key_event(
            audit.Kind.KEY_ROTATED,
            actor,
            key_id,
            user=user_id,
            new_key=new_id,
            grace_s=grace.total_seconds(),
        )
        audit.record(store, event, session=s)
    return secret


_SPAN = re.compile(r"(\d{1,5})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def expiry_from(text: str, now: datetime | None = None) -> datetime:
    """When a key given ``--expires TEXT`` stops working: ``12h``, ``30d``, ``8w`` from now, or
    a date (``2027-01-31``: the key works through that day, UTC) or an ISO date-time."""
    now = now or datetime.now(UTC)
    value = text.strip()
    span = _SPAN.fullmatch(value.lower())
    if span:
        at = now + timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(
                f"Cannot read expiry {value[:40]!r}: use 30d, 12h, 8w or a date like 2027-01-31."
            ) from None
        at = _aware(parsed)
        if len(value) == 10:  # a date alone: valid through that day
            at += timedelta(days=1)
    if at <= now:
        raise InputError(f"Expiry {value[:40]!r} is in the past; give a later time.")
    return at


def list_keys(store: Store, user_id: str | None = None) -> list[ApiKey]:
    """Every key, or ``user_id``'s (a leaver's too; a user the directory never knew is an
    error, as for ``create_key``: an empty list would read as "this user has no keys")."""
    with store.read() as s:
        if user_id and s.get(User, user_id) is None:
            raise NotFoundError(f"Unknown user {user_id!r}: no such id in the directory.")
        q = select(ApiKey).order_by(ApiKey.created_at)
        if user_id:
            q = q.where(ApiKey.user_id == user_id)
        return list(s.scalars(q))


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _principal_for_key(store: Store, token: str) -> Principal:
    digest = _digest(token)
    with store.read() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        # compare_digest keeps the comparison constant-time even though the lookup is indexed.
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise AuthError("Invalid API key.")
        if row.revoked_at is not None:
            raise AuthError("This API key was revoked; ask an operator for a new one.")
        if row.expires_at is not None and _aware(row.expires_at) <= datetime.now(UTC):
            raise AuthError("This API key has expired; use its replacement.")
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            raise AuthError("The user of this API key is no longer active.")
        user_id, key_id, last_used = user.id, row.id, row.last_used_at
    principal = principal_for(store, user_id, via="api-key")
    now = datetime.now(UTC)
    if last_used is None or now - _aware(last_used) >= LAST_USED_EVERY:
        _touch(store, key_id, now)
    return principal


def _touch(store: Store, key_id: str, now: datetime) -> None:
    """Set the key's last use; conditional, so replicas racing on one key write it once."""
    stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY)
    try:
        with store.write() as (s, _):
            s.execute(update(ApiKey).where(ApiKey.id == key_id, stale).values(last_used_at=now))
    except SQLAlchemyError as exc:  # telemetry: a busy database must not refuse the request
        log.warning(
            "could not record a key's last use", extra={"key_id": key_id, "error": str(exc)[:200]}
        )


# ------------------------------------------------------------------ OIDC / JWT


@dataclass(frozen=True)
class OidcConfig:
    """How bearer JWTs are validated, offline, against a JWKS file."""

    jwks_file: Path
    issuer: str
    audience: str
    user_claim: str = "sub"
    groups_claim: str = "groups"
    roles_claim: str | None = None
    leeway_s: int = 30
    group_map: Mapping[str, str] = field(default_factory=dict)
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")


USER_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,64}")  # as identity/directory.py's UserSpec.id


class TokenVerifier:
    """Verifies JWTs with keys from a JWKS document on disk (no network at any time)."""

    def __init__(self, cfg: OidcConfig) -> None:
        import jwt

        self.cfg = cfg
        try:
            raw = json.loads(cfg.jwks_file.read_text(encoding="utf-8"))
            self._keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(raw).keys if k.key_id}
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise ConfigError(f"Cannot load the JWKS file {cfg.jwks_file}: {exc}") from exc
        if not self._keys:
            raise ConfigError(f"The JWKS file {cfg.jwks_file} has no keys with a `kid`.")

    def verify(self, token: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("Malformed bearer token.") from exc
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise AuthError("Bearer token signed by an unknown key.")
        if header.get("alg") not in self.cfg.algorithms:
            raise AuthError("Bearer token uses a signature algorithm that is not allowed.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=list(self.cfg.algorithms),
                audience=self.cfg.audience,
                issuer=self.cfg.issuer,
                leeway=self.cfg.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", self.cfg.user_claim]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("Bearer token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("Bearer token is not for this service (audience).") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("Bearer token comes from an untrusted issuer.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("Bearer token is not valid yet.") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"Bearer token rejected: {type(exc).__name__}.") from exc
        return claims


def principal_from_claims(store: Store, cfg: OidcConfig, claims: Mapping[str, Any]) -> Principal:
    """Groups come from the token (mapped onto directory groups; unknown ones dropped);
    center and access from the directory when the user is there."""
    user_id = claims[cfg.user_claim]
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        # The directory's own id rule: no spaces, controls or look-alikes of a real user's id.
        raise AuthError("The token's user claim is not a valid user id.")
    raw = claims.get(cfg.groups_claim) or []
    raw = [raw] if isinstance(raw, str) else list(raw)
    with store.read() as s:
        known = set(s.scalars(select(Group.id)))
        external = set(s.scalars(select(Group.id).where(Group.external.is_(True))))
        user = s.get(User, user_id)
        if user is not None and not user.active:
            raise AuthError("This user is no longer active.")
        center = user.center_id if user else None
        name = user.display_name if user else user_id
        access = user.access if user else "asker"
    groups = frozenset(g for g in (cfg.group_map.get(str(x), str(x)) for x in raw) if g in known)
    if user is None and cfg.roles_claim:
        roles = claims.get(cfg.roles_claim) or []
        roles = [roles] if isinstance(roles, str) else list(roles)
        access = highest_role(str(r) for r in roles)
    return Principal(
        user_id, name, groups, center, access, bool(groups) and groups <= external, "oidc"
    )


def authenticate(
    store: Store,
    authorization: str | None,
    verifier: TokenVerifier | None = None,
    anonymous_group: str | None = None,
) -> Principal:
    """Turn an ``Authorization: Bearer ...`` header into a principal, or refuse."""
    if not authorization:
        if anonymous_group:
            return anonymous(anonymous_group)
        raise AuthError("Missing credentials: send `Authorization: Bearer <API key or token>`.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Malformed Authorization header: expected `Bearer <API key or token>`.")
    if token.startswith(KEY_PREFIX):
        return _principal_for_key(store, token)
    if token.count(".") == 2:
        if verifier is None:
            raise AuthError("Bearer tokens are not accepted here: no OIDC issuer is configured.")
        return principal_from_claims(store, verifier.cfg, verifier.verify(token))
    raise AuthError("Invalid API key.")
