"""``GET /metrics`` (Prometheus text format), the HTTP middleware that counts, times and traces
every request, and the gauges read from the store at scrape time.

``/metrics`` is for operators (``read-metrics``: Prometheus scrapes with an operator's bearer
token); ``STEWARD_METRICS_BIND`` also serves it unauthenticated on an address of its own, for a
scraper on a private network. What the queues, alerts, switches and ingestion look like is read
from the store when scraped (a handful of grouped queries), so every worker and replica answers
the same, whoever ran the sync or claimed the ticket.
"""

from __future__ import annotations

import atexit
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import and_, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.core.errors import ConfigError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.observability import context, metrics, tracing
from steward.runtime import Runtime
from steward.store import Store
from steward.store.models import (
    AlertEvent,
    AlertState,
    ReviewItem,
    Source,
    Switch,
    SyncRun,
    Ticket,
)
from steward.web.deps import allowed

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

WAITING_TICKETS = ("open", "claimed")  # not yet answered by a person
WAITING_REVIEWS = ("open", "claimed")  # no verdict yet
SYNCED = ("ok", "partial")  # runs that brought the source up to date
ITEM_OUTCOMES = ("added", "changed", "unchanged", "removed", "failed", "quarantined")


# ------------------------------------------------------------------ the HTTP middleware


def route_of(scope: Scope) -> str:
    """The matched route's template (``/v1/tickets/{ticket_id}``), ``other`` for a path no
    route matched: a label never holds a path someone typed."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else metrics.OTHER


class Telemetry:
    """Counts and times each HTTP request by method, route template and status, and runs it
    inside a server span whose trace id the request context (logs, audit rows) carries. Pure
    ASGI: a streamed body is timed until its last byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not metrics.enabled():
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status = 500  # what the client gets when the app fails before answering
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracing.server_span(method) as span:
            trace_id = tracing.trace_id_of(span) if span is not None else None
            try:
                with context.traced(trace_id):
                    await self.app(scope, receive, send_status)
            finally:
                route = route_of(scope)
                metrics.http_request(method, route, status, time.perf_counter() - started)
                if span is not None:
                    tracing.finish_server_span(span, method, route, status)


# ------------------------------------------------------------------ gauges from the store


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite hands back naive UTC
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


