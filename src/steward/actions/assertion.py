"""The asker's identity on a downstream call: a tool never runs with a service account's wider
rights, it carries a token for the asker.

- **Signed asker assertion** (always): a short-lived JWT signed with Steward's Ed25519 key
  (``HOME/actions-signing.key``, made on first use; the public key is served as a JWKS at
  ``GET /v1/actions/jwks.json``). ``sub`` is the asker, ``aud`` the system, ``act`` says Steward
  acts for them (RFC 8693's actor claim), and the call is pinned: ``tool``, ``call`` (the keyed
  hash of the exact call), ``jti`` (the action id, also the idempotency key), ``customer`` (the
  subject acted on) and ``approvers``. The system checks all of it and decides by its own rules.
- **OAuth 2.0 token exchange** (RFC 8693, when ``STEWARD_ACTIONS_TOKEN_EXCHANGE_URL`` is set):
  the assertion is the ``subject_token`` exchanged at the identity provider for an access token
  for the system's audience; the provider's token is what the system receives.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from steward.core.errors import ConfigError

ISSUER = "steward"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)


class TokenError(Exception):
    """The identity provider refused or failed the exchange (the call is not made)."""


@dataclass(frozen=True)
class CallClaims:
    asker: str
    role: str
    customer: str | None
    tool: str
    call_hash: str
    action_id: str
    approvers: tuple[str, ...]


class Signer:
    """Signs asker assertions; thread-safe, the key loaded (or made) once."""

    def __init__(self, path: Path, ttl_s: int) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._key: Ed25519PrivateKey | None = None

    @property
    def key(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = self._load()
            return self._key

    def _load(self) -> Ed25519PrivateKey:
        from steward.audit.checkpoint import load_or_create_key

        try:
            return load_or_create_key(self.path)  # safe when workers start at once
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the action signing key {self.path}: {exc}") from exc

    @cached_property
    def kid(self) -> str:
        """The key's id, as the audit checkpoints name theirs."""
        from steward.audit.checkpoint import key_id

        return key_id(self.key.public_key())

    def jwks(self) -> dict[str, Any]:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        key = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA"}
        return {"keys": [{**key, "use": "sig"}]}

    def assertion(self, audience: str, claims: CallClaims) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "sub": claims.asker,
            "aud": audience,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl_s,
            "jti": claims.action_id,
            "act": {"sub": ISSUER},
            "role": claims.role,
            "customer": claims.customer,
            "tool": claims.tool,
            "call": claims.call_hash,
            "approvers": list(claims.approvers),
        }
        return jwt.encode(body, self.key, algorithm="EdDSA", headers={"kid": self.kid})


def exchange(
    url: str,
    client_id: str | None,
    client_secret: str | None,
    subject_token: str,
    audience: str,
    scope: str,
    timeout_s: float,
) -> str:
    """RFC 8693: the assertion for an access token for ``audience``; TokenError if refused."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": JWT_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "audience": audience,
        "scope": scope,
    }
    auth = (client_id, client_secret or "") if client_id else None
    try:
        r = httpx.post(url, data=data, auth=auth, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise TokenError(f"token exchange failed: {type(exc).__name__}") from exc
    if r.status_code != 200:
        raise TokenError(f"token exchange refused: HTTP {r.status_code}")
    try:
        token = r.json()["access_token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("token exchange answered without an access_token") from exc
    if not isinstance(token, str) or not token:
        raise TokenError("token exchange answered without an access_token")
    return token
