"""Security headers on every HTTP response, and the chat page's static files.

The chat page runs no inline code: its script and style are files served from here, so its
Content-Security-Policy allows scripts and styles from the server itself and nothing else (no
``'unsafe-inline'``). JSON responses get a policy that loads nothing. The API reference at
``/docs`` is a page of the same kind (``docs.html``, ``docs.js``) that renders ``/openapi.json``:
FastAPI's own pages would load their assets from a CDN, which an offline deployment cannot reach.
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TEMPLATES = Path(__file__).parent / "templates"
STATIC = {  # served at /static/NAME
    "chat.js": "text/javascript",
    "chat.css": "text/css",
    "docs.js": "text/javascript",
    "console.css": "text/css",
}

_COMMON = "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    f"img-src 'self'; {_COMMON}"
)
API_CSP = f"default-src 'none'; {_COMMON}"
PAGES = ("/", "/docs", "/redoc")  # our own HTML pages


def headers_for(path: str) -> dict[str, str]:
    """The security headers of a response to ``path``."""
    page = path in PAGES or path.startswith(("/static/", "/console/")) or path == "/console"
    csp = PAGE_CSP if page else API_CSP
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class SecurityHeaders:
    """Adds :func:`headers_for` to every response (pure ASGI: streamed bodies too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def chat_page() -> str:
    return (TEMPLATES / "chat.html").read_text(encoding="utf-8")


def docs_page() -> str:
    return (TEMPLATES / "docs.html").read_text(encoding="utf-8")


def static_file(name: str) -> Response:
    """One of the chat page's files; anything else is not found."""
    media = STATIC.get(name)
    if media is None:
        raise HTTPException(404, "Not Found")  # answered in the one error shape
    body = (TEMPLATES / name).read_bytes()
    return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})
