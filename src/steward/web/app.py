"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from ulid import ULID

from steward import __version__
from steward.runtime import Runtime
from steward.web import admin, ask, errors, handoff, openai_compat, search

TEMPLATES = Path(__file__).parent / "templates"


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

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = str(ULID())
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness and the knowledge-base version this replica serves."""
        return Health(status="ok", version=__version__, kb_version=rt.store.kb_version())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat_page() -> str:
        return (TEMPLATES / "chat.html").read_text(encoding="utf-8")

    app.include_router(ask.make_router(rt.settings.max_question_chars))
    app.include_router(search.make_router(rt.settings.max_question_chars))
    app.include_router(admin.router)
    app.include_router(handoff.router)
    app.include_router(openai_compat.router)
    return app
