"""Use cases and ROI: the portfolio ranked (sponsor/usecases.py) and the ROI and TCO accounts
(sponsor/roi.py) of the files named by ``STEWARD_USECASES_FILE`` and ``STEWARD_ROI_FILE``
(default HOME/usecases.yaml and HOME/roi.yaml). Figures only, never personal data: sponsors
(permission ``view-sponsor``) see it, as operators do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.core.errors import InputError
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.web.console.render import act, page, rt_of, viewer

router = APIRouter(include_in_schema=False)


def files(rt: Runtime) -> tuple[Path, Path]:
    sp = rt.settings.sponsor
    home = rt.settings.home
    return sp.usecases_file or home / "usecases.yaml", sp.roi_file or home / "roi.yaml"


def _section(fn: Any, rt: Runtime, who: Principal, path: Path, setting: str) -> dict[str, Any]:
    """One file's figures, or why there are none (no file; a mistake in it, with its fix)."""
    out: dict[str, Any] = {"missing": None, "error": None, "data": None}
    # Where the server's files lie is for the people who run it, not for a sponsor.
    operator = rt.authz.permits(who, Permission.MANAGE_ROLLOUT)
    if not path.is_file():
        where = f"at {path}: write it or set {setting}" if operator else "yet: an operator adds it"
        out["missing"] = f"No file {where} (docs/usecases-roi.md)."
        return out
    try:
        out["data"] = fn(rt, who, path)
    except InputError as exc:
        out["error"] = exc.message if operator else "The file has a mistake; an operator fixes it."
    return out


def overview(rt: Runtime, who: Principal) -> dict[str, Any]:
    from steward.sponsor.roi import analyse
    from steward.sponsor.usecases import score

    usecases, roi = files(rt)
    return {
        "usecases": _section(score, rt, who, usecases, "STEWARD_USECASES_FILE"),
        "roi": _section(analyse, rt, who, roi, "STEWARD_ROI_FILE"),
    }


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def usd(value: float) -> str:
    sign = "-" if value < 0 else ""
    v = abs(value)
    return f"{sign}${v:,.2f}" if v >= 1 or v == 0 else f"{sign}${v:,.6f}"


@router.get("/console/economics")
async def economics_page(request: Request) -> Response:
    seen = await viewer(request, Permission.VIEW_SPONSOR)
    data = await act(seen, overview, rt_of(request), seen.who)
    return page("economics.html", seen, pct=pct, usd=usd, **data)
