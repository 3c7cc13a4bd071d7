"""A small OpenID Connect provider for the sign-in tests, served on loopback by real uvicorn.

It does what a real provider does on the authorization code flow with PKCE: ``/authorize``
signs the configured user in at once (no login form) and sends the browser back with a
one-time code; ``/token`` checks the client's secret, the redirect URI, the code (once) and the
PKCE verifier against the challenge, and answers an RS256 ID token carrying the nonce. The test
can make it misbehave (refuse, answer another nonce or audience) to see Steward refuse.

``/token`` also does OAuth 2.0 token exchange (RFC 8693), as a bank's provider would for the
action tests: it authenticates the client, verifies the ``subject_token`` (Steward's signed
asker assertion) against the keys it trusts (``subject_jwks``), and answers an RS256 access
token for the requested ``audience`` with the same ``sub``, an ``act`` claim naming the client
that acts for them (nesting the assertion's own ``act``), and the claims a system decides on
(role, customer, tool, call, approvers)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

ISSUER = "https://idp.test/realms/bank"
CLIENT_ID = "steward"
CLIENT_SECRET = "s3cret-of-the-client"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
CARRIED_CLAIMS = ("role", "customer", "tool", "call", "approvers")


@dataclass
class Provider:
    key: Any  # the RSA private key whose public half is in Steward's JWKS file
    user: str = "ops"  # who signs in (a request's login_hint wins)
    refuse: str | None = None  # /authorize answers this OAuth error instead of a code
    nonce: str | None = None  # the ID token carries this nonce instead of the request's
    audience: str = CLIENT_ID
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    # Token exchange: the JWKS the subject tokens are verified with (None: exchange refused),
    # their issuer, and what was exchanged (the verified subject token's claims).
    subject_jwks: dict[str, Any] | None = None
    subject_issuer: str = "steward"
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    kid: str = "k1"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/authorize")
        async def authorize(request: Request) -> Response:
            q = dict(request.query_params)
            self.authorize_requests.append(q)
            back = q["redirect_uri"]
            if self.refuse:
                return RedirectResponse(
                    f"{back}?{urlencode({'error': self.refuse, 'state': q['state']})}", 302
                )
            if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
                return JSONResponse({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {**q, "user": q.get("login_hint") or self.user}
            return RedirectResponse(f"{back}?{urlencode({'code': code, 'state': q['state']})}", 302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
            self.token_requests.append(
                {**form, "authorization": request.headers.get("authorization", "")}
            )
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {basic}":
                return JSONResponse({"error": "invalid_client"}, 401)
            if form.get("grant_type") == TOKEN_EXCHANGE:
                return self._exchange(form)
            issued = self.codes.pop(str(form.get("code")), None)  # a code works once
            if issued is None or form.get("grant_type") != "authorization_code":
                return JSONResponse({"error": "invalid_grant"}, 400)
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if challenge.decode().rstrip("=") != issued["code_challenge"]:
                return JSONResponse({"error": "invalid_grant", "why": "pkce"}, 400)
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant", "why": "redirect_uri"}, 400)
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": self.audience,
                "sub": issued["user"],
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce if self.nonce is not None else issued["nonce"],
                "groups": [],
            }
            id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return JSONResponse({"id_token": id_token, "token_type": "Bearer", "expires_in": 300})

        return app

    def _exchange(self, form: dict[str, str]) -> Response:
        """RFC 8693 section 2: the subject token for an access token for ``audience``."""
        audience = form.get("audience", "")
        if form.get("subject_token_type") != JWT_TYPE or not audience:
            return JSONResponse({"error": "invalid_request"}, 400)
        try:
            claims = self._subject(form.get("subject_token", ""), audience)
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": "invalid_grant", "why": type(exc).__name__}, 400)
        self.exchanges.append({**claims, "requested_audience": audience,
                               "scope": form.get("scope", "")})  # fmt: skip
        now = int(time.time())
        token = {
            "iss": ISSUER,
            "aud": audience,
            "sub": claims["sub"],
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(12),
            "scope": form.get("scope", ""),
            # The client acts for the subject; who acted before it stays nested (RFC 8693 4.1).
            "act": {"sub": CLIENT_ID, **({"act": claims["act"]} if "act" in claims else {})},
            **{k: claims[k] for k in CARRIED_CLAIMS if k in claims},
        }
        return JSONResponse(
            {
                "access_token": jwt.encode(token, self.key, algorithm="RS256",
                                           headers={"kid": self.kid}),
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": 120,
            }
        )  # fmt: skip

    def _subject(self, token: str, audience: str) -> dict[str, Any]:
        """The subject token's claims, verified: signed by a trusted key (EdDSA), from the
        trusted issuer, for the audience asked for, not expired."""
        if self.subject_jwks is None:
            raise jwt.InvalidTokenError("no subject tokens are trusted")
        keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(self.subject_jwks).keys}
        key = keys.get(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise jwt.InvalidKeyError("unknown key id")
        return dict(
            jwt.decode(
                token, key.key, algorithms=["EdDSA"], audience=audience,
                issuer=self.subject_issuer, options={"require": ["exp", "sub", "aud", "iss"]},
            )
        )  # fmt: skip
