"""Dependencies: the runtime, the authenticated principal, and the permission a route needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from steward.core.errors import AuthError
from steward.identity import sessions
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.identity.limits import RateLimiter
from steward.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM = "application/x-www-form-urlencoded"


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# Declares the bearer scheme in the OpenAPI document; auto_error off, so the credentials are
# still checked (and a missing or bad one answered 401 in our error shape) by authenticate.
BEARER = HTTPBearer(auto_error=False, description="An API key (`stw_...`) or an OIDC JWT.")


async def principal(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    # Read raw (authenticate also refuses schemes other than Bearer in our error shape); the
    # bearer scheme above is what the OpenAPI document declares, so not a header parameter too.
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    # Counted: failed logins per client address (429 past the threshold), requests per key,
    # user and center (identity/limits.py); the counters are in the store, shared by replicas.
    limiter: RateLimiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    cookie = request.cookies.get(sessions.COOKIE)
    if not authorization and cookie:
        # A browser's session (web/session.py): a request that changes state must also carry
        # the session's CSRF token, which only this server's own pages hold.
        signed = await run_in_threadpool(from_cookie, limiter, rt.sessions, cookie, client)
        if request.method not in SAFE_METHODS:
            await require_csrf(request, signed.csrf)
        return signed.principal
    return await run_in_threadpool(
        limiter.authenticate,
        authorization,
        client,
        rt.verifier,
        rt.settings.identity.anonymous_group,
    )


def from_cookie(
    limiter: RateLimiter, book: sessions.Sessions, token: str, client: str
) -> sessions.SignedIn:
    """The session of a cookie, counted like a bearer credential: a failure against the
    client address (429 past the threshold), a success against the user and center."""
    try:
        signed = book.resolve(token)
    except AuthError:
        limiter.failed(f"Session {token}", client)
        raise
    limiter.admit(signed.principal, None, client)
    return signed


async def sent_csrf(request: Request) -> str | None:
    """The CSRF token a request carries: the header, else a console form's field."""
    sent = request.headers.get(sessions.CSRF_HEADER)
    if sent is not None:
        return sent
    if request.headers.get("content-type", "").startswith(FORM):
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        found = fields.get(sessions.CSRF_FIELD)
        return found[0] if found else None
    return None


async def require_csrf(request: Request, expected: str) -> None:
    if not sessions.csrf_matches(await sent_csrf(request), expected):
        raise sessions.CsrfFailed(
            "This request changes something and was authenticated by the session cookie, so "
            f"it must carry the session's CSRF token ({sessions.CSRF_HEADER} header or "
            f"{sessions.CSRF_FIELD} form field): reload the page and try again."
        )


def allowed(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets the request through only if its principal holds ``permission``
    (authenticated first, so no credentials is a 401 before any 403); the resource a denial
    names is the requested path."""

    async def check(
        request: Request,
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
    ) -> Principal:
        # In a worker thread: a denial writes its audit event to the store.
        await run_in_threadpool(rt.authz.authorize, who, permission, request.url.path)
        return who

    return check
