"""Assistant profiles: what answers in each scope (with its canary, and **Roll back**), the
running canaries' live figures side by side, every version, and the latest evaluation runs and
gates; one version's page has its settings, drift, its diff against the version every center
answers with, its gate runs, and the forms that approve and activate it.

Every action is the profile registry's own method (profiles/registry.py), the one the API and
CLI call, which authorizes it, masks the reason and audits it; a refusal (the author approving
their own version, no passing gate, no approval) is its message on the console's error page.
Reviewers read and approve; operators activate and roll back; admins may override the gate
with a reason."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from steward.core.errors import InputError, NotFoundError
from steward.evals.runs import MAX_LIST
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.profiles.canary import side_by_side
from steward.profiles.registry import EVERYWHERE
from steward.runtime import Runtime
from steward.store.models import EvalRun, ProfileApproval
from steward.web.console.dashboard import centers
from steward.web.console.render import Viewer, act, back, form, page, rt_of, viewer
from steward.web.placeholders import shown_to

router = APIRouter(include_in_schema=False)
RUNS = 20  # the latest runs on the overview
REASON_CHARS = 500
# The canary figures shown side by side, in order, with their row labels.
FIGURES = (
    ("requests", "Requests"),
    ("answered", "Answered"),
    ("abstained", "Abstained"),
    ("escalated", "Escalated"),
    ("refused", "Refused"),
    ("errors", "Errors"),
    ("error_rate", "Error rate"),
    ("escalation_rate", "Escalation rate"),
    ("guard_failures", "Personal-data check failures"),
    ("wrong_verdicts", "Answers reviewers marked wrong"),
    ("latency_ms_p50", "Latency p50 (ms)"),
    ("latency_ms_p95", "Latency p95 (ms)"),
)


def _when(ts: str | None) -> str:
    return ts[:16].replace("T", " ") if ts else ""


def _run(run: EvalRun) -> dict[str, Any]:
    """One run as listed: ids, counts and verdicts only (a stored run holds no question text)."""
    f = run.figures or {}
    c = run.comparison or {}
    changes = c.get("changes") or {}
    return {
        "id": run.id,
        "kind": run.kind,
        "profile_version": run.profile_version,
        "set_name": run.set_name,
        "questions": run.questions,
        "accuracy": f.get("accuracy"),
        "leaks": f.get("leaks"),
        "verdict": run.verdict or "",
        "baseline": run.baseline_run_id or "",
        "fixed": len(changes.get("fixed") or []),
        "broken": len(changes.get("broken") or []),
        "still_wrong": len(changes.get("still_wrong") or []),
        "failures": [str(x) for x in c.get("failures") or []],
        "author": run.author,
        "created_at": _when(run.created_at.isoformat()),
    }


def _may(rt: Runtime, who: Principal) -> dict[str, bool]:
    """Which forms to offer (the registry checks again, and audits a refusal)."""
    return {
        "approve": rt.authz.permits(who, Permission.APPROVE_PROFILES),
        "manage": rt.authz.permits(who, Permission.MANAGE_PROFILES),
        "override": rt.authz.permits(who, Permission.OVERRIDE_PROMOTION),
    }


def overview(rt: Runtime, who: Principal) -> dict[str, Any]:
    """Everything the profiles page shows, read through the registry (which authorizes)."""
    scopes = rt.profiles.scopes(who)
    versions = [v.as_dict() for v in rt.profiles.versions(who)]
    labels = {v["version"]: v["label"] for v in versions}
    for v in versions:
        v["created_at"] = _when(v["created_at"])
    canaries = side_by_side(rt, who)
    for c in canaries:
        c["since"] = _when(c["since"])
    return {
        "scopes": [{"scope": k, **v} for k, v in scopes.items()],
        "labels": labels,
        "versions": versions,
        "canaries": canaries,
        "figures": FIGURES,
        "runs": [_run(r) for r in rt.evals.runs(who, RUNS)],
        "everywhere": EVERYWHERE,
        "may": _may(rt, who),
    }


def _number(text: str) -> int:
    if text.isascii() and text.isdigit() and 0 < len(text) <= 7:
        return int(text)
    raise NotFoundError("No such profile version: the profiles page lists them.")


def _value(value: Any) -> str:
    return "(not set)" if value is None else json.dumps(value, sort_keys=True)


def _approvals(rt: Runtime, who: Principal, version: int) -> list[dict[str, Any]]:
    """Approvals given for ``version`` (the viewer was authorized to read it by ``show``)."""
    with rt.store.read() as s:
        rows = s.scalars(
            select(ProfileApproval)
            .where(ProfileApproval.version == version)
            .order_by(ProfileApproval.created_at.desc())
        ).all()
        return [
            {
                "scope": a.scope,
                "approver": a.approver,
                "gate": a.gate_run_id or "",
                "note": shown_to(who, a.note),
                "created_at": _when(a.created_at.isoformat()),
                "used": a.used_at is not None,
            }
            for a in rows
        ]


def version_page(rt: Runtime, who: Principal, version: int) -> dict[str, Any]:
    shown = rt.profiles.show(who, version)
    everywhere = rt.profiles.scopes(who)[EVERYWHERE]["version"]
    info = next(v for v in rt.profiles.versions(who) if v.version == version)
    diff = []
    if version != everywhere:
        for row in rt.profiles.diff(who, everywhere, version):
            diff.append(
                {
                    "name": row.get("setting") or row.get("file"),
                    "what": "setting" if "setting" in row else "file",
                    "before": _value(row.get(str(everywhere))),
                    "after": _value(row.get(str(version))),
                }
            )
    gates = [
        _run(r)
        for r in rt.evals.runs(who, MAX_LIST)
        if r.kind == "gate" and r.profile_version == version
    ]
    passing = rt.evals.passing_gate(version)
    return {
        "v": {
            **shown,
            "note": shown_to(who, shown["note"]),
            "created_at": _when(shown["created_at"]),
            "published_at": _when(shown["published_at"]),
            "body_text": json.dumps(shown["body"], indent=2, sort_keys=True),
            "active_in": list(info.active_in),
            "canary_in": list(info.canary_in),
        },
        "everywhere_version": everywhere,
        "diff": diff,
        "gates": gates,
        "passing_gate": passing.id if passing is not None else None,
        "mine": shown["author"] == who.user_id,
        "approvals": _approvals(rt, who, version),
        "centers": centers(rt),
        "everywhere": EVERYWHERE,
        "may": _may(rt, who),
    }


@router.get("/console/profiles")
async def profiles_page(request: Request) -> Response:
    seen = await viewer(request, Permission.READ_PROFILES)
    data = await act(seen, overview, rt_of(request), seen.who)
    return page("profiles.html", seen, **data)


@router.get("/console/profiles/{version}")
async def one_version(request: Request, version: str) -> Response:
    seen = await viewer(request, Permission.READ_PROFILES)
    number = await act(seen, _number, version)
    data = await act(seen, version_page, rt_of(request), seen.who, number)
    return page("profile.html", seen, **data)


def _reason(fields: dict[str, str], name: str, what: str) -> str:
    text = fields.get(name, "").strip()[:REASON_CHARS]
    if not text:
        raise InputError(f"Give a reason for the {what}: it goes on the record.")
    return text


@router.post("/console/profiles/rollback")
async def rollback(request: Request) -> Response:
    seen = await viewer(request, Permission.MANAGE_PROFILES)
    fields = await form(request)
    reason = await act(seen, _reason, fields, "reason", "rollback")
    rt = rt_of(request)
    scope = fields.get("scope") or EVERYWHERE
    await act(seen, rt.profiles.rollback, seen.who, scope=scope, reason=reason)
    return back("/console/profiles")


async def _version_action(
    request: Request, version: str, permission: Permission
) -> tuple[Viewer, int, dict[str, str]]:
    seen = await viewer(request, permission)
    number: int = await act(seen, _number, version)
    return seen, number, await form(request)


@router.post("/console/profiles/{version}/approve")
async def approve(request: Request, version: str) -> Response:
    seen, number, fields = await _version_action(request, version, Permission.APPROVE_PROFILES)
    rt = rt_of(request)
    await act(
        seen,
        rt.profiles.approve,
        seen.who,
        number,
        scope=fields.get("scope") or EVERYWHERE,
        note=fields.get("note", "")[:2000],
    )
    return back(f"/console/profiles/{number}")


@router.post("/console/profiles/{version}/activate")
async def activate(request: Request, version: str) -> Response:
    seen, number, fields = await _version_action(request, version, Permission.MANAGE_PROFILES)
    rt = rt_of(request)
    # An empty override field is no override: the activation needs its approval.
    override = fields.get("override", "").strip()[:REASON_CHARS] or None
    await act(
        seen,
        rt.profiles.activate,
        seen.who,
        number,
        scope=fields.get("scope") or EVERYWHERE,
        override=override,
    )
    return back(f"/console/profiles/{number}")
