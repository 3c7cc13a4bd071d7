"""Signed-in browser sessions: what the chat page and the console hold instead of a key.

A browser signs in once with the same identity the API takes (an API key, or an OIDC ID token
checked by the same verifier) and from then on sends a cookie. The cookie holds a random token
(256 bits); the store keeps only its SHA-256, so a copy of the database opens no session. Each
session also has a CSRF token, which a request changing state must send back (a header or a form
field): the cookie travels by itself, the CSRF token only in pages this server rendered.

A session ends at the first of: its lifetime (``STEWARD_SESSION_LIFETIME_S``), a stretch without
use (``STEWARD_SESSION_IDLE_S``), sign-out, its user being deactivated, or the API key it was
started with being revoked or expiring. Every use re-reads those, so an operator who revokes a
key or deactivates a user ends that person's browser sessions too, at their next request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from steward import audit
from steward.config.settings import SessionSettings
from steward.core.errors import AuthError, ForbiddenError
from steward.identity.auth import KEY_PREFIX, Principal, principal_for
from steward.store import Store, sealed
from steward.store.models import ApiKey, User, WebSession

COOKIE = "steward_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# The last use is written at most once a minute per session: idle expiry needs no finer grain,
# and a write on every request would double the cost of a page view.
TOUCH_EVERY = timedelta(minutes=1)

log = logging.getLogger(__name__)


class CsrfFailed(ForbiddenError):
    """A state-changing request authenticated by the session cookie without its CSRF token."""

    code = "csrf_failed"


@dataclass(frozen=True)
class SignedIn:
    """One live session: who it is, the CSRF token its forms carry, and when it ends."""

    principal: Principal
    session_id: str  # sha256 of the cookie's token
    csrf: str
    expires_at: datetime
    token: str | None = None  # only when just started: the one copy, for the cookie


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def csrf_matches(sent: str | None, expected: str) -> bool:
    """Constant-time: a timing difference must not spell the token out."""
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


class Sessions:
    """Starts, resolves and ends browser sessions; each start and end is an audit event."""

    def __init__(
        self,
        store: Store,
        cfg: SessionSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.clock = clock

    # ---------------------------------------------------------------- sign-in

    def start(
        self, who: Principal, *, api_key: str | None = None, channel: str = "web"
    ) -> SignedIn:
        """A new session for ``who``, already authenticated by the caller (an API key, whose
        secret is passed to tie the session to it, or an OIDC token)."""
        if who.via == "anonymous":
            raise AuthError("Sign in with an API key or your identity provider.")
        now = self.clock()
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        sid = digest(token)
        expires = now + timedelta(seconds=self.cfg.lifetime_s)
        via = "api-key" if api_key else "oidc"
        snapshot = None if api_key else _snapshot(who, sealed.sealer_for(self.store.engine))
        with self.store.write() as (s, _):
            key_id = None
            if api_key:
                key_id = s.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest(api_key)))
                if key_id is None:  # authenticated a moment ago: revoked and deleted since
                    raise AuthError("Invalid API key.")
            s.add(
                WebSession(
                    id=sid,
                    user_id=who.user_id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=expires,
                    last_seen_at=now,
                    via=via,
                    key_id=key_id,
                    snapshot=snapshot,
                )
            )
            payload: dict[str, object] = {"via": via, "key": key_id, "expires": expires.isoformat()}
            audit.record(
                self.store,
                self._event(audit.Kind.SESSION_STARTED, who, sid, payload, channel),
                session=s,
            )
        return SignedIn(_as_session(who), sid, csrf, expires, token)

    # ---------------------------------------------------------------- each request

    def resolve(self, token: str) -> SignedIn:
        """The live session of a cookie's token, or AuthError saying why it is not one."""
        if not token or len(token) > 200 or token.startswith(KEY_PREFIX):
            raise AuthError("Not signed in: sign in again.")
        sid = digest(token)
        now = self.clock()
        with self.store.read() as s:
            row = s.get(WebSession, sid)
            if row is None or not hmac.compare_digest(row.id, sid):
                raise AuthError("This session is not known (or was signed out): sign in again.")
            self._check_live(row, now)
            if row.key_id is not None:
                key = s.get(ApiKey, row.key_id)
                if (
                    key is None
                    or key.revoked_at is not None
                    or (key.expires_at is not None and _aware(key.expires_at) <= now)
                ):
                    raise AuthError(
                        "The API key this session was started with was revoked or has "
                        "expired: sign in again with a current key."
                    )
            user = s.get(User, row.user_id)
            if (user is not None and not user.active) or (user is None and row.via != "oidc"):
                raise AuthError("This user is no longer active.")
            user_id, via, snapshot = row.user_id, row.via, dict(row.snapshot or {})
            csrf, expires, last_seen = row.csrf, _aware(row.expires_at), row.last_seen_at
            directory = (user.display_name, user.center_id, user.access) if user else None
        if via == "oidc":
            who = _from_snapshot(user_id, snapshot, directory, sealed.sealer_for(self.store.engine))
        else:
            who = _as_session(principal_for(self.store, user_id))
        if now - _aware(last_seen) >= TOUCH_EVERY:
            self._touch(sid, now)
        return SignedIn(who, sid, csrf, expires)

    def _check_live(self, row: WebSession, now: datetime) -> None:
        if row.revoked_at is not None:
            raise AuthError("You signed out of this session: sign in again.")
        if _aware(row.expires_at) <= now:
            raise AuthError("Your session has expired: sign in again.")
        if now - _aware(row.last_seen_at) > timedelta(seconds=self.cfg.idle_s):
            raise AuthError("Your session ended after a time without use: sign in again.")

    def _touch(self, sid: str, now: datetime) -> None:
        """Record the session's last use; conditional, so concurrent requests write it once."""
        stale = WebSession.last_seen_at <= now - TOUCH_EVERY
        try:
            with self.store.write() as (s, _):
                s.execute(
                    update(WebSession).where(WebSession.id == sid, stale).values(last_seen_at=now)
                )
        except SQLAlchemyError as exc:  # a busy database must not refuse the request
            log.warning("could not record a session's last use", extra={"error": str(exc)[:200]})

    # ---------------------------------------------------------------- sign-out

    def end(self, signed: SignedIn, *, channel: str = "web") -> None:
        """Sign out: the session stops working at once, on every replica."""
        with self.store.write() as (s, _):
            row = s.get(WebSession, signed.session_id)
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = self.clock()
            event = self._event(
                audit.Kind.SESSION_ENDED, signed.principal, row.id, {"via": row.via}, channel
            )
            audit.record(self.store, event, session=s)

    @staticmethod
    def _event(
        kind: audit.Kind, who: Principal, sid: str, payload: dict[str, object], channel: str
    ) -> audit.AuditEvent:
        # A prefix of the digest names the session: the token itself never enters the trail.
        return audit.AuditEvent(
            kind,
            actor=who.user_id,
            target=f"session:{sid[:16]}",
            payload=payload,
            channel=channel,
            groups=tuple(sorted(who.groups)),
            center=who.center,
        )