class StoreCollector:
    """Families computed from the store at scrape time: ingestion runs, items and lag per
    source, the review queues, alerts firing and switches in force."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with self.store.read() as s:
            yield from self._ingestion(s, now)
            yield from self._queues(s, now)
            yield from self._alerts(s)
            yield from self._switches(s)

    def _ingestion(self, s: Any, now: datetime) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "steward_ingest_runs",
            "Sync runs finished, by source and status.",
            labels=["source", "status"],
        )
        items = CounterMetricFamily(
            "steward_ingest_items",
            "Items seen by sync runs, by source and outcome.",
            labels=["source", "outcome"],
        )
        sums = [func.coalesce(func.sum(getattr(SyncRun, o)), 0) for o in ITEM_OUTCOMES]
        per: dict[str, list[float]] = {}
        grouped = select(SyncRun.source_id, SyncRun.status, func.count(), *sums).group_by(
            SyncRun.source_id, SyncRun.status
        )
        for source, status, count, *outcomes in s.execute(grouped):
            runs.add_metric([metrics.name(source), metrics.word(status)], float(count))
            totals = per.setdefault(metrics.name(source), [0.0] * len(ITEM_OUTCOMES))
            for i, n in enumerate(outcomes):
                totals[i] += float(n)
        for source, totals in per.items():
            for outcome, n in zip(ITEM_OUTCOMES, totals, strict=True):
                items.add_metric([source, outcome], n)
        yield runs
        yield items
        lag = GaugeMetricFamily(
            "steward_ingest_lag_seconds",
            "Seconds since the source last synced completely (ok or partial); since it was "
            "registered when it never has.",
            labels=["source"],
        )
        last = dict(
            s.execute(
                select(SyncRun.source_id, func.max(SyncRun.finished_at))
                .where(SyncRun.status.in_(SYNCED))
                .group_by(SyncRun.source_id)
            ).all()
        )
        for source, created in s.execute(select(Source.id, Source.created_at)):
            lag.add_metric([metrics.name(source)], _age(now, last.get(source) or created))
        yield lag

    def _queues(self, s: Any, now: datetime) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "steward_review_queue_depth",
            "Items waiting for a person: tickets not yet answered, review items without a verdict.",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "steward_review_queue_oldest_age_seconds",
            "Age of the oldest waiting item of the queue (0 when it is empty).",
            labels=["queue"],
        )
        for queue, model, waiting in (
            ("tickets", Ticket, WAITING_TICKETS),
            ("review", ReviewItem, WAITING_REVIEWS),
        ):
            count, first = s.execute(
                select(func.count(), func.min(model.created_at)).where(model.status.in_(waiting))
            ).one()
            depth.add_metric([queue], float(count))
            oldest.add_metric([queue], _age(now, first))
        yield depth
        yield oldest

    def _alerts(self, s: Any) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "steward_alerts_firing", "Alert rules firing now, by severity.", labels=["severity"]
        )
        rules = list(s.scalars(select(AlertState.rule).where(AlertState.state == "firing")))
        counts: dict[str, float] = {}
        if rules:
            latest = (
                select(AlertEvent.rule, func.max(AlertEvent.ts).label("ts"))
                .where(AlertEvent.rule.in_(rules))
                .group_by(AlertEvent.rule)
                .subquery()
            )
            severity = dict(
                s.execute(
                    select(AlertEvent.rule, AlertEvent.severity).join(
                        latest, and_(AlertEvent.rule == latest.c.rule, AlertEvent.ts == latest.c.ts)
                    )
                ).all()
            )
            for rule in rules:
                label = metrics.word(severity.get(rule, "unknown"))
                counts[label] = counts.get(label, 0.0) + 1
        for label, n in sorted(counts.items()):
            firing.add_metric([label], n)
        yield firing

    def _switches(self, s: Any) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "steward_switches_active",
            "Kill switches and overrides in force, by kind.",
            labels=["kind"],
        )
        grouped = (
            select(Switch.kind, func.count()).where(Switch.active.is_(True)).group_by(Switch.kind)
        )
        for kind, n in s.execute(grouped):
            active.add_metric([metrics.word(kind)], float(n))
        yield active


def scrape_registry(store: Store) -> CollectorRegistry:
    """What one scrape reads: the counted families (every worker's, in multiprocess mode) and
    the gauges from the store."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.process_collector())
    registry.register(StoreCollector(store))
    return registry


# ------------------------------------------------------------------ the route and the app


router = APIRouter(tags=["ops"])


@router.get("/metrics", include_in_schema=False)
def metrics_page(
    request: Request, _who: Annotated[Principal, Depends(allowed(Permission.READ_METRICS))]
) -> Response:
    """The Prometheus text format (operators; docs/observability.md)."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, rt: Runtime) -> None:
    """Add the middleware (call it where it should sit in the stack), the route, and tracing
    as the settings say."""
    from steward import __version__

    telemetry = rt.settings.telemetry
    tracing.configure(telemetry.otlp_endpoint, telemetry.service_name, __version__)
    app.state.metrics_registry = scrape_registry(rt.store)
    app.add_middleware(Telemetry)
    app.include_router(router)
    if metrics.multiprocess_dir() is not None:
        # A worker that exits drops its live-gauge files; its counters stay counted.
        atexit.register(metrics.mark_dead, os.getpid())


# ------------------------------------------------------------------ steward serve


def prepare_multiprocess(home: Path) -> Path:
    """A fresh directory for the workers' metric files under the data home, emptied at start
    (files of an earlier run would be counted again), and named in the environment the
    workers inherit: prometheus-client picks its multiprocess mode when it is imported."""
    path = home / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True)
    os.environ[metrics.MULTIPROC_ENV] = str(path)
    return path


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as a host and a port number."""
    host, _, port = bind.strip().rpartition(":")
    if not port.isdigit() or int(port) > 65535 or not host:
        raise ConfigError(
            f"STEWARD_METRICS_BIND is {bind[:80]!r}: write HOST:PORT, e.g. 127.0.0.1:9464."
        )
    return host.strip("[]"), int(port)


def serve_unauthenticated(bind: str, store: Store) -> WSGIServer:
    """Serve the same scrape without authentication on ``bind`` (``STEWARD_METRICS_BIND``), in
    a daemon thread of this process; the server's ``server_address`` is where it listens."""
    from prometheus_client import start_http_server

    host, port = parse_bind(bind)
    try:
        server, _thread = start_http_server(port, addr=host, registry=scrape_registry(store))
    except OSError as exc:
        raise ConfigError(f"STEWARD_METRICS_BIND: cannot listen on {bind}: {exc.strerror}") from exc
    return server


def url_of(server: WSGIServer) -> str:
    """Where :func:`serve_unauthenticated`'s server answers."""
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else host
    return f"http://{name}:{port}/metrics"
