"""The FastAPI application."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward import __version__
from steward.observability.context import new_request_id, request_context
from steward.runtime import Runtime
from steward.web import admin, ask, errors, handoff, openai_compat, search

TEMPLATES = Path(__file__).parent / "templates"
# A caller's X-Request-ID is kept only when it is short and plain: it goes into every log line
# and audit row of the request, so it must not carry text of its own.
# Only a ULID or a UUID: a free-form id could carry a card number or an e-mail address into
# every log line and audit row (found by the outside review: 16 digits were kept verbatim).
SANE_REQUEST_ID = re.compile(
    r"[0-9A-HJKMNP-TV-Z]{26}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class RequestContext:
    """Runs each HTTP request in its own request context (``X-Request-ID`` when the caller sent
    a sane one, else a new id) and returns the id as ``X-Request-ID``. Pure ASGI, so the
    context also holds while a streamed body is being sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        rid = given if SANE_REQUEST_ID.fullmatch(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = rid  # request.state.request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        with request_context(rid, channel="http"):
            await self.app(scope, receive, send_with_id)


class Health(BaseModel):
    status: str
    version: str
    kb_version: int


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="Steward",
        version=__version__,
        description="Governed, cited, audited answers from your own knowledge.",
    )
    app.state.runtime = rt
    errors.install(app)
    app.add_middleware(RequestContext)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness and the knowledge-base version this replica serves."""
        return Health(status="ok", version=__version__, kb_version=rt.store.kb_version())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat_page() -> str:
        return (TEMPLATES / "chat.html").read_text(encoding="utf-8")

    app.include_router(ask.make_router(rt.settings.policy.max_question_chars))
    app.include_router(search.make_router(rt.settings.policy.max_question_chars))
    app.include_router(admin.router)
    app.include_router(handoff.router)
    app.include_router(openai_compat.router)
    return app
