"""Assistant profile versions (profiles/): version 1 is the configuration, every answer's audit
row names the version that produced it, a version changes nothing until a second person
approves it after a passing gate (or an admin overrides, with a reason), activation reaches
another replica by the store alone, rollback is one step, and only what shapes answers may be
set. The gate itself is tested with the evaluation runs (tests/test_evals.py); the whole loop
on the Meridian questions in tests/test_promotion.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from steward import audit
from steward.core.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import UserSpec, create_user
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import AuditRecord
from steward.web.app import create_app
from tests.conftest import LiveServer, run_cli

FEE = "How much is the monthly maintenance fee?"
WIRE = "How much does a domestic wire cost?"


def _people(rt: Runtime) -> None:
    create_user(rt.store, UserSpec(id="rev", access="reviewer", groups=["all_staff"]), actor="t")
    create_user(rt.store, UserSpec(id="root", access="admin", groups=["all_staff"]), actor="t")


def _row(rt: Runtime, audit_id: str) -> AuditRecord:
    with rt.store.read() as s:
        row = s.get(AuditRecord, audit_id)
        assert row is not None
        s.expunge(row)
        return row


def test_version_one_is_the_configuration_and_every_answer_names_its_version(
    kb_rt: Runtime,
) -> None:
    rt = kb_rt
    r = ask(rt, principal_for(rt.store, "cara"), FEE)
    assert r.action == "answer"
    assert _row(rt, r.audit_id).settings["profile"] == 1
    ops = principal_for(rt.store, "ops")
    (v1,) = rt.profiles.versions(ops)
    assert (v1.version, v1.source, v1.status, v1.active_in) == (
        1,
        "configuration",
        "published",
        ("*",),
    )
    shown = rt.profiles.show(ops, 1)
    assert shown["body"] == {} and shown["drift"] == []
    assert (
        shown["snapshot"]["settings"]["policy.answer_threshold"]
        == rt.settings.policy.answer_threshold
    )


def test_only_settings_that_shape_answers_may_be_set_and_bad_values_are_refused(
    kb_rt: Runtime,
) -> None:
    ops = principal_for(kb_rt.store, "ops")
    home = kb_rt.settings.home
    secret = (home / "secret.key").read_text().strip()
    for raw, said in (
        ({"http": {"port": 1}}, "may not set 'http.port'"),
        ({"answering": {"openai": {"api_key": "sk-x"}}}, "may not set 'answering.openai.api_key'"),
        ({"policy": {"answer_threshold": 5}}, "policy.answer_threshold"),
        ({"retrieval": {"top_k": "many"}}, "retrieval.top_k"),
        ({"answering": {"timeout_s": 86400}}, "answering.timeout_s"),  # a stuck worker
        ("just text", "mapping"),
        ({"answering": {"provider": "no-such-provider"}}, "would not load"),
        # Files only where the deployment keeps its own; a loader's words about a file (which
        # could quote it: the store's secret key) are left out.
        ({"policy": {"intent_model": "/etc/passwd"}}, "outside the data home"),
        ({"policy": {"policy_dir": "/proc/self"}}, "outside the data home"),
        ({"policy": {"intent_model": str(home / "nope" / "model")}}, "would not load"),
        ({"answering": {"providers_file": str(home / "secret.key")}}, r"provider is not valid"),
        # No model server the deployment has not named: questions and passages go there.
        ({"answering": {"openai": {"base_url": "http://169.254.169.254/v1"}}}, "not a model"),
    ):
        with pytest.raises(InputError, match=said) as refused:
            kb_rt.profiles.create(ops, raw)  # type: ignore[arg-type]
        assert secret[:16] not in refused.value.message
    with pytest.raises(ForbiddenError):
        kb_rt.profiles.create(principal_for(kb_rt.store, "cara"), {"policy": {"top_k": 3}})
    assert [v.version for v in kb_rt.profiles.versions(ops)] == [1]


def test_four_eyes_gate_override_rollback_and_another_replica(
    kb_rt: Runtime, make_runtime: object
) -> None:
    rt = kb_rt
    _people(rt)
    ops, rev, root = (principal_for(rt.store, u) for u in ("ops", "rev", "root"))
    cara = principal_for(rt.store, "cara")
    before = ask(rt, cara, FEE)
    assert before.action == "answer"
    # A version that abstains on everything: an answer threshold nobody reaches.
    v2 = rt.profiles.create(ops, {"label": "strict", "policy": {"answer_threshold": 0.999}})
    assert (v2.version, v2.status) == (2, "draft")
    with pytest.raises(ConflictError, match="draft"):
        rt.profiles.activate(ops, 2)
    rt.profiles.publish(ops, 2)
    with pytest.raises(ConflictError, match="already published"):
        rt.profiles.publish(ops, 2)
    # Its author cannot approve it; a reviewer cannot before a passing gate; nobody can
    # activate without an approval.
    with pytest.raises(ForbiddenError, match="Four eyes"):
        rt.profiles.approve(ops, 2)
    with pytest.raises(ConflictError, match="no passing gate"):
        rt.profiles.approve(rev, 2)
    with pytest.raises(ConflictError, match="no approval"):
        rt.profiles.activate(ops, 2)
    with pytest.raises(ForbiddenError):
        rt.profiles.activate(ops, 2, override="urgent")  # operators cannot override
    with pytest.raises(InputError, match="reason"):
        rt.profiles.activate(root, 2, override="  ")
    assert ask(rt, cara, FEE).action == "answer"  # nothing changed so far
    # Another replica (its own runtime on the same store) reads version 1 now.
    other: Runtime = make_runtime(rt.settings.home)  # type: ignore[operator]
    assert other.profiles.active_version("north") == 1
    # An admin's override, with its reason on the record.
    rt.profiles.activate(root, 2, override="incident 42: stop answering")
    after = ask(rt, cara, FEE)
    assert after.action == "abstain" and _row(rt, after.audit_id).settings["profile"] == 2
    (event,) = [e for e in audit.export(rt.store) if e["kind"] == "profile-activated"][-1:]
    assert event["payload"]["override"] is True and event["user_id"] == "root"
    # The other replica sees it once its refresh interval has passed (the clock stood forward).
    other.profiles.clock = lambda: float("inf")
    assert other.profiles.active_version("north") == 2
    assert ask(other, cara, FEE).action == "abstain"
    # Rollback puts version 1 back: the same answer as before, word for word.
    rt.profiles.rollback(ops, reason="back to the configuration")
    again = ask(rt, cara, FEE)
    assert (again.action, again.answer) == (before.action, before.answer)
    assert _row(rt, again.audit_id).settings["profile"] == 1
    with pytest.raises(ConflictError, match="no earlier version"):
        rt.profiles.rollback(ops, reason="twice")  # not a toggle back to version 2
    with pytest.raises(ConflictError, match="no approval"):
        rt.profiles.activate(ops, 2)  # the override was used; 2 needs its own approval
    kinds = [e["kind"] for e in audit.export(rt.store) if e["kind"].startswith("profile-")]
    assert kinds.count("profile-rolled-back") == 1


def test_a_center_has_its_own_version_and_the_cache_never_crosses_versions(
    kb_rt: Runtime,
) -> None:
    rt = kb_rt
    _people(rt)
    root = principal_for(rt.store, "root")
    cara = principal_for(rt.store, "cara")  # north
    fin = principal_for(rt.store, "fin")  # no center
    first = ask(rt, cara, WIRE)
    assert first.action == "answer"
    rt.profiles.create(root, {"policy": {"answer_threshold": 0.999}})
    rt.profiles.publish(root, 2)
    with pytest.raises(NotFoundError, match="Unknown center"):
        rt.profiles.activate(root, 2, scope="atlantis", override="x")
    rt.profiles.activate(root, 2, scope="north", override="pilot in north")
    # The cached answer of version 1 is not served under version 2.
    assert ask(rt, cara, WIRE).action == "abstain"
    assert ask(rt, fin, WIRE).action == "answer"
    assert rt.profiles.active_version(None) == 1 and rt.profiles.active_version("north") == 2
    # The center's first version of its own rolls back to what answered it before (`*`'s).
    assert rt.profiles.scopes(root)["north"]["previous"] == 1
    assert rt.profiles.diff(root, 1, 2) == [
        {"setting": "policy.answer_threshold", "1": rt.settings.policy.answer_threshold, "2": 0.999}
    ]


def test_over_http_askers_see_nothing_and_reviewers_read_and_approve(
    kb_rt: Runtime, tmp_path: Path, model_cache: Path
) -> None:
    rt = kb_rt
    _people(rt)
    keys = {u: create_key(rt.store, u) for u in ("cara", "ops", "rev")}

    def h(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[user]}"}

    with LiveServer(create_app(rt)) as server:
        url = server.url
        for path in ("/v1/profiles", "/v1/profiles/1", "/v1/profiles/1/diff/1"):
            assert httpx.get(url + path, headers=h("cara"), timeout=60).status_code == 403
        made = httpx.post(
            url + "/v1/profiles",
            json={"label": "top 3", "retrieval": {"top_k": 3}},
            headers=h("cara"),
            timeout=60,
        )
        assert made.status_code == 403
        made = httpx.post(
            url + "/v1/profiles",
            json={"label": "top 3", "retrieval": {"top_k": 3}},
            headers=h("ops"),
            timeout=60,
        )
        assert made.status_code == 201 and made.json()["version"] == 2
        bad = httpx.post(
            url + "/v1/profiles", json={"http": {"port": 1}}, headers=h("ops"), timeout=60
        )
        assert bad.status_code == 422 and "error" in bad.json()
        wrong = httpx.post(
            url + "/v1/profiles", json={"retrieval": {"top_k": -1}}, headers=h("ops"), timeout=60
        )
        assert wrong.status_code == 400 and "retrieval.top_k" in wrong.json()["error"]["message"]
        listed = httpx.get(url + "/v1/profiles", headers=h("rev"), timeout=60).json()
        assert [v["version"] for v in listed["versions"]] == [1, 2]
        assert listed["scopes"]["*"]["version"] == 1
        pub = httpx.post(url + "/v1/profiles/2/publish", headers=h("ops"), timeout=60)
        assert pub.status_code == 200
        own = httpx.post(url + "/v1/profiles/2/approve", json={}, headers=h("ops"), timeout=60)
        assert own.status_code == 403  # the author
        early = httpx.post(url + "/v1/profiles/2/approve", json={}, headers=h("rev"), timeout=60)
        assert early.status_code == 409 and "gate" in early.json()["error"]["message"]
        act = httpx.post(url + "/v1/profiles/2/activate", json={}, headers=h("rev"), timeout=60)
        assert act.status_code == 403  # reviewers approve, operators activate
        missing = httpx.get(url + "/v1/profiles/99", headers=h("rev"), timeout=60)
        assert missing.status_code == 404
    # The CLI, as the local operator: list and diff; bad input is one line and exit 2.
    home = rt.settings.home
    listed_cli = run_cli("profile", "list", "--json", home=home, model_cache=model_cache)
    assert listed_cli.returncode == 0, listed_cli.stderr
    diff = run_cli("profile", "diff", "1", "2", home=home, model_cache=model_cache)
    assert diff.returncode == 0 and "retrieval.top_k" in diff.stdout
    bad_file = tmp_path / "p.yaml"
    bad_file.write_text("policy: {answer_threshold: nine}\n")
    unnamed = run_cli("profile", "create", str(bad_file), home=home, model_cache=model_cache)
    assert unnamed.returncode == 2 and "STEWARD_ACTOR_KEY" in unnamed.stderr  # four eyes
    named = {"STEWARD_ACTOR_KEY": keys["ops"]}
    made_cli = run_cli(
        "profile", "create", str(bad_file), home=home, model_cache=model_cache, extra_env=named
    )
    assert made_cli.returncode == 2 and made_cli.stderr.count("\n") == 1
    assert "policy.answer_threshold" in made_cli.stderr and "Traceback" not in made_cli.stderr
