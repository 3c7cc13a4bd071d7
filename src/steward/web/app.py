"""The FastAPI application."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward import __version__
from steward.audit import checkpoint
from steward.identity.limits import RateLimiter
from steward.observability.context import new_request_id, request_context
from steward.runtime import Runtime
from steward.web import (
    actions,
    admin,
    ask,
    console,
    conversations,
    costs,
    errors,
    evals,
    handoff,
    learn,
    openai_compat,
    profiles,
    records,
    reports,
    scim,
    search,
    security,
    session,
    switches,
)
from steward.web.limits import BodyLimit, RepeatedKeys
from steward.web.metrics import install as install_telemetry

TEMPLATES = Path(__file__).parent / "templates"


class RequestContext:
    """Runs each HTTP request in its own request context with a new id, returned as
    ``X-Request-ID``. Pure ASGI, so the context also holds while a streamed body is being sent.

    A caller's own X-Request-ID is never adopted: it would go into every log line and audit
    row of the request, and the outside review showed both ways that goes wrong: a ULID- or
    UUID-shaped id can carry a card number's digits, and two askers could share one id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
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


def _lifespan(rt: Runtime) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While the server runs, one thread signs the audit chain head every
    STEWARD_AUDIT_CHECKPOINT_INTERVAL_S seconds (audit/checkpoint.py); 0 turns it off. Another
    evaluates the alert rules every STEWARD_ALERTS_INTERVAL_S seconds (operations/alerts.py;
    one replica at a time holds the lease); 0 turns it off. A third checks running canaries every
    STEWARD_CANARY_CHECK_S seconds (profiles/canary.py). Where tools are configured, a fourth
    expires overdue actions and resumes interrupted ones every STEWARD_ACTIONS_SWEEP_S seconds
    (actions/service.py). A fifth checks the rollout's guard metrics every
    STEWARD_ROLLOUT_INTERVAL_S seconds and closes a breached wave (sponsor/rollout.py)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from steward.actions.service import sweeper as action_sweeper
        from steward.operations.alerts import evaluator as alert_evaluator
        from steward.profiles import canary
        from steward.sponsor.rollout import evaluator as rollout_evaluator

        rt.rollout.plan()  # a bad rollout file stops the start with its message
        every = rt.settings.control.alerts_interval_s
        evaluator = alert_evaluator(rt.alerts, every).start() if every > 0 else None
        check = rt.settings.control.canary_check_s
        canaries = canary.guard_thread(rt, check).start() if check > 0 else None
        # A bad tools file or action policy stops the start with its message, not a later call.
        tools = rt.actions.registry.tools and rt.actions.policy
        sweep = rt.settings.actions.sweep_s
        sweeping = action_sweeper(rt, sweep).start() if tools and sweep > 0 else None
        waves = rt.settings.sponsor.rollout_interval_s
        rollouts = rollout_evaluator(rt.rollout, waves).start() if waves > 0 else None
        try:
            if rt.settings.audit.checkpoint_interval_s <= 0:
                yield
                return
            writer = checkpoint.writer(rt.store, rt.settings).start()
            try:
                yield
            finally:
                writer.stop()
        finally:
            if evaluator is not None:
                evaluator.stop()
            if canaries is not None:
                canaries.stop()
            if sweeping is not None:
                sweeping.stop()
            if rollouts is not None:
                rollouts.stop()

    return lifespan


def app_from_environment() -> FastAPI:
    """The app of one worker of ``steward serve --workers N``: its own runtime, built from the
    same environment (settings, data home) as every other worker."""
    rt = Runtime()
    rt.warm()
    app = create_app(rt)
    # The parent holds the socket: from here on this worker's connections wait in its backlog
    # rather than being refused, so this line is when the worker serves.
    print(f"Worker {os.getpid()} is ready.", flush=True)
    return app


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="Steward",
        version=__version__,
        description="Governed, cited, audited answers from your own knowledge.",
        lifespan=_lifespan(rt),
        # FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN: an offline
        # deployment would get blank pages. /docs is our own page (security.docs_page).
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = rt
    app.state.limiter = RateLimiter(rt.store, rt.settings.limits)
    errors.install(app)
    # Inside BodyLimit, so it never reads more than the limit: a JSON body that repeats a key.
    app.add_middleware(RepeatedKeys)
    # Added first, so it runs inside RequestContext (its 413 carries the request id) and
    # before routing, body parsing and authentication.
    app.add_middleware(BodyLimit, max_bytes=rt.settings.limits.max_body_bytes)
    # Metrics and traces: inside RequestContext (the span's trace id joins the request's
    # context), outside BodyLimit (a 413 is counted too). Also adds /metrics.
    install_telemetry(app, rt)
    app.add_middleware(RequestContext)
    # Outermost, so every response gets them, the 413 of an oversized body included (a 500
    # is sent from outside every middleware: errors.py adds them to it).
    app.add_middleware(security.SecurityHeaders)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness and the knowledge-base version this replica serves."""
        return Health(status="ok", version=__version__, kb_version=rt.store.kb_version())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat_page() -> str:
        return security.chat_page()

    # /redoc, where FastAPI would serve ReDoc, is the same offline page.
    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    def api_reference() -> str:
        return security.docs_page()

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        return security.static_file(name)

    app.include_router(ask.make_router(rt.settings.policy.max_question_chars))
    app.include_router(search.make_router(rt.settings.policy.max_question_chars))
    app.include_router(conversations.make_router(rt.settings.policy.max_question_chars))
    app.include_router(admin.router)
    app.include_router(handoff.router)
    app.include_router(openai_compat.router)
    app.include_router(scim.router)
    app.include_router(reports.router)
    app.include_router(costs.router)
    app.include_router(switches.router)
    app.include_router(evals.router)
    app.include_router(learn.router)
    app.include_router(profiles.router)
    app.include_router(actions.router)
    app.include_router(records.router)
    app.include_router(session.router)
    console.install(app, rt)
    return app
