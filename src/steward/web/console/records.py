"""Records: federated records' confidence and the conflict tasks between their sources.

Records managers (``manage-records``: operators) see every conflict task; a data owner sees the
tasks naming them; both resolve them here (the same service method, permission check and audit
event as ``steward records resolve``). A source's value shows only to a viewer who may read the
item it came from. Sponsors (``view-sponsor``) see counts and confidence figures only: no key,
no value.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.web.console.render import PageError, Viewer, act, back, form, page, rt_of, viewer

router = APIRouter(include_in_schema=False)


def _overview(rt: Runtime, seen: Viewer, status: str | None) -> dict[str, Any]:
    """What this viewer may see: tasks (managers, owners) and figures (managers, sponsors)."""
    who = rt.records
    manager = rt.authz.permits(seen.who, Permission.MANAGE_RECORDS)
    sponsor = rt.authz.permits(seen.who, Permission.VIEW_SPONSOR)
    tasks = None
    if manager or who.owns_any(seen.who) or not sponsor:
        tasks = who.conflicts(seen.who, status)  # refused (audited) for anyone else
    figures = who.summary(seen.who) if manager or sponsor else None
    return {
        "tasks": [t.as_dict() for t in tasks] if tasks is not None else None,
        "figures": figures.as_dict() if figures is not None else None,
        "threshold": who.tuning.min_confidence,
        "can_resolve": tasks is not None,
    }


@router.get("/console/records")
async def records(request: Request) -> Response:
    seen = await viewer(request, None)
    status = request.query_params.get("status", "open")
    if status not in ("open", "resolved", "closed", "all"):
        raise PageError(400, "Unknown status: use open, resolved, closed or all.", seen)
    data = await act(seen, _overview, rt_of(request), seen, None if status == "all" else status)
    return page("records.html", seen, status=status, **data)


@router.post("/console/records/tasks/{task_id}/resolve")
async def resolve(request: Request, task_id: str) -> Response:
    seen = await viewer(request, None)
    fields = await form(request)
    await act(
        seen,
        rt_of(request).records.resolve,
        seen.who,
        task_id,
        source=fields.get("source") or None,
        note=fields.get("note", ""),
    )
    return back("/console/records?status=all")
