"""Sign-in at the identity provider: the OpenID Connect authorization code flow with PKCE.

:func:`begin` makes the authorization request: a fresh ``state`` (binds the answer to this
browser: a code sent by someone else's sign-in is refused, which stops login CSRF), ``nonce``
(binds the ID token to this request: a token replayed or injected from elsewhere is refused) and
PKCE ``code_verifier`` (S256: a code stolen on the way back is useless without it). The three are
kept in the browser's own short-lived cookie (:class:`Pending`), not on the server, so any
replica can finish the sign-in. :func:`finish` checks ``state``, exchanges the code at the token
endpoint (server to server, the client secret by HTTP Basic for a confidential client), checks
the ID token with the configured JWKS (signature, issuer, audience = the client id, expiry) and
its ``nonce``, and returns the claims. Nothing here is fetched at start-up (no discovery): the
endpoints are configured (docs/console.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx

from steward.config.settings import SessionSettings
from steward.core.errors import AuthError, InputError, StewardError
from steward.identity.auth import TokenVerifier

START = "/console/oidc/start"  # where the browser goes to sign in (web/console/signin.py)
CALLBACK = "/console/oidc/callback"  # where the identity provider sends it back
PENDING_COOKIE = "steward_oidc"
SECURE_PENDING_COOKIE = "__Host-steward_oidc"  # https: no sibling subdomain can set it
PENDING_S = 600  # a sign-in must come back within ten minutes
TOKEN_TIMEOUT_S = 10.0
_MAX_COOKIE = 2000


class ProviderFailed(StewardError):
    """The identity provider could not be reached or refused the code (502)."""

    status = 502
    code = "identity_provider_failed"


@dataclass(frozen=True)
class Pending:
    """One sign-in on its way through the identity provider, as kept in the browser: in a
    cookie of its own (named after its ``state``, so two tabs signing in at once do not undo
    each other, and a stranger's answer cannot name it), signed with the server's key so that
    its start time and content are the server's, not the browser's."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    started: int

    def encode(self, key: bytes) -> str:
        raw = json.dumps(asdict(self), separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{body}.{_mac(key, body)}"

    @classmethod
    def decode(cls, value: str | None, key: bytes) -> Pending:
        """The cookie's sign-in; a missing, damaged, forged or stale one is refused (400)."""
        again = "Start the sign-in again from the sign-in page."
        if not value or len(value) > _MAX_COOKIE:
            raise InputError(f"This sign-in was not started in this browser, or has ended. {again}")
        body, _, mac = value.rpartition(".")
        if not body or not hmac.compare_digest(mac.encode(), _mac(key, body).encode()):
            raise InputError(f"This sign-in's cookie is damaged. {again}")
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            pending = cls(**data)
        except (ValueError, TypeError) as exc:
            raise InputError(f"This sign-in's cookie is damaged. {again}") from exc
        if not 0 <= time.time() - pending.started <= PENDING_S:
            raise InputError(f"This sign-in took longer than ten minutes. {again}")
        return pending


def pending_key(secret: bytes) -> bytes:
    """The key that signs pending sign-ins, derived from the store's secret key."""
    return hmac.new(secret, b"steward oidc pending sign-in", hashlib.sha256).digest()


def _mac(key: bytes, body: str) -> str:
    sig = hmac.new(key, b"steward-oidc-pending\0" + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(sig).decode().rstrip("=")


def cookie_name(state: str, secure: bool) -> str:
    """The pending sign-in's cookie: ``__Host-`` over https (no sibling subdomain can set it),
    and a digest of its ``state`` (what the provider sends back names the one cookie)."""
    tag = hashlib.sha256(state.encode()).hexdigest()[:16]
    return f"{SECURE_PENDING_COOKIE if secure else PENDING_COOKIE}_{tag}"


def configured(cfg: SessionSettings, verifier: TokenVerifier | None) -> bool:
    """Whether sign-in at the identity provider is offered: both endpoints, the client id and
    the JWKS that checks the ID token are all set."""
    return bool(cfg.oidc_authorize_url and cfg.oidc_token_url and cfg.oidc_client_id and verifier)


def local_target(value: str | None, default: str) -> str:
    """``value`` if it is a path on this server (``/chat``), else ``default``: never a
    redirect to another site (``//evil.example``, ``https://...``, ``/\\evil``)."""
    v = (value or "").strip()
    if not v.startswith("/") or v.startswith("//") or "\\" in v or len(v) > 200:
        return default
    if any(ord(ch) < 0x21 for ch in v):
        return default
    return v


def _challenge(verifier: str) -> str:
    sha = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(sha).decode().rstrip("=")


def begin(cfg: SessionSettings, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
    """The identity provider's authorization URL to send the browser to, and what the browser
    must keep until it comes back."""
    assert cfg.oidc_authorize_url and cfg.oidc_client_id  # checked by configured()
    pending = Pending(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),  # 86 characters: within RFC 7636's 43-128
        redirect_uri=redirect_uri,
        next=next_path,
        started=int(time.time()),
    )
    scopes = ["openid", *(s for s in cfg.oidc_scopes.split() if s != "openid")]
    query = urlencode(
        {
            "response_type": "code",
            "client_id": cfg.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
    )
    sep = "&" if "?" in cfg.oidc_authorize_url else "?"
    return f"{cfg.oidc_authorize_url}{sep}{query}", pending


def finish(
    cfg: SessionSettings,
    verifier: TokenVerifier,
    pending: Pending,
    *,
    state: str,
    code: str,
) -> tuple[dict[str, Any], str]:
    """The checked claims of the ID token the code is exchanged for, and the token itself."""
    assert cfg.oidc_token_url and cfg.oidc_client_id  # checked by configured()
    if not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise AuthError("This sign-in answer belongs to another sign-in (state); start again.")
    if not code or len(code) > 4096:
        raise InputError("The identity provider sent no usable code; start the sign-in again.")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.verifier,
        "client_id": cfg.oidc_client_id,
    }
    secret = cfg.oidc_client_secret.get_secret_value() if cfg.oidc_client_secret else None
    headers = {"Accept": "application/json"}
    if secret:  # client_secret_basic (RFC 6749 2.3.1: both parts form-encoded first)
        pair = f"{quote_plus(cfg.oidc_client_id)}:{quote_plus(secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    try:
        with httpx.Client(timeout=TOKEN_TIMEOUT_S) as client:
            r = client.post(cfg.oidc_token_url, data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise ProviderFailed(
            f"The identity provider's token endpoint did not answer ({type(exc).__name__})."
        ) from exc
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code != 200 or not isinstance(body, dict):
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        raise ProviderFailed(
            f"The identity provider refused the sign-in code (HTTP {r.status_code}"
            f"{', ' + error[:60] if error else ''}); start the sign-in again."
        )
    token = body.get("id_token")
    if not isinstance(token, str) or token.count(".") != 2:
        raise ProviderFailed("The identity provider's answer holds no ID token.")
    claims = verifier.verify(token)
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if cfg.oidc_client_id not in audiences:
        raise AuthError("The ID token is not for this client (aud).")
    if len(audiences) > 1 and claims.get("azp") != cfg.oidc_client_id:
        raise AuthError("The ID token was issued to another party (azp).")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode(), pending.nonce.encode()
    ):
        raise AuthError("The ID token was not issued for this sign-in (nonce).")
    return claims, token
