"""The operator console: server-rendered pages on the same app as the API (Jinja2 templates,
one CSS file, SVG charts drawn on the server; no script, so the page CSP allows nothing inline).

Sign-in is the API's own identity (an API key or an OIDC ID token) turned into the session
cookie of web/session.py; each page checks its permission (reviewers: the review queue and
assistant profiles; operators: everything), and each form posts the session's CSRF token.
"""

from __future__ import annotations

from fastapi import FastAPI

from steward.knowledge.jobs import SyncJobs
from steward.runtime import Runtime
from steward.web.console import (
    alerts,
    audit,
    dashboard,
    economics,
    profiles,
    readiness,
    records,
    review,
    rollout,
    signin,
    sources,
)
from steward.web.console.render import install_handlers


def install(app: FastAPI, rt: Runtime) -> None:
    """Add the console's pages and its refusal pages to ``app``."""
    app.state.sync_jobs = SyncJobs(rt)
    install_handlers(app)
    for module in (
        signin,
        dashboard,
        review,
        audit,
        sources,
        alerts,
        profiles,
        economics,
        rollout,
        records,
        readiness,
    ):
        app.include_router(module.router)