def _as_session(who: Principal) -> Principal:
    """The principal as a session presents it: ``via`` says the cookie authenticated it (rate
    limits then count the user and center, not a key the request did not carry)."""
    return Principal(
        who.user_id, who.display_name, who.groups, who.center, who.access, who.external, "session"
    )


# The snapshot's display name is sealed like the directory's (store/sealed.py).
_NAME = "web_sessions.snapshot.display_name"


def _snapshot(who: Principal, sealer: sealed.Sealer | None) -> dict[str, object]:
    return {
        "display_name": sealed.seal_with(sealer, who.display_name, _NAME),
        "groups": sorted(who.groups),
        "center": who.center,
        "access": who.access,
        "external": who.external,
    }


def _from_snapshot(
    user_id: str,
    snap: dict[str, object],
    directory: tuple[str, str | None, str] | None,
    sealer: sealed.Sealer | None,
) -> Principal:
    """An OIDC session's principal: groups as the token gave them; name, center and access
    from the directory where the user is in it (as at sign-in, read again now)."""
    raw_groups = snap.get("groups")
    groups = frozenset(str(g) for g in raw_groups) if isinstance(raw_groups, list) else frozenset()
    name, center, access = (
        directory
        if directory
        else (
            sealed.open_with(sealer, str(snap.get("display_name") or user_id), _NAME),
            _opt(snap.get("center")),
            str(snap.get("access") or "asker"),
        )
    )
    return Principal(user_id, name, groups, center, access, bool(snap.get("external")), "session")


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
