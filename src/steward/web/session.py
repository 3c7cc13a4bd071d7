"""Browser sign-in: ``/v1/session`` turns an API key into a session cookie (the identity
provider's sign-in is the code flow of web/console/signin.py).

The cookie (``steward_session``) is HttpOnly (page scripts cannot read it), SameSite=Strict
(another site's page cannot make the browser send it) and Secure when the request came by https
or ``STEWARD_SESSION_SECURE_COOKIE`` says so. The body returned holds the session's CSRF token,
which the page sends back on every request that changes state (identity/sessions.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.core.errors import AuthError
from steward.identity import sessions
from steward.identity.auth import KEY_PREFIX, Principal
from steward.identity.limits import RateLimiter
from steward.runtime import Runtime
from steward.web.deps import from_cookie, require_csrf, runtime
from steward.web.errors import responses

router = APIRouter(tags=["sign-in"])


class KeyIn(BaseModel):
    """Sign in with an API key."""

    model_config = ConfigDict(extra="forbid", strict=True)
    api_key: str = Field(max_length=200, description="An API key, `stw_...`.")


class SessionOut(BaseModel):
    user_id: str
    display_name: str
    access: str = Field(description="asker, reviewer, operator or admin.")
    center: str | None
    csrf_token: str = Field(
        description="Send it back as the `X-CSRF-Token` header (or the `csrf_token` form field) "
        "on every request that changes state."
    )
    expires_at: datetime = Field(description="When the session ends at the latest.")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(
    rt: Runtime,
    limiter: RateLimiter,
    client: str,
    *,
    api_key: str,
    channel: str = "web",
) -> sessions.SignedIn:
    """Authenticate an API key exactly as a bearer credential (failures counted per client
    address, 429 past the threshold) and start a session for its user. An ID token never
    starts a session here: a token that leaked would buy a session that outlives it; the
    identity provider's sign-in is the code flow of web/console/signin.py."""
    credential = (api_key or "").strip()
    if not credential.startswith(KEY_PREFIX):
        if credential:
            limiter.failed(f"Bearer {credential}", client)
        raise AuthError(f"Invalid API key: keys start with `{KEY_PREFIX}`.")
    who: Principal = limiter.authenticate(f"Bearer {credential}", client, rt.verifier, None)
    return rt.sessions.start(who, api_key=credential, channel=channel)


CROSS_SITE = (
    "Sign-in refused: the request came from another site's page (login CSRF). "
    "Sign in from this server's own sign-in page."
)


def cross_site(request: Request) -> bool:
    """Whether a sign-in request came from another site's page (login CSRF: a page elsewhere
    signing this browser in as the attacker). The browser says so in ``Sec-Fetch-Site``
    (``cross-site`` or ``same-site``), or an ``Origin`` that is not this server's own host.
    The host is compared, not the scheme, so TLS ended at a proxy does not refuse
    every sign-in (a page on the same host by http is ``same-site`` to the browser).
    ``Origin: null`` is what our own pages send under ``Referrer-Policy: no-referrer``
    (web/security.py), so it is judged by ``Sec-Fetch-Site`` alone."""
    origin = (request.headers.get("origin") or "").strip()
    if request.headers.get("sec-fetch-site", "").strip().lower() in ("cross-site", "same-site"):
        return True
    if not origin or origin == "null":
        return False
    own = request.headers.get("host", "").strip().lower()
    return not own or urlsplit(origin).netloc.lower() != own


async def end_earlier(request: Request, rt: Runtime, channel: str) -> None:
    """Signing in while another session's cookie is present ends that session (the browser
    holds one session; the earlier one must not live on unseen)."""
    if not request.cookies.get(sessions.COOKIE):
        return
    try:
        earlier = await current(request, rt)
    except AuthError:
        return
    await run_in_threadpool(lambda: rt.sessions.end(earlier, channel=channel))


def set_cookie(
    response: Response, request: Request, rt: Runtime, signed: sessions.SignedIn
) -> None:
    assert signed.token is not None  # only a session just started has its token
    response.set_cookie(
        sessions.COOKIE,
        signed.token,
        max_age=rt.settings.session.lifetime_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=rt.settings.session.secure_cookie or request.url.scheme == "https",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")


def _out(signed: sessions.SignedIn) -> SessionOut:
    who = signed.principal
    return SessionOut(
        user_id=who.user_id,
        display_name=who.display_name,
        access=who.access,
        center=who.center,
        csrf_token=signed.csrf,
        expires_at=signed.expires_at,
    )


@router.post(
    "/v1/session",
    response_model=SessionOut,
    status_code=201,
    responses=responses(400, 401, 403, 422),
)
async def start_session(
    body: KeyIn,
    request: Request,
    response: Response,
    rt: Annotated[Runtime, Depends(runtime)],
) -> SessionOut:
    """Sign in: an API key becomes a session cookie (`steward_session`,
    HttpOnly, SameSite=Strict) for the browser; the body says who signed in and holds the CSRF
    token. Failed attempts count against the client address like failed bearer credentials.
    A request from another site's page is refused (403 `csrf_failed`: login CSRF); a session
    this browser already had is ended."""
    if cross_site(request):
        raise sessions.CsrfFailed(CROSS_SITE)
    signed = await run_in_threadpool(
        lambda: sign_in(
            rt,
            request.app.state.limiter,
            client_of(request),
            api_key=body.api_key,
        )
    )
    await end_earlier(request, rt, "web")
    set_cookie(response, request, rt, signed)
    return _out(signed)


async def current(request: Request, rt: Runtime) -> sessions.SignedIn:
    """The request's live session (401 when there is none)."""
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        raise AuthError("Not signed in.")
    return await run_in_threadpool(
        from_cookie, request.app.state.limiter, rt.sessions, token, client_of(request)
    )


@router.get("/v1/session", response_model=SessionOut, responses=responses(401))
async def get_session(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> SessionOut:
    """Who this browser is signed in as (401 when it is not), and the session's CSRF token:
    a page reloaded picks its session up from here."""
    return _out(await current(request, rt))


@router.delete("/v1/session", status_code=204, responses=responses(403))
async def end_session(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Response:
    """Sign out (needs the CSRF token): the session stops working at once. Without a live
    session there is nothing to end, and the cookie is cleared all the same."""
    response = Response(status_code=204)
    try:
        signed = await current(request, rt)
    except AuthError:
        clear_cookie(response)
        return response
    await require_csrf(request, signed.csrf)
    await run_in_threadpool(rt.sessions.end, signed)
    clear_cookie(response)
    return response
