"""Sources: per registered source its documents, last sync and how long ago (lag), the last
run's failures, chunks held in quarantine, and "sync now" (operators), which runs the same sync
as ``steward ingest`` in a background thread of this server (knowledge/jobs.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from steward.identity.authz import Permission
from steward.knowledge.jobs import SyncJobs
from steward.knowledge.registry import registered
from steward.runtime import Runtime
from steward.store.models import Chunk, Document, SyncRun
from steward.web.console.render import act, back, page, rt_of, viewer

router = APIRouter(include_in_schema=False)


def ago(ts: datetime | None, now: datetime) -> str:
    if ts is None:
        return "never"
    span = now - (ts if ts.tzinfo else ts.replace(tzinfo=UTC))
    if span < timedelta(minutes=1):
        return "just now"
    if span < timedelta(hours=1):
        return f"{int(span.total_seconds() // 60)} min ago"
    if span < timedelta(days=2):
        return f"{span.total_seconds() / 3600:.1f} h ago"
    return f"{span.days} days ago"


def overview(rt: Runtime, jobs: SyncJobs) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    with rt.store.read() as s:
        held = dict(
            s.execute(
                select(Document.source_id, func.count())
                .join(Chunk, Chunk.document_id == Document.id)
                .where(Chunk.quarantined.is_(True))
                .group_by(Document.source_id)
            ).all()
        )
        last_failed = {}
        for src, failed, errors in s.execute(
            select(SyncRun.source_id, SyncRun.failed, SyncRun.errors).order_by(SyncRun.started_at)
        ).all():
            last_failed[src] = (failed, len(errors or []))
    out = []
    for r in registered(rt):
        job = jobs.get(r.id)
        failed, _errors = last_failed.get(r.id, (0, 0))
        out.append(
            {
                "id": r.id,
                "connector": r.connector,
                "documents": r.documents,
                "last_sync": r.last_sync.strftime("%Y-%m-%d %H:%M UTC") if r.last_sync else "never",
                "lag": ago(r.last_sync, now),
                "last_status": r.last_status or "—",
                "failed": failed,
                "quarantined": int(held.get(r.id, 0)),
                "job": None
                if job is None
                else {
                    "state": job.state,
                    "by": job.requested_by,
                    "started": ago(job.started_at, now),
                    "message": job.message,
                },
            }
        )
    return out


def jobs_of(request: Request) -> SyncJobs:
    jobs: SyncJobs = request.app.state.sync_jobs
    return jobs


@router.get("/console/sources")
async def sources(request: Request) -> Response:
    seen = await viewer(request, Permission.SYNC_SOURCES)
    rows = await act(seen, overview, rt_of(request), jobs_of(request))
    return page("sources.html", seen, rows=rows)


@router.post("/console/sources/{source_id}/sync")
async def sync_now(request: Request, source_id: str) -> Response:
    seen = await viewer(request, Permission.SYNC_SOURCES)
    await act(seen, jobs_of(request).start, seen.who, source_id)
    return back(f"/console/sources#source-{source_id}")
