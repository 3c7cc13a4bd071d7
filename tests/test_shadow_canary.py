"""Shadow replay and canaries (profiles/shadow.py, profiles/canary.py): a replay answers logged
questions again for no one (no cache, no review flag, no ticket) and names what changed; a
canary sends a sticky share of conversations to a candidate, shows both versions' figures, and
ends by itself when reviewers find a candidate's answer wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from steward import audit
from steward.core.errors import ConflictError, ForbiddenError
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import UserSpec, create_user
from steward.pipeline.orchestrator import ask
from steward.profiles import canary
from steward.profiles.shadow import shadow
from steward.runtime import Runtime
from steward.store.models import AuditRecord, CacheEntry, EvalResult, ReviewItem
from tests.conftest import run_cli

FEE = "How much is the monthly maintenance fee?"
WIRE = "How much does a domestic wire cost?"
SWALLOW = "What is the airspeed velocity of an unladen swallow?"
FRAUD = "Someone used my card 4111 1111 1111 1111 for purchases I never made!"


def _count(rt: Runtime, model: type) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _stricter(rt: Runtime) -> int:
    ops = principal_for(rt.store, "ops")
    v = rt.profiles.create(ops, {"label": "abstains", "policy": {"answer_threshold": 0.999}})
    rt.profiles.publish(ops, v.version)
    return v.version


def test_shadow_replays_logged_questions_for_no_one_and_names_the_changes(
    kb_rt: Runtime, model_cache: Path
) -> None:
    rt = kb_rt
    cara, sam = principal_for(rt.store, "cara"), principal_for(rt.store, "sam")
    logged = [ask(rt, cara, FEE), ask(rt, sam, WIRE), ask(rt, cara, SWALLOW)]
    logged.append(ask(rt, cara, FRAUD, "api", logged[0].conversation_id))
    assert [r.action for r in logged] == ["answer", "answer", "abstain", "escalate"]
    v2 = _stricter(rt)
    cache, reviews, tickets_before = _count(rt, CacheEntry), _count(rt, ReviewItem), None
    with pytest.raises(ForbiddenError):
        shadow(rt, cara, v2, timedelta(hours=1))
    result = shadow(rt, principal_for(rt.store, "ops"), v2, timedelta(hours=1))
    assert result["questions"] == 4 and result["skipped"] == 0
    assert result["lost_answers"] == 2 and result["missed_escalations"] == 0
    assert result["same_action"] == 2  # the abstention and the hand-off stay
    # Shown to no one: nothing cached, flagged or counted; the replayed rows are on the
    # shadow channel and name the candidate.
    assert (_count(rt, CacheEntry), _count(rt, ReviewItem)) == (cache, reviews)
    del tickets_before
    with rt.store.read() as s:
        rows = list(s.scalars(select(AuditRecord).where(AuditRecord.channel == "shadow")))
        stored = list(s.scalars(select(EvalResult).where(EvalResult.run_id == result["run_id"])))
    assert len(rows) == 4 and {r.settings["profile"] for r in rows} == {v2}
    assert sorted(r.detail["change"] for r in stored) == [
        "lost-answer", "lost-answer", "same", "same",
    ]  # fmt: skip
    events = [e for e in audit.export(rt.store) if e["kind"] == "eval-run"]
    assert events[-1]["payload"]["kind"] == "shadow"
    # The CLI: the same replay, and bad input is one line and exit 2.
    home = rt.settings.home
    named = {"STEWARD_ACTOR_KEY": create_key(rt.store, "ops")}
    out = run_cli(
        "shadow", "--candidate", str(v2), "--since", "1h", "--json", home=home,
        model_cache=model_cache, extra_env=named,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert '"lost_answers": 2' in out.stdout
    bad = run_cli(
        "shadow", "--candidate", "99", home=home, model_cache=model_cache, extra_env=named
    )
    assert bad.returncode == 2 and "No profile version 99" in bad.stderr
    bad = run_cli("shadow", "--candidate", str(v2), "--since", "7 days", home=home,
                  model_cache=model_cache, extra_env=named)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_a_canary_is_sticky_shows_both_versions_and_ends_on_a_wrong_verdict(
    kb_rt: Runtime,
) -> None:
    rt = kb_rt
    create_user(rt.store, UserSpec(id="root", access="admin", groups=["all_staff"]), actor="t")
    ops, root = principal_for(rt.store, "ops"), principal_for(rt.store, "root")
    cara = principal_for(rt.store, "cara")
    v2 = rt.profiles.create(ops, {"label": "top 4", "retrieval": {"top_k": 4}}).version
    rt.profiles.publish(ops, v2)
    with pytest.raises(ConflictError, match="passing gate"):
        rt.profiles.set_canary(ops, v2, scope="north", percent=30)
    with pytest.raises(ForbiddenError):
        rt.profiles.set_canary(ops, v2, scope="north", percent=30, override="trust me")
    rt.profiles.set_canary(root, v2, scope="north", percent=50, override="pilot, gate waived")
    # Sticky: every turn of a conversation is answered by the same version; across 16
    # conversations both versions answer some.
    seen: dict[str, set[int]] = {}
    for _ in range(16):
        first = ask(rt, cara, WIRE, "api")
        conv = first.conversation_id
        again = ask(rt, cara, FEE, "api", conv)
        with rt.store.read() as s:
            for r in (first, again):
                row = s.get(AuditRecord, r.audit_id)
                assert row is not None
                seen.setdefault(conv, set()).add(row.settings["profile"])
    assert all(len(v) == 1 for v in seen.values())
    assert {next(iter(v)) for v in seen.values()} == {1, v2}
    figures = canary.side_by_side(rt, ops)
    (f,) = figures
    assert (f["scope"], f["active"]["version"], f["canary"]["version"]) == ("north", 1, v2)
    assert f["active"]["requests"] + f["canary"]["requests"] == 32
    with pytest.raises(ForbiddenError):
        canary.side_by_side(rt, cara)
    assert canary.guard(rt) == []  # within its limits
    # A reviewer finds one of the candidate's answers wrong: the guard ends the canary.
    with rt.store.read() as s:
        wrong_id = next(
            r.id
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "answer"))
            if r.settings.get("profile") == v2
        )
    with rt.store.write() as (s, _):
        rt.review.flag(s, audit_id=wrong_id, user_id="cara", center="north",
                       conversation_id=None, flags=["low-margin"])  # fmt: skip
    item = next(i for i in rt.review.list(ops, limit=500) if i.audit_id == wrong_id)
    rt.review.verdict(ops, item.id, "wrong")
    (ended,) = canary.guard(rt)
    assert ended["version"] == v2 and ended["wrong_verdicts"] == 1
    assert canary.guard(rt) == []  # once
    (event,) = [e for e in audit.export(rt.store) if e["kind"] == "canary-rolled-back"]
    assert event["user_id"] == "system"
    for _ in range(6):
        r = ask(rt, cara, WIRE, "api")
        with rt.store.read() as s:
            row = s.get(AuditRecord, r.audit_id)
            assert row is not None and row.settings["profile"] == 1
