"""The dashboard: the six metrics against their targets, a trend for each, adoption; per center
and period. The numbers are :func:`steward.operations.report.report`'s, the same as
``steward report --json`` and ``GET /v1/report``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from steward.identity.authz import Permission
from steward.operations import report as ops_report
from steward.runtime import Runtime
from steward.store.models import Center
from steward.web.console.charts import chart
from steward.web.console.render import PageError, act, page, rt_of, viewer

router = APIRouter(include_in_schema=False)
PERIODS = {"7d": "7 days", "30d": "30 days", "90d": "90 days"}
ADOPTION = ("active_askers_7d", "active_askers_30d", "active_askers_90d", "returning_askers")
EXTRA = ("deflection", "questions")
STATUS_WORDS = {"green": "On target", "amber": "Near target", "red": "Off target"}


def status_words(status: str | None, value: float | None) -> str:
    """The status in words beside its colour (colour alone is not enough to read it)."""
    if value is None:
        return "No data"
    return STATUS_WORDS.get(status or "", "No target")


fmt = ops_report.shown


def target_text(goal: dict[str, Any] | None, unit: str) -> str:
    if not goal:
        return ""
    return f"target {goal.get('comparison', '')} {fmt(goal.get('target'), unit)}"


def centers(rt: Runtime) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(Center.id).order_by(Center.id)))


def metrics(rt: Runtime, center: str | None, since: timedelta) -> dict[str, Any]:
    """Everything the page shows, computed in one worker thread."""
    data = ops_report.report(rt, center=center, since=since)
    cards = []
    for name in (*ops_report.SIX, *EXTRA):
        label, meaning, unit = ops_report.METRICS[name]
        status = data.get("status", {}).get(name)
        trend = ops_report.series(rt, metric=name, center=center, since=since, bucket="day")
        cards.append(
            {
                "name": name,
                "label": label,
                "meaning": meaning,
                "value": fmt(data.get(name), unit),
                "status": status or "none",
                "status_text": status_words(status, data.get(name)),
                "target": target_text(data.get("targets", {}).get(name), unit),
                "chart": chart(trend),
            }
        )
    adoption = [
        {
            "label": ops_report.METRICS[n][0],
            "meaning": ops_report.METRICS[n][1],
            "value": fmt(data.get(n), "count"),
        }
        for n in ADOPTION
    ]
    return {"cards": cards, "adoption": adoption, "questions": data.get("questions")}


@router.get("/console")
async def dashboard(request: Request, center: str = "", period: str = "30d") -> Response:
    seen = await viewer(request, Permission.VIEW_REPORTS)
    rt = rt_of(request)
    if period not in PERIODS:
        raise PageError(400, f"Unknown period; use one of: {', '.join(PERIODS)}.", seen)
    known = await act(seen, centers, rt)
    if center and center not in known:
        raise PageError(400, "Unknown center; pick one from the list.", seen)
    since = ops_report.parse_since(period)
    data = await act(seen, metrics, rt, center or None, since)
    return page(
        "dashboard.html",
        seen,
        centers=known,
        center=center,
        periods=PERIODS,
        period=period,
        **data,
    )
