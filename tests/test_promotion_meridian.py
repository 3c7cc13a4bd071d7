"""Issue 20's must-show on the Meridian dev questions themselves: the corpus is evaluation data
that lives beside the checkout (``../shared/corpus/meridian``, or ``$MERIDIAN_CORPUS``),
never inside the product. The store is built from it here, as ``benchmarks/meridian/setup``
does, and the CLI runs the gate as an operator would: a deliberately worse version (answer
threshold far too low) is blocked with exit 1 and the broken questions named; a harmless one
passes, its author's approval is refused, a second reviewer's is taken, it is promoted, the next
answer's audit row names it; rollback gives all 60 earlier answers back word for word."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from steward.core.errors import ForbiddenError
from steward.evals.runner import load_questions
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import UserSpec, create_user, import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from tests.conftest import run_cli
from tests.test_evals import STEADY
from tests.test_profiles import _row

ROOT = Path(__file__).parents[1]


def _corpus() -> Path:
    named = os.environ.get("MERIDIAN_CORPUS")
    path = Path(named) if named else ROOT.parent / "shared" / "corpus" / "meridian"
    return path.resolve()


CORPUS = _corpus()


@pytest.mark.skipif(
    not (CORPUS / "questions-dev.jsonl").is_file(),
    reason=f"the Meridian evaluation corpus is not beside this checkout ({CORPUS})",
)
def test_meridian_dev_gate_blocks_worse_promotes_better_and_rolls_back(
    tmp_path: Path, make_runtime: object, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    rt: Runtime = make_runtime(home, audit_checkpoint_interval_s=0, rate_per_user=0,  # type: ignore[operator]
                               rate_per_key=0, rate_per_center=0)  # fmt: skip
    import_directory(rt.store, CORPUS / "directory.yaml")
    monkeypatch.setenv("MERIDIAN_CORPUS", str(CORPUS))
    reports = sync(rt, load_sources(ROOT / "benchmarks" / "meridian" / "sources.yaml"))
    assert all(r.status == "ok" for r in reports), [r.errors for r in reports]
    for who, access in (("mer-author", "admin"), ("mer-reviewer", "reviewer")):
        create_user(rt.store, UserSpec(id=who, access=access, groups=["all_staff"]), actor="t")
    author = principal_for(rt.store, "mer-author")
    reviewer = principal_for(rt.store, "mer-reviewer")
    questions_file = CORPUS / "questions-dev.jsonl"
    questions = load_questions(questions_file)
    assert len(questions) == 60
    before = {q.id: ask(rt, principal_for(rt.store, q.user), q.question) for q in questions}
    env = {"STEWARD_ACTOR_KEY": create_key(rt.store, "mer-author")}

    def cli(*args: str) -> tuple[int, str, str]:
        done = run_cli(*args, home=home, model_cache=model_cache, extra_env=env)
        return done.returncode, done.stdout, done.stderr

    code, out, err = cli("eval", "run", "--questions", str(questions_file), "--json")
    assert code == 0, err
    baseline = json.loads(out)
    assert baseline["leaks"] == 0 and baseline["forbidden_ok"] == 1.0, baseline
    worse = tmp_path / "worse.yaml"
    worse.write_text("label: threshold far too low\npolicy: {answer_threshold: 0.05}\n")
    code, out, err = cli("profile", "create", str(worse), "--publish", "--json")
    assert code == 0, err
    v_worse = json.loads(out)["version"]
    steady = tmp_path / "steady.yaml"  # the default tolerances less latency (a loaded machine)
    steady.write_text(STEADY)
    gate = ("eval", "gate", "--baseline", baseline["run_id"], "--questions", str(questions_file),
            "--tolerances", str(steady))  # fmt: skip
    code, out, err = cli(*gate, "--candidate", str(v_worse))
    assert code == 1, out + err
    # The broken questions by name: questions no document answers (or the asker may not
    # read) now answered.
    broken = re.findall(r"^\s*(\S+) \((unanswerable|forbidden)\): \w+ -> answer", out, re.M)
    assert broken, out
    assert {qid for qid, _ in broken} <= {q.id for q in questions}
    # Harmless: prompt instructions, which the extractive provider does not read.
    better = tmp_path / "better.yaml"
    better.write_text("label: shorter\nanswering: {prompt_instructions: Keep it short.}\n")
    code, out, err = cli("profile", "create", str(better), "--publish", "--json")
    assert code == 0, err
    v_better = json.loads(out)["version"]
    code, out, err = cli(*gate, "--candidate", str(v_better))
    assert code == 0, out + err
    with pytest.raises(ForbiddenError, match="Four eyes"):
        rt.profiles.approve(author, v_better)
    rt.profiles.approve(reviewer, v_better, note="gate passed on the dev questions")
    code, out, err = cli("profile", "activate", str(v_better))
    assert code == 0, err
    rt.profiles.clock = lambda: float("inf")  # the next refresh re-reads the activation now
    first = questions[0]
    after = ask(rt, principal_for(rt.store, first.user), first.question)
    assert _row(rt, after.audit_id).settings["profile"] == v_better
    code, out, err = cli("profile", "rollback", "--reason", "drill")
    assert code == 0, err
    for q in questions:
        again = ask(rt, principal_for(rt.store, q.user), q.question)
        assert _row(rt, again.audit_id).settings["profile"] == 1
        was = before[q.id]
        assert (again.action, again.answer, again.citations) == (
            was.action, was.answer, was.citations), q.id  # fmt: skip
