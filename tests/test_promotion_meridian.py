"""Issue 20's must-show on the Meridian dev questions themselves: the corpus is evaluation data
that lives beside the checkout (``../shared/corpus/meridian``, or ``$MERIDIAN_CORPUS``),
never inside the product. The store is built from it here, as ``benchmarks/meridian/setup``
does, and a deliberately worse version (answer threshold far too low) is blocked with exit 1
and the broken questions named; a harmless one passes, its author's approval is refused, a
second reviewer's is taken, it is promoted, the next answer's audit row names it; rollback
gives all 60 earlier answers back word for word. (The CLI's own steps are tested in
tests/test_promotion.py; here one real process runs the blocked gate.)"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from steward.core.errors import ForbiddenError
from steward.evals.gate import parse_tolerances
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
    baseline = rt.evals.run(author, questions, set_name=questions_file.name)
    assert baseline.figures["leaks"] == 0 and baseline.figures["forbidden_ok"] == 1.0
    steady = tmp_path / "steady.yaml"  # the default tolerances less latency (a loaded machine)
    steady.write_text(STEADY)
    # Worse: an answer threshold far too low. The gate as an operator runs it: a real process.
    worse = rt.profiles.create(
        author, {"label": "threshold far too low", "policy": {"answer_threshold": 0.05}}
    )
    rt.profiles.publish(author, worse.version)
    env = {"STEWARD_ACTOR_KEY": create_key(rt.store, "mer-author")}
    done = run_cli(
        "eval", "gate", "--baseline", baseline.id, "--questions", str(questions_file),
        "--tolerances", str(steady), "--candidate", str(worse.version),
        home=home, model_cache=model_cache, extra_env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # The broken questions by name: questions no document answers (or the asker may not
    # read) now answered.
    broken = re.findall(r"^\s*(\S+) \((unanswerable|forbidden)\): \w+ -> answer", done.stdout, re.M)
    assert broken, done.stdout
    assert {qid for qid, _ in broken} <= {q.id for q in questions}
    # Harmless: prompt instructions, which the extractive provider does not read.
    better = rt.profiles.create(
        author, {"label": "shorter", "answering": {"prompt_instructions": "Keep it short."}}
    )
    rt.profiles.publish(author, better.version)
    tolerances = parse_tolerances(yaml.safe_load(STEADY))
    passed = rt.evals.gate(author, baseline.id, better.version, questions, tolerances)
    assert passed.verdict == "pass", passed.comparison
    with pytest.raises(ForbiddenError, match="Four eyes"):
        rt.profiles.approve(author, better.version)
    rt.profiles.approve(reviewer, better.version, note="gate passed on the dev questions")
    rt.profiles.activate(author, better.version)
    first = questions[0]
    after = ask(rt, principal_for(rt.store, first.user), first.question)
    assert _row(rt, after.audit_id).settings["profile"] == better.version
    rt.profiles.rollback(author, reason="drill")
    for q in questions:
        again = ask(rt, principal_for(rt.store, q.user), q.question)
        assert _row(rt, again.audit_id).settings["profile"] == 1
        was = before[q.id]
        assert (again.action, again.answer, again.citations) == (
            was.action, was.answer, was.citations), q.id  # fmt: skip
