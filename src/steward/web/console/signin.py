"""Console sign-in and sign-out: the same identity as the API (an API key, or the identity
provider's sign-in by the authorization code flow of identity/oidc.py), turned into the session
cookie of web/session.py."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from steward.core.errors import AuthError, InputError, RateLimited, StewardError
from steward.identity import oidc
from steward.identity.authz import Permission
from steward.identity.sessions import SignedIn
from steward.web.console.render import Viewer, back, form, page, rt_of, viewer
from steward.web.session import (
    CROSS_SITE,
    clear_cookie,
    client_of,
    cross_site,
    end_earlier,
    set_cookie,
    sign_in,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


def _sign_in_page(request: Request, status: int = 200, error: str = "") -> Response:
    rt = rt_of(request)
    offered = oidc.configured(rt.settings.session, rt.verifier)
    return page("sign_in.html", None, status, error=error, idp_url=oidc.START if offered else None)


def landing(seen_access: bool, reviewer: bool) -> str:
    """Where a new session starts: the dashboard for operators, the queue for reviewers."""
    return "/console" if seen_access or not reviewer else "/console/review"


@router.get("/console/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/console/sign-in")
async def sign_in_submit(request: Request) -> Response:
    """No CSRF token here: the request carries no session yet, it makes one. So a post from
    another site's page is refused instead (login CSRF); a session this browser already had is
    ended. Only an API key signs in here: the identity provider's sign-in comes back by the
    code flow's callback below, never as a posted ID token."""
    rt = rt_of(request)
    fields = await form(request)
    key = fields.get("api_key", "").strip()
    if cross_site(request):
        return _sign_in_page(request, 403, CROSS_SITE)
    try:
        signed = await run_in_threadpool(
            lambda: sign_in(
                rt, request.app.state.limiter, client_of(request), api_key=key, channel="console"
            )
        )
    except (AuthError, InputError) as exc:
        return _sign_in_page(request, exc.status, exc.message)
    except RateLimited as exc:
        return _sign_in_page(request, 429, exc.message)
    who = signed.principal
    target = landing(
        rt.authz.permits(who, Permission.READ_AUDIT), rt.authz.permits(who, Permission.WORK_TICKETS)
    )
    await end_earlier(request, rt, "console")
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, rt, signed)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    seen: Viewer = await viewer(request, None)  # checks the CSRF token
    rt = rt_of(request)
    await run_in_threadpool(lambda: rt.sessions.end(seen.session, channel="console"))
    response = back("/console/sign-in")
    clear_cookie(response)
    return response


def _pending_cookie(request: Request) -> tuple[str, bool]:
    """The pending sign-in's cookie name and whether it is Secure (``__Host-`` over https)."""
    secure = rt_of(request).settings.session.secure_cookie or request.url.scheme == "https"
    return (oidc.SECURE_PENDING_COOKIE if secure else oidc.PENDING_COOKIE), secure


@router.get(oidc.START)
async def oidc_start(request: Request) -> Response:
    """Send the browser to the identity provider (authorization code flow with PKCE); what it
    must bring back is kept in its own cookie for ten minutes. ``next``: a path on this server
    to land on afterwards (anything else is ignored)."""
    rt = rt_of(request)
    cfg = rt.settings.session
    if not oidc.configured(cfg, rt.verifier):
        return _sign_in_page(
            request, 404, "Sign-in with an identity provider is not configured here."
        )
    redirect_uri = cfg.oidc_redirect_url or str(request.url_for("oidc_callback"))
    target = oidc.local_target(request.query_params.get("next"), "")
    url, pending = oidc.begin(cfg, redirect_uri, target)
    name, secure = _pending_cookie(request)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the identity provider's redirect back is a cross-site navigation.
    response.set_cookie(
        name, pending.encode(), max_age=oidc.PENDING_S, path="/", httponly=True,
        samesite="lax", secure=secure,
    )  # fmt: skip
    return response


@router.get(oidc.CALLBACK, name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    """The identity provider's answer: the code is exchanged and its ID token checked (state,
    PKCE, signature, issuer, audience, nonce; identity/oidc.py), then the session starts. A
    refusal shows the sign-in page with what went wrong and starts nothing."""
    rt = rt_of(request)
    cfg = rt.settings.session
    name, _secure = _pending_cookie(request)
    q = request.query_params

    def refused(status: int, message: str) -> Response:
        response = _sign_in_page(request, status, message)
        response.delete_cookie(name, path="/", httponly=True, samesite="lax")
        return response

    if not oidc.configured(cfg, rt.verifier):
        return refused(404, "Sign-in with an identity provider is not configured here.")
    limiter = request.app.state.limiter
    client = client_of(request)
    if q.get("error"):
        said = "".join(ch for ch in q.get("error", "")[:60] if ch.isalnum() or ch in "_-.")
        return refused(401, f"The identity provider did not sign you in ({said}).")
    try:
        pending = oidc.Pending.decode(request.cookies.get(name))
        assert rt.verifier is not None  # configured() holds it
        verifier = rt.verifier

        def exchange() -> SignedIn:
            try:
                _claims, token = oidc.finish(
                    cfg, verifier, pending, state=q.get("state", ""), code=q.get("code", "")
                )
            except AuthError:
                limiter.failed("Bearer oidc-callback", client)
                raise
            # Counted and checked as a bearer token: a user the directory deactivated is
            # refused here as everywhere else.
            who = limiter.authenticate(f"Bearer {token}", client, verifier, None)
            return rt.sessions.start(who, channel="console")

        signed = await run_in_threadpool(exchange)
    except (InputError, AuthError, RateLimited, oidc.ProviderFailed) as exc:
        log.info("oidc sign-in refused", extra={"code": exc.code})
        return refused(exc.status, exc.message)
    except StewardError as exc:  # e.g. a JWKS that cannot check the token
        log.warning("oidc sign-in failed", extra={"code": exc.code})
        return refused(502, "The sign-in could not be completed; try again later.")
    who = signed.principal
    target = oidc.local_target(
        pending.next,
        landing(
            rt.authz.permits(who, Permission.READ_AUDIT),
            rt.authz.permits(who, Permission.WORK_TICKETS),
        ),
    )
    await end_earlier(request, rt, "console")
    # A page, not a redirect: the session cookie is SameSite=Strict, and a browser does not
    # send it on a redirect that a cross-site navigation (the provider's) started; the page's
    # own refresh is a same-site navigation, which does.
    response = page("signed_in.html", None, 200, target=target, name=who.display_name)
    set_cookie(response, request, rt, signed)
    response.delete_cookie(name, path="/", httponly=True, samesite="lax")
    return response
