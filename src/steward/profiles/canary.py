"""A canary's live figures beside the active version's, and the guard that ends it.

A canary (profiles/registry.py ``set_canary``) sends a share of a scope's conversations to a
candidate version. Here, from the audit rows since it started (each names its version): per
version the requests, actions, errors, latency, answers reviewers found wrong, and requests
whose personal-data check failed (the guard failed closed: a leak it could not rule out).
:func:`guard` ends every canary whose candidate crosses a limit (STEWARD_CANARY_*); it runs in
the server every STEWARD_CANARY_CHECK_S seconds and with `steward profile canary-check`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from steward.core import channels
from steward.core.periodic import Periodic
from steward.identity.authz import Permission
from steward.store.models import AuditRecord, ProfileActivation, ReviewItem

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

log = logging.getLogger(__name__)
FAIL_CLOSED = "guard.fail-closed"  # the personal-data check failed: nothing was sent or shown
MAX_ROWS = 200_000


def _figures(rows: list[Any], wrong: set[str]) -> dict[str, Any]:
    n = len(rows)
    actions: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        actions[r.action] += 1
    latencies = [
        float(total)
        for r in rows
        if isinstance(r.latency_ms, dict)
        and isinstance(total := r.latency_ms.get("total"), int | float)
    ]
    return {
        "requests": n,
        "answered": actions["answer"],
        "abstained": actions["abstain"],
        "escalated": actions["escalate"],
        "refused": actions["refuse"],
        "errors": actions["error"],
        "error_rate": round(actions["error"] / n, 4) if n else None,
        "escalation_rate": round(actions["escalate"] / n, 4) if n else None,
        "guard_failures": sum(1 for r in rows if (r.reason or "").startswith(FAIL_CLOSED)),
        "wrong_verdicts": sum(1 for r in rows if r.id in wrong),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
    }


def live(rt: Runtime, scope: str) -> dict[str, Any] | None:
    """Both versions' figures since the scope's canary started; None without a canary."""
    with rt.store.read() as s:
        act = s.get(ProfileActivation, scope)
        if act is None or act.canary_version is None or act.canary_since is None:
            return None
        versions = (act.version, act.canary_version)
        since = act.canary_since
        own = set(s.scalars(select(ProfileActivation.scope)))
        q = (
            select(
                AuditRecord.id,
                AuditRecord.center,
                AuditRecord.action,
                AuditRecord.reason,
                AuditRecord.settings,
                AuditRecord.latency_ms,
            )
            .where(
                AuditRecord.kind == "question",
                AuditRecord.ts >= since,
                AuditRecord.channel.not_in(sorted(channels.OFFLINE)),
            )
            .order_by(AuditRecord.seq.desc())
            .limit(MAX_ROWS)
        )
        if scope != "*":
            q = q.where(AuditRecord.center == scope)
        rows = [r for r in s.execute(q) if scope != "*" or r.center is None or r.center not in own]
        wrong = set(
            s.scalars(
                select(ReviewItem.audit_id).where(
                    ReviewItem.audit_id.in_([r.id for r in rows]), ReviewItem.verdict == "wrong"
                )
            )
        )
    by_version: dict[int, list[Any]] = {v: [] for v in versions}
    for r in rows:
        v = (r.settings or {}).get("profile")
        if v in by_version:
            by_version[v].append(r)
    since_utc = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    return {
        "scope": scope,
        "since": since_utc.isoformat(),
        "percent": act.canary_percent,
        "active": {"version": versions[0], **_figures(by_version[versions[0]], wrong)},
        "canary": {"version": versions[1], **_figures(by_version[versions[1]], wrong)},
    }


def side_by_side(rt: Runtime, who: Principal) -> list[dict[str, Any]]:
    """Every running canary's live figures (reviewers and above)."""
    rt.authz.authorize(who, Permission.READ_PROFILES, "profiles")
    with rt.store.read() as s:
        scopes = list(
            s.scalars(
                select(ProfileActivation.scope).where(ProfileActivation.canary_version.is_not(None))
            )
        )
    return [f for f in (live(rt, scope) for scope in sorted(scopes)) if f is not None]


def crossed(rt: Runtime, figures: dict[str, Any]) -> dict[str, Any] | None:
    """What the canary's figures cross, or None (too few requests yet to judge the error rate
    counts as none; a failed personal-data check or a wrong verdict needs no sample)."""
    ctl = rt.settings.control
    c = figures["canary"]
    why: dict[str, Any] = {}
    if c["guard_failures"] > 0:
        why["guard_failures"] = c["guard_failures"]
    if c["wrong_verdicts"] > ctl.canary_max_wrong_verdicts:
        why["wrong_verdicts"] = c["wrong_verdicts"]
    if (
        c["requests"] >= ctl.canary_min_requests
        and (c["error_rate"] or 0) > ctl.canary_max_error_rate
    ):
        why["error_rate"] = c["error_rate"]
    return {**why, "requests": c["requests"]} if why else None


def guard(rt: Runtime) -> list[dict[str, Any]]:
    """End every canary whose candidate crossed a limit; returns what was ended and why."""
    ended: list[dict[str, Any]] = []
    with rt.store.read() as s:
        scopes = list(
            s.scalars(
                select(ProfileActivation.scope).where(ProfileActivation.canary_version.is_not(None))
            )
        )
    for scope in scopes:
        figures = live(rt, scope)
        if figures is None:
            continue
        why = crossed(rt, figures)
        version = int(figures["canary"]["version"])
        if why is not None and rt.profiles.stop_canary(scope, version, why):
            ended.append({"scope": scope, "version": version, **why})
    return ended


def guard_thread(rt: Runtime, interval_s: int) -> Periodic:
    """The server's canary guard: every ``interval_s`` seconds on every replica (ending a
    canary is idempotent: the first replica to see it cross ends it, the others find it
    ended)."""
    return Periodic("canary-guard", interval_s, lambda: guard(rt))
