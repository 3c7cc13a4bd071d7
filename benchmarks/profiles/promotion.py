"""The release loop of issue 20 on the Meridian dev questions.

On a Meridian store (built by ``benchmarks/meridian/setup`` into ``--home``, or a fresh one in
a temporary directory): a baseline run of ``questions-dev.jsonl`` as version 1; a deliberately
worse version (answer threshold 0.05) through the gate; a harmless version (prompt instructions
only, which the extractive provider does not read) through the gate; the author's own
approval tried, a second reviewer's given, the harmless version activated, one question asked;
rollback, and every dev question asked again and compared with the baseline run's answers.
Prints one JSON line.

    python -m benchmarks.profiles.promotion ../shared/corpus/meridian [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine
from steward.config.settings import Settings
from steward.core.errors import ForbiddenError
from steward.evals.runner import load_questions
from steward.identity.auth import Principal, principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime

HERE = Path(__file__).parents[1] / "meridian"


def _person(user: str, access: str) -> Principal:
    return Principal(user, user, frozenset(), None, access, False, "cli")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--home", type=Path, default=None, help="A built Meridian store.")
    args = ap.parse_args()
    home = args.home
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="steward-promotion-"))
        env = {**os.environ, "STEWARD_HOME": str(home)}
        subprocess.run([str(HERE / "setup"), str(args.corpus)], env=env, check=True)
    rt = Runtime(Settings(home=home, audit_checkpoint_interval_s=0, rate_per_user=0,
                          rate_per_key=0, rate_per_center=0))  # fmt: skip
    rt.warm()
    questions = load_questions(args.corpus / "questions-dev.jsonl")
    author, reviewer = _person("bench-author", "admin"), _person("bench-reviewer", "reviewer")
    t0 = time.perf_counter()
    baseline = rt.evals.run(author, questions, set_name="questions-dev.jsonl")
    run_s = time.perf_counter() - t0
    worse = rt.profiles.create(author, {"label": "worse", "policy": {"answer_threshold": 0.05}})
    rt.profiles.publish(author, worse.version)
    blocked = rt.evals.gate(author, baseline.id, worse.version, questions)
    harmless = rt.profiles.create(
        author,
        {"label": "harmless", "answering": {"prompt_instructions": "Keep it short."}},
    )
    rt.profiles.publish(author, harmless.version)
    passed = rt.evals.gate(author, baseline.id, harmless.version, questions)
    try:
        rt.profiles.approve(author, harmless.version)
        own_refused = False
    except ForbiddenError:
        own_refused = True
    if passed.verdict != "pass":  # say why, and stop: nothing to promote
        print(json.dumps({"bench": "promotion-loop", "harmless_gate": passed.verdict,
                          "failures": (passed.comparison or {}).get("failures")}))  # fmt: skip
        raise SystemExit(1)
    rt.profiles.approve(reviewer, harmless.version)
    rt.profiles.activate(author, harmless.version)
    one = ask(rt, principal_for(rt.store, questions[0].user), questions[0].question, "eval")
    with rt.store.read() as s:
        from steward.store.models import AuditRecord

        row = s.get(AuditRecord, one.audit_id)
        named = row.settings.get("profile") if row is not None else None
    rt.profiles.rollback(author, reason="benchmark drill")
    baseline_results = rt.evals.results(baseline.id)
    by_id = {r.qid: r for r in baseline_results}
    same = 0
    for q in questions:
        r = ask(rt, principal_for(rt.store, q.user), q.question, "eval")
        was = by_id[q.id]
        cited = sorted({c.doc_id for c in r.citations})
        same += (
            r.action == was.action
            and cited == sorted(set(was.detail.get("citations", [])))
            and round(r.confidence, 4) == round(float(was.detail.get("confidence", -1)), 4)
        )
    comparison = blocked.comparison or {}
    print(
        json.dumps(
            {
                "bench": "promotion-loop",
                "questions": len(questions),
                "baseline": {k: baseline.figures.get(k) for k in (
                    "accuracy", "answer_precision", "abstain_ok", "forbidden_ok",
                    "escalation_recall", "groundedness", "citation_precision", "leaks")},
                "baseline_run_s": round(run_s, 1),
                "worse_gate": {
                    "verdict": blocked.verdict,
                    "broken": len(comparison.get("changes", {}).get("broken", [])),
                    "fixed": len(comparison.get("changes", {}).get("fixed", [])),
                    "mcnemar_p": comparison.get("mcnemar", {}).get("p_value"),
                    "newly_answered": len(comparison.get("newly_answered", [])),
                    "failures": len(comparison.get("failures", [])),
                    "broken_ids": [c.get("qid") for c in comparison.get("changes", {})
                                   .get("broken", [])][:8],
                },
                "harmless_gate": passed.verdict,
                "authors_own_approval_refused": own_refused,
                "promoted_row_names_version": named == harmless.version,
                "after_rollback_same_action_citations_confidence": f"{same}/{len(questions)}",
                "machine": machine(),
            }
        )
    )  # fmt: skip
    rt.close()


if __name__ == "__main__":
    main()
