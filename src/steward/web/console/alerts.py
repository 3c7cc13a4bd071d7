"""Alerts and switches: the alert rules with their states and latest events (operations/
alerts.py), the switches in force (operations/switches.py), and the forms that stop and resume
auto-answers for a center or everyone and clear a switch. Each change is the SwitchBoard's own
method, which authorizes it, masks the reason and audits it with who and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.identity.authz import Permission
from steward.operations.switches import STOP_ANSWERS
from steward.runtime import Runtime
from steward.web.console.dashboard import centers
from steward.web.console.render import act, back, form, page, rt_of, viewer

router = APIRouter(include_in_schema=False)


def overview(rt: Runtime) -> dict[str, Any]:
    alerts = rt.alerts.overview(limit=20)
    switches = [
        {**a.as_dict(), "scope": a.scope()}
        for a in sorted(rt.switches.active(), key=lambda a: a.created_at, reverse=True)
    ]
    stopped = {a["center"] for a in switches if a["kind"] == STOP_ANSWERS and not a["intent"]}
    return {
        "rules": alerts["rules"],
        "events": alerts["events"],
        "switches": switches,
        "stopped": stopped,
        "centers": centers(rt),
    }


@router.get("/console/alerts")
async def alerts_page(request: Request) -> Response:
    seen = await viewer(request, Permission.VIEW_ALERTS)
    data = await act(seen, overview, rt_of(request))
    return page("alerts.html", seen, **data)


@router.post("/console/alerts/stop-answers")
async def stop_answers(request: Request) -> Response:
    seen = await viewer(request, Permission.MANAGE_SWITCHES)
    fields = await form(request)
    rt = rt_of(request)
    await act(
        seen,
        rt.switches.set,
        seen.who,
        STOP_ANSWERS,
        center=fields.get("center") or None,
        reason=fields.get("reason", ""),
    )
    return back("/console/alerts")


@router.post("/console/alerts/resume")
async def resume(request: Request) -> Response:
    seen = await viewer(request, Permission.MANAGE_SWITCHES)
    fields = await form(request)
    rt = rt_of(request)
    await act(
        seen,
        rt.switches.resume,
        seen.who,
        center=fields.get("center") or None,
        reason=fields.get("reason", ""),
    )
    return back("/console/alerts")


@router.post("/console/alerts/switches/{switch_id}/clear")
async def clear(request: Request, switch_id: str) -> Response:
    seen = await viewer(request, Permission.MANAGE_SWITCHES)
    fields = await form(request)
    rt = rt_of(request)
    await act(seen, rt.switches.clear, seen.who, switch_id, reason=fields.get("reason", ""))
    return back("/console/alerts")
