"""Data readiness: the latest readiness run per source and per use case, the change against the
run before it, the trend of the last runs, and the findings behind the figures (document ids and
values, never text). Figures only, never personal data: sponsors (permission ``view-sponsor``)
see it, as operators do (sponsor/readiness/, docs/readiness.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.web.console.render import act, page, rt_of, viewer

router = APIRouter(include_in_schema=False)
# (figure, column title, how it is shown: n count, % share, f decimal)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("items", "Items", "n"),
    ("usable_share", "Usable", "%"),
    ("exact_duplicates", "Exact duplicates", "n"),
    ("near_duplicates", "Near duplicates", "n"),
    ("missing_owner", "No owner", "n"),
    ("missing_date", "No date", "n"),
    ("missing_acl", "No access list", "n"),
    ("stale", "Stale", "n"),
    ("superseded", "Superseded", "n"),
    ("superseded_citations", "Answers citing superseded", "n"),
    ("contradictions", "Contradictions", "n"),
    ("injections", "Planted instructions", "n"),
    ("pii_per_1k_chars", "PII per 1,000 chars", "f"),
    ("pii_per_item", "PII per item", "f"),
    ("acl_coverage", "Access-list coverage", "%"),
)


def shown(value: Any, how: str) -> str:
    if value is None:
        return "n/a"
    if how == "%":
        return f"{value * 100:.1f}%"
    return f"{value:.2f}" if how == "f" else str(value)


def delta(value: Any, how: str) -> str:
    """The change against the previous run ('' when none)."""
    if not value:
        return ""
    if how == "%":
        return f"{value * 100:+.1f} pts"
    return f"{value:+.2f}" if how == "f" else f"{value:+g}"


def overview(rt: Runtime, who: Principal) -> dict[str, Any]:
    from steward.sponsor.readiness import findings, latest, trend

    report = latest(rt, who)
    tables = []
    if report is not None:
        fig, change = report["figures"], report["change"]
        every = {**fig["sources"], "All sources": fig["totals"]}
        moved = {**change["sources"], "All sources": change["totals"]}
        tables = [
            ("Per source", "sources", "Source", every, moved),
            ("Per use case", "use-cases", "Use case", fig["use_cases"], change["use_cases"]),
        ]
    return {
        "report": report,
        "tables": tables,
        "trend": trend(rt, who, 12) if report else [],
        "findings": findings(rt, who, limit=200) if report else [],
    }


@router.get("/console/readiness")
async def readiness_page(request: Request) -> Response:
    seen = await viewer(request, Permission.VIEW_SPONSOR)
    data = await act(seen, overview, rt_of(request), seen.who)
    return page("readiness.html", seen, columns=COLUMNS, shown=shown, delta=delta, **data)
