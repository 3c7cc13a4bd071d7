"""Console sign-in and sign-out: the same identity as the API (an API key, or an ID token the
identity provider posts back), turned into the session cookie of web/session.py."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from steward.core.errors import AuthError, InputError, RateLimited
from steward.identity.authz import Permission
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


def _sign_in_page(request: Request, status: int = 200, error: str = "") -> Response:
    rt = rt_of(request)
    url = rt.settings.session.oidc_sign_in_url
    idp = url if (url and rt.settings.identity.oidc_jwks_file is not None) else None
    return page("sign_in.html", None, status, error=error, idp_url=idp)


def _idp_origin(request: Request) -> str | None:
    """The identity provider's origin (scheme://host[:port]), whose form_post may sign in."""
    url = rt_of(request).settings.session.oidc_sign_in_url
    if not url or rt_of(request).settings.identity.oidc_jwks_file is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def landing(seen_access: bool, reviewer: bool) -> str:
    """Where a new session starts: the dashboard for operators, the queue for reviewers."""
    return "/console" if seen_access or not reviewer else "/console/review"


@router.get("/console/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/console/sign-in")
async def sign_in_submit(request: Request) -> Response:
    """No CSRF token here: the request carries no session yet, it makes one. So a post from
    another site's page is refused instead (login CSRF), except the identity provider's
    form_post of an ID token; a session this browser already had is ended."""
    rt = rt_of(request)
    fields = await form(request)
    key, token = fields.get("api_key", "").strip(), fields.get("id_token", "").strip()
    if cross_site(request, _idp_origin(request) if token else None):
        return _sign_in_page(request, 403, CROSS_SITE)
    try:
        signed = await run_in_threadpool(
            lambda: sign_in(
                rt,
                request.app.state.limiter,
                client_of(request),
                api_key=None if token else key,
                id_token=token or None,
                channel="console",
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
