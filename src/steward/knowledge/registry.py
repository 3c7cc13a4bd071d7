"""The registered sources: what each holds and when it last synced, and how an operator takes
a mistaken one out of the store.

A source is registered by its first sync (knowledge/pipeline.py). Removing one deletes its
documents with their chunks and index rows in one transaction, moves the knowledge-base version
(cached answers built on them are no longer served) and records a ``source-removed`` event. The
encrypted vault values its records kept go too. The
removal does not touch the sources file: a source still listed there comes back on the next sync,
and the command says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from steward import audit
from steward.core.errors import NotFoundError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.store.models import Document, Source, SyncRun, VaultEntry


@dataclass(frozen=True)
class Registered:
    id: str
    connector: str
    documents: int
    registered_at: datetime
    last_sync: datetime | None
    last_status: str | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("registered_at", "last_sync"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def registered(rt: Runtime) -> list[Registered]:
    """Every registered source with its document count and latest sync, by id."""
    with rt.store.read() as s:
        counts = dict(
            s.execute(select(Document.source_id, func.count()).group_by(Document.source_id)).all()
        )
        latest = (
            select(SyncRun.source_id, func.max(SyncRun.started_at).label("started"))
            .group_by(SyncRun.source_id)
            .subquery()
        )
        runs = {
            r.source_id: r
            for r in s.scalars(
                select(SyncRun).join(
                    latest,
                    (SyncRun.source_id == latest.c.source_id)
                    & (SyncRun.started_at == latest.c.started),
                )
            )
        }
        sources = list(s.scalars(select(Source).order_by(Source.id)))
    return [
        Registered(
            id=src.id,
            connector=src.kind,
            documents=int(counts.get(src.id, 0)),
            registered_at=src.created_at,
            last_sync=runs[src.id].finished_at or runs[src.id].started_at
            if src.id in runs
            else None,
            last_status=runs[src.id].status if src.id in runs else None,
        )
        for src in sources
    ]


def remove(rt: Runtime, source_id: str, who: Principal, *, reason: str) -> tuple[int, str]:
    """Unregister ``source_id``: its documents leave the store. Returns (documents removed,
    audit id)."""
    rt.authz.authorize(who, Permission.MANAGE_SOURCES, f"source:{source_id}")
    reason = rt.masker.mask(reason.strip()).text if reason.strip() else ""
    with rt.store.write() as (s, _):
        if s.get(Source, source_id) is None:
            known = ", ".join(s.scalars(select(Source.id).order_by(Source.id))) or "none"
            raise NotFoundError(f"No source {source_id[:64]!r}; registered sources: {known}.")
        pks = list(s.scalars(select(Document.id).where(Document.source_id == source_id)))
        removed = rt.chunks.delete_documents(s, pks)
        # The encrypted raw values its records kept (declared personal fields) go with them.
        s.execute(delete(VaultEntry).where(VaultEntry.source_id == source_id))
        s.execute(delete(Source).where(Source.id == source_id))
        audit_id = audit.record(rt.store, _removed(who, source_id, removed, reason), session=s)
    return removed, audit_id


def _removed(who: Principal, source_id: str, documents: int, reason: str) -> audit.AuditEvent:
    return audit.AuditEvent(
        audit.Kind.SOURCE_REMOVED,
        actor=who.user_id,
        target=f"source:{source_id}",
        decision="remove",
        payload={"source_id": source_id, "documents": documents},
        reason=reason or "source removed by an operator",
        channel="admin",
        groups=tuple(who.groups),
        center=who.center,
        summary=f"[remove source {source_id}: {documents} documents]",
    )
