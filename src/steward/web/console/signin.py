"""Console sign-in and sign-out: the same identity as the API (an API key, or the identity
provider's sign-in by the authorization code flow of identity/oidc.py), turned into the session
cookie of web/session.py."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from steward.core.errors import AuthError, InputError, RateLimited, StewardError
from steward.identity import oidc
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.identity.sessions import SignedIn
from steward.runtime import Runtime
from steward.web.console.render import Viewer, back, form, page, rt_of, viewer
from steward.web.session import (
    CROSS_SITE,
    clear_cookie,
    client_of,
    cross_site,
    current,
    end_earlier,
    set_cookie,
    sign_in,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


def _sign_in_page(
    request: Request, status: int = 200, error: str = "", next_path: str = ""
) -> Response:
    """The console's sign-in page; a sign-in that started on the chat page (``next_path``
    ``/``) gets its retry link back to the chat page, and a link to it."""
    rt = rt_of(request)
    offered = oidc.configured(rt.settings.session, rt.verifier)
    target = oidc.local_target(next_path, "")
    idp = (oidc.START + (f"?next={quote(target, safe='/')}" if target else "")) if offered else None
    return page("sign_in.html", None, status, error=error, idp_url=idp, chat=target == "/")


def landing(rt: Runtime, who: Principal) -> str:
    """Where a new session starts: the dashboard for operators, the queue for reviewers, the
    use cases and ROI for a sponsor who is neither."""
    if rt.authz.permits(who, Permission.READ_AUDIT):
        return "/console"
    if rt.authz.permits(who, Permission.WORK_TICKETS):
        return "/console/review"
    if rt.authz.permits(who, Permission.VIEW_SPONSOR):
        return "/console/economics"
    return "/console"


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
    target = landing(rt, who)
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


def _secure(request: Request) -> bool:
    return rt_of(request).settings.session.secure_cookie or request.url.scheme == "https"


def _pending_key(request: Request) -> bytes:
    return oidc.pending_key(rt_of(request).masking_key)


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@router.get(oidc.START)
async def oidc_start(request: Request) -> Response:
    """Send the browser to the identity provider (authorization code flow with PKCE); what it
    must bring back is kept in a signed cookie of its own for ten minutes. ``next``: a path on
    this server to land on afterwards (anything else is ignored)."""
    rt = rt_of(request)
    cfg = rt.settings.session
    target = oidc.local_target(request.query_params.get("next"), "")
    if not oidc.configured(cfg, rt.verifier):
        return _sign_in_page(
            request, 404, "Sign-in with an identity provider is not configured here."
        )
    redirect_uri = cfg.oidc_redirect_url
    if redirect_uri is None:
        # Derived from the request only on loopback: elsewhere the Host header is the
        # client's to choose, and the provider would send the code where it says.
        if (request.url.hostname or "") not in LOOPBACK:
            log.error("oidc sign-in needs STEWARD_OIDC_REDIRECT_URL")
            return _sign_in_page(
                request, 500,
                "Sign-in with the identity provider is not set up completely here "
                "(STEWARD_OIDC_REDIRECT_URL); tell the operator.",
            )  # fmt: skip
        redirect_uri = str(request.url_for("oidc_callback"))
    url, pending = oidc.begin(cfg, redirect_uri, target)
    secure = _secure(request)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the identity provider's redirect back is a cross-site navigation.
    response.set_cookie(
        oidc.cookie_name(pending.state, secure), pending.encode(_pending_key(request)),
        max_age=oidc.PENDING_S, path="/", httponly=True, samesite="lax", secure=secure,
    )  # fmt: skip
    return response


@router.get(oidc.CALLBACK, name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    """The identity provider's answer: the code is exchanged and its ID token checked (state,
    PKCE, signature, issuer, audience, nonce; identity/oidc.py), then the session starts. A
    refusal shows the sign-in page with what went wrong and starts nothing; an answer that
    names no sign-in of this browser changes nothing in it (no one can cancel another's)."""
    rt = rt_of(request)
    cfg = rt.settings.session
    q = request.query_params
    state = q.get("state", "")[:200]
    name = oidc.cookie_name(state, _secure(request))
    limiter = request.app.state.limiter
    client = client_of(request)
    mine = bool(state) and name in request.cookies

    def refused(status: int, message: str, next_path: str = "") -> Response:
        response = _sign_in_page(request, status, message, next_path=next_path)
        if mine:  # only the sign-in the answer belongs to ends
            response.delete_cookie(name, path="/", httponly=True, samesite="lax")
        return response

    def failed(what: str) -> None:
        # Counted like a failed bearer credential (each attempt its own, 429 past the
        # threshold) and logged as `auth-failed`.
        limiter.failed(f"Bearer oidc:{what[:64]}", client)

    if not oidc.configured(cfg, rt.verifier):
        return refused(404, "Sign-in with an identity provider is not configured here.")
    try:
        pending = oidc.Pending.decode(
            request.cookies.get(name) if mine else None, _pending_key(request)
        )
    except InputError as exc:
        await run_in_threadpool(failed, state or q.get("code", "") or "none")
        return refused(exc.status, exc.message)
    if q.get("error"):
        said = "".join(ch for ch in q.get("error", "")[:60] if ch.isalnum() or ch in "_-.")
        return refused(401, f"The identity provider did not sign you in ({said}).", pending.next)
    assert rt.verifier is not None  # configured() holds it
    verifier = rt.verifier

    def exchange() -> Principal:
        try:
            _claims, token = oidc.finish(
                cfg, verifier, pending, state=state, code=q.get("code", "")
            )
        except AuthError:
            failed(q.get("code", "") or state)
            raise
        # Checked as a bearer token: a deactivated user is refused here as everywhere else.
        who: Principal = limiter.authenticate(f"Bearer {token}", client, verifier, None)
        return who

    try:
        who = await run_in_threadpool(exchange)
    except (InputError, AuthError, RateLimited, oidc.ProviderFailed) as exc:
        log.info("oidc sign-in refused", extra={"code": exc.code})
        return refused(exc.status, exc.message, pending.next)
    except StewardError as exc:  # e.g. a JWKS that cannot check the token
        log.warning("oidc sign-in failed", extra={"code": exc.code})
        return refused(502, "The sign-in could not be completed; try again later.", pending.next)
    target = oidc.local_target(
        pending.next,
        landing(rt, who),
    )
    try:
        earlier: SignedIn | None = await current(request, rt)
    except AuthError:
        earlier = None
    signed = None
    if earlier is None or earlier.principal.user_id != who.user_id:
        # The same person signing in again keeps their session (and its CSRF token): a page
        # elsewhere that starts a sign-in cannot end it. Another person's session ends.
        signed = await run_in_threadpool(lambda: rt.sessions.start(who, channel="console"))
        await end_earlier(request, rt, "console")
    # A page, not a redirect: the session cookie is SameSite=Strict, and a browser does not
    # send it on a redirect that a cross-site navigation (the provider's) started; the page's
    # own refresh is a same-site navigation, which does.
    response = page("signed_in.html", None, 200, target=target, name=who.display_name)
    if signed is not None:
        set_cookie(response, request, rt, signed)
    response.delete_cookie(name, path="/", httponly=True, samesite="lax")
    return response
