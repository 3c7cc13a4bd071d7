"""The console's assistant profiles page over real HTTP (uvicorn, a signed-in console session):
an operator rolls a scope back with one click (audited), a reviewer approves a version only
once a passing gate exists and never their own, an admin's override activates without one,
askers get the 403 page, and a form without the session's CSRF token changes nothing."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import yaml
from sqlalchemy import select

from steward import audit
from steward.evals.gate import parse_tolerances
from steward.evals.runner import Question
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import UserSpec, create_user
from steward.runtime import Runtime
from steward.store.models import ProfileApproval
from tests.conftest import LiveServer
from tests.test_evals import QUESTIONS, STEADY

STRICT = {"label": "strict", "policy": {"answer_threshold": 0.999}}


def _people(rt: Runtime, keys: dict[str, str]) -> None:
    """A reviewer and an admin besides the knowledge base's operator (ops) and asker (cara)."""
    for uid, access in (("rev", "reviewer"), ("root", "admin")):
        spec = UserSpec(id=uid, access=access, groups=["all_staff"])
        create_user(rt.store, spec, actor="test")
        keys[uid] = create_key(rt.store, uid)


@contextmanager
def signed_in(server: LiveServer, key: str) -> Iterator[tuple[httpx.Client, str]]:
    """A browser-like client holding a console session, and that session's CSRF token."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        started = client.post("/v1/session", json={"api_key": key})
        assert started.status_code == 201
        yield client, started.json()["csrf_token"]


def _kinds(rt: Runtime, kind: str) -> list[dict[str, object]]:
    return [e for e in audit.export(rt.store) if e["kind"] == kind]


def test_operator_rolls_back_a_scope_with_one_click(live_kb, kb_rt: Runtime) -> None:
    server, keys = live_kb
    rt = kb_rt
    _people(rt, keys)
    ops = principal_for(rt.store, "ops")
    rt.profiles.create(ops, STRICT)
    rt.profiles.publish(ops, 2)
    # An admin activates it from the version page with an override reason (no gate yet).
    with signed_in(server, keys["root"]) as (root, csrf):
        shown = root.get("/console/profiles/2")
        assert shown.status_code == 200 and 'name="override"' in shown.text
        assert "policy.answer_threshold" in shown.text  # the diff against version 1
        done = root.post(
            "/console/profiles/2/activate",
            data={"csrf_token": csrf, "scope": "*", "override": "incident 42"},
        )
        assert done.status_code == 303
    assert rt.profiles.active_version(None) == 2
    with signed_in(server, keys["ops"]) as (client, csrf):
        listing = client.get("/console/profiles")
        assert listing.status_code == 200
        assert "Roll back to version 1" in listing.text
        assert 'href="/console/profiles"' in listing.text  # the nav names the page
        # An operator's activate form has no override field (admins only).
        assert 'name="override"' not in client.get("/console/profiles/2").text
        # The reason is required, by the page and by the registry.
        empty = client.post("/console/profiles/rollback", data={"csrf_token": csrf, "scope": "*"})
        assert empty.status_code == 400 and "reason" in empty.text
        assert rt.profiles.active_version(None) == 2
        done = client.post(
            "/console/profiles/rollback",
            data={"csrf_token": csrf, "scope": "*", "reason": "answers got worse"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/console/profiles"
        after = client.get("/console/profiles").text
        assert "No earlier version to go back to." in after
        # Nothing earlier to go back to now: the registry's refusal is the console's 409 page.
        again = client.post(
            "/console/profiles/rollback",
            data={"csrf_token": csrf, "scope": "*", "reason": "twice"},
        )
        assert again.status_code == 409 and "no earlier version" in again.text
    assert rt.profiles.active_version(None) == 1
    (event,) = _kinds(rt, "profile-rolled-back")
    assert (event["user_id"], event["payload"]["from"], event["payload"]["version"]) == (
        "ops",
        2,
        1,
    )


def test_reviewer_approves_after_a_passing_gate_and_the_author_cannot(
    live_kb, kb_rt: Runtime
) -> None:
    server, keys = live_kb
    rt = kb_rt
    _people(rt, keys)
    ops = principal_for(rt.store, "ops")
    # The configuration's own value: the same answers, so a gate of it passes.
    rt.profiles.create(ops, {"label": "same", "retrieval": {"top_k": rt.settings.retrieval.top_k}})
    rt.profiles.publish(ops, 2)
    with signed_in(server, keys["rev"]) as (client, csrf):
        before = client.get("/console/profiles/2")
        assert before.status_code == 200
        assert "No passing gate run of this version yet" in before.text
        assert "/console/profiles/2/approve" not in before.text
        refused = client.post("/console/profiles/2/approve", data={"csrf_token": csrf})
        assert refused.status_code == 409 and "no passing gate" in refused.text
        # A reviewer reads the overview but may not roll back or activate.
        listing = client.get("/console/profiles")
        assert listing.status_code == 200 and "Roll back" not in listing.text
        assert "/console/profiles/2/activate" not in before.text
        denied = client.post("/console/profiles/rollback", data={"csrf_token": csrf, "reason": "x"})
        assert denied.status_code == 403 and "Not allowed" in denied.text

        questions = [Question.model_validate(q) for q in QUESTIONS[:2]]
        baseline = rt.evals.run(ops, questions, set_name="dev.jsonl")
        gate = rt.evals.gate(
            ops, baseline.id, 2, questions, parse_tolerances(yaml.safe_load(STEADY))
        )
        assert gate.verdict == "pass"

        ready = client.get("/console/profiles/2")
        assert "/console/profiles/2/approve" in ready.text and gate.id in ready.text
        approved = client.post(
            "/console/profiles/2/approve",
            data={"csrf_token": csrf, "scope": "north", "note": "checked the gate"},
        )
        assert approved.status_code == 303
        runs = client.get("/console/profiles").text
        assert f"run-{gate.id}" in runs and html.escape(baseline.id) in runs
    with rt.store.read() as s:
        (approval,) = s.scalars(select(ProfileApproval)).all()
    assert (approval.approver, approval.scope, approval.gate_run_id) == ("rev", "north", gate.id)
    assert [e["user_id"] for e in _kinds(rt, "profile-approved")] == ["rev"]
    # Its author is told plainly and refused by the registry when posting anyway.
    with signed_in(server, keys["ops"]) as (client, csrf):
        own = client.get("/console/profiles/2")
        assert "You wrote this version, so you cannot approve it" in own.text
        refused = client.post("/console/profiles/2/approve", data={"csrf_token": csrf})
        assert refused.status_code == 403 and "Four eyes" in refused.text
        # The reviewer's approval lets the operator activate it for north, and only there.
        done = client.post(
            "/console/profiles/2/activate", data={"csrf_token": csrf, "scope": "north"}
        )
        assert done.status_code == 303
    assert (rt.profiles.active_version("north"), rt.profiles.active_version("south")) == (2, 1)
    assert [e["user_id"] for e in _kinds(rt, "profile-approved")] == ["rev"]


def test_askers_get_403_and_forms_without_the_csrf_token_change_nothing(
    live_kb, kb_rt: Runtime
) -> None:
    server, keys = live_kb
    rt = kb_rt
    _people(rt, keys)
    ops, root = principal_for(rt.store, "ops"), principal_for(rt.store, "root")
    rt.profiles.create(ops, STRICT)
    rt.profiles.publish(ops, 2)
    rt.profiles.activate(root, 2, override="a rollback to try")
    with signed_in(server, keys["cara"]) as (client, csrf):
        for path in ("/console/profiles", "/console/profiles/1"):
            page = client.get(path)
            assert page.status_code == 403 and "Not allowed" in page.text, path
            assert "Version 1" not in page.text and "answer_threshold" not in page.text
        assert 'href="/console/profiles"' not in page.text  # no nav link for askers
        tried = client.post("/console/profiles/rollback", data={"csrf_token": csrf, "reason": "x"})
        assert tried.status_code == 403
    with signed_in(server, keys["ops"]) as (client, _csrf):
        for data in ({"reason": "no token"}, {"reason": "wrong", "csrf_token": "forged"}):
            refused = client.post("/console/profiles/rollback", data=data)
            assert refused.status_code == 403 and "CSRF" in refused.text
        forged = client.post("/console/profiles/1/activate", data={"scope": "*"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        for missing in ("/console/profiles/99", "/console/profiles/abc"):
            assert client.get(missing).status_code == 404, missing
    assert rt.profiles.active_version(None) == 2
    assert _kinds(rt, "profile-rolled-back") == []
    denied = _kinds(rt, "access-denied")
    assert any(e["user_id"] == "cara" for e in denied)
