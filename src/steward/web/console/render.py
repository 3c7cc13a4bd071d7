"""The console's HTML: one Jinja2 environment (autoescaped), the signed-in viewer of a page,
and pages for refusals (a signed-out browser is sent to sign in; a role too low gets a 403 page).

Console pages take the session cookie only (never a bearer header): they are for browsers, and
every form they render carries the session's CSRF token, checked before any action runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from steward.core.errors import AuthError, ForbiddenError, StewardError
from steward.identity import sessions
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.web.deps import FORM, SAFE_METHODS, from_cookie, require_csrf
from steward.web.placeholders import shown_to

TEMPLATES = Path(__file__).parent / "templates"
SIGN_IN = "/console/sign-in"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a console page, and the CSRF token its forms carry."""

    who: Principal
    csrf: str
    can: frozenset[str]  # which console sections to link: review, operator
    session: sessions.SignedIn


class PageError(Exception):
    """A refusal or failure shown as a console page (not the API's JSON)."""

    def __init__(self, status: int, message: str, viewer: Viewer | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.viewer = viewer


NO_ACCESS = "You don't have access to the operator console."
NO_PAGE = "You don't have access to this page."


class SignInFirst(Exception):
    """No live session: the browser goes to the sign-in page."""


def rt_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def page(template: str, viewer: Viewer | None, code: int = 200, **context: Any) -> HTMLResponse:
    body = env.get_template(template).render(viewer=viewer, **context)
    return HTMLResponse(body, status_code=code, headers={"Cache-Control": "no-store"})


async def viewer(request: Request, permission: Permission | None) -> Viewer:
    """The page's signed-in viewer holding ``permission`` (audited denial and a 403 page
    otherwise); an unsafe method must carry the session's CSRF token."""
    rt = rt_of(request)
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        raise SignInFirst
    client = request.client.host if request.client else "unknown"
    try:
        signed = await run_in_threadpool(
            from_cookie, request.app.state.limiter, rt.sessions, token, client
        )
    except AuthError as exc:
        raise SignInFirst from exc
    who = signed.principal
    can = frozenset(
        name
        for name, perm in (
            ("review", Permission.WORK_TICKETS),
            ("operator", Permission.READ_AUDIT),
            ("sponsor", Permission.VIEW_SPONSOR),
        )
        if rt.authz.permits(who, perm)
    )
    seen = Viewer(who, signed.csrf, can, signed)
    try:
        if request.method not in SAFE_METHODS:
            await require_csrf(request, signed.csrf)
    except ForbiddenError as exc:
        raise PageError(403, exc.message, seen) from exc
    try:
        if permission is not None:
            await run_in_threadpool(rt.authz.authorize, who, permission, request.url.path)
    except ForbiddenError as exc:
        # The denial is audited with its detail; the page echoes no roles or ids.
        raise PageError(403, NO_ACCESS if not can else NO_PAGE, seen) from exc
    return seen


async def form(request: Request) -> dict[str, str]:
    """A console form's fields (url-encoded; the last value of a repeated name)."""
    if not request.headers.get("content-type", "").startswith(FORM):
        return {}
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


async def act(seen: Viewer, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a service method in a worker thread; its refusal or error becomes a console page."""
    try:
        return await run_in_threadpool(lambda: fn(*args, **kwargs))
    except StewardError as exc:
        raise PageError(exc.status if 400 <= exc.status < 600 else 500, exc.message, seen) from exc


def back(path: str) -> RedirectResponse:
    """After a form's action: see the page again (303, so a reload does not post twice)."""
    return RedirectResponse(path, status_code=303)


def shown(seen: Viewer, text: str) -> str:
    return shown_to(seen.who, text)


def install_handlers(app: Any) -> None:
    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return page("error.html", exc.viewer, exc.status, status=exc.status, message=exc.message)

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        return RedirectResponse(SIGN_IN, status_code=303)

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(SignInFirst, sign_in_first)
