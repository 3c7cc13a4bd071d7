"""The whole release loop (issue 20's must-show), with real processes for the CLI: a deliberately
worse profile version is blocked by the gate (exit 1, naming the broken questions); a harmless
one passes, its author cannot approve it, a second reviewer does, it is promoted, the next
answer's audit row names it; rollback gives the earlier answers back word for word. The same
loop on the Meridian dev questions is tests/test_promotion_meridian.py, and its figures
`benchmarks/profiles/promotion.py` (docs/benchmarks.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steward.core.errors import ConflictError, ForbiddenError
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import UserSpec, create_user
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from tests.conftest import run_cli
from tests.test_evals import QUESTIONS, STEADY
from tests.test_profiles import _row


def test_a_worse_version_is_blocked_a_better_one_promoted_by_four_eyes_and_rolled_back(
    kb_rt: Runtime, tmp_path: Path, model_cache: Path
) -> None:
    rt = kb_rt
    home = rt.settings.home
    create_user(rt.store, UserSpec(id="rev", access="reviewer", groups=["all_staff"]), actor="t")
    ops, rev = principal_for(rt.store, "ops"), principal_for(rt.store, "rev")
    env = {"STEWARD_ACTOR_KEY": create_key(rt.store, "ops")}
    questions = tmp_path / "dev.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    before = {q["id"]: ask(rt, principal_for(rt.store, str(q["user"])), str(q["question"]))
              for q in QUESTIONS}  # fmt: skip

    def cli(*args: str) -> tuple[int, str, str]:
        done = run_cli(*args, home=home, model_cache=model_cache, extra_env=env)
        return done.returncode, done.stdout, done.stderr

    code, out, err = cli("eval", "run", "--questions", str(questions), "--json")
    assert code == 0, err
    baseline = json.loads(out)["run_id"]
    # Worse: an answer threshold far too low answers what no document answers.
    worse = tmp_path / "worse.yaml"
    worse.write_text("label: threshold far too low\npolicy: {answer_threshold: 0.0}\n")
    code, out, err = cli("profile", "create", str(worse), "--publish", "--json")
    assert code == 0, err
    v_worse = json.loads(out)["version"]
    # The default tolerances less latency: two runs on a loaded test machine differ in speed.
    steady = tmp_path / "steady.yaml"
    steady.write_text(STEADY)
    gate = ("eval", "gate", "--baseline", baseline, "--questions", str(questions),
            "--tolerances", str(steady))  # fmt: skip
    code, out, err = cli(*gate, "--candidate", str(v_worse))
    assert code == 1, out + err
    assert "q5 (unanswerable): abstain -> answer" in out, out
    # Better (here: harmless, a wider retrieval): passes, and the four eyes hold.
    better = rt.profiles.create(ops, {"label": "wider", "retrieval": {"top_k": 12}})
    rt.profiles.publish(ops, better.version)
    code, out, err = cli(*gate, "--candidate", str(better.version))
    assert code == 0, out + err
    with pytest.raises(ForbiddenError, match="Four eyes"):
        rt.profiles.approve(ops, better.version)
    with pytest.raises(ConflictError, match="no passing gate"):
        rt.profiles.approve(rev, v_worse)  # its gate failed
    rt.profiles.approve(rev, better.version, note="gate passed, no change in answers")
    code, out, err = cli("profile", "activate", str(better.version))
    assert code == 0, err
    # Another process changed it: this one re-reads the activation at its next refresh, which
    # the clock stood forward brings now (the rollback below too).
    rt.profiles.clock = lambda: float("inf")
    after = ask(rt, principal_for(rt.store, "cara"), str(QUESTIONS[0]["question"]))
    assert _row(rt, after.audit_id).settings["profile"] == better.version
    assert _row(rt, after.audit_id).settings["top_k"] == 12
    # Rollback: version 1 again, and the same answers as before, word for word.
    with pytest.raises(ConflictError, match="already answers"):
        rt.profiles.approve(rev, better.version)  # no approvals stockpiled for later
    code, out, err = cli("profile", "rollback", "--reason", "drill")
    assert code == 0, err
    for q in QUESTIONS:
        again = ask(rt, principal_for(rt.store, str(q["user"])), str(q["question"]))
        assert _row(rt, again.audit_id).settings["profile"] == 1
        was = before[str(q["id"])]
        assert (again.action, again.answer) == (was.action, was.answer), q["id"]
    with pytest.raises(ConflictError, match="no approval"):
        rt.profiles.activate(ops, better.version)  # rolled back from: it needs a new one
