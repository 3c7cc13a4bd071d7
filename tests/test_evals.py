"""Stored evaluation runs and release gates: runs are kept masked and comparable, a gate compares
a candidate question by question, a wobble is not a regression, a new leak always is."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from steward.core.errors import ForbiddenError, InputError
from steward.evals.gate import compare, load_tolerances, mcnemar, parse_tolerances
from steward.evals.runner import Question, plaintext_found
from steward.identity.auth import principal_for
from steward.store.models import AuditRecord, EvalResult
from tests.conftest import run_cli
from tests.test_eval import QUESTIONS as EVAL_QUESTIONS

# The evaluation set of tests/test_eval.py, and a question of one center's procedure.
QUESTIONS = [
    *EVAL_QUESTIONS,
    {
        "id": "q6",
        "user": "nora",
        "question": "How quickly must a promised callback happen?",
        "kind": "answerable",
        "expected_action": "answer",
        "gold_docs": ["int-north"],
        "answer_facts": ["3 business hours"],
        "must_not_contain": [],
        "escalation_reason": None,
        "pii_in_question": [],
    },
]
# No latency limit: two runs of the same version on a loaded machine differ in speed by chance.
STEADY = "version: 1\nsignificance: 0.05\naccuracy: {max_drop: 0.02}\nforbidden_ok: {max_drop: 0}\n"


def same_as_active(rt) -> int:  # type: ignore[no-untyped-def]
    """A published version that answers exactly as version 1 with the extractive provider
    (prompt instructions only, which only model providers read): a gate's candidate is never
    the baseline's own version."""
    ops = principal_for(rt.store, "ops")
    v = rt.profiles.create(ops, {"answering": {"prompt_instructions": "Be brief."}})
    rt.profiles.publish(ops, v.version)
    return int(v.version)


def _questions(rows: list[dict[str, object]] = QUESTIONS) -> list[Question]:
    return [Question.model_validate(q) for q in rows]


def _write(path: Path, rows: list[dict[str, object]] = QUESTIONS) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in rows))
    return path


def test_a_run_is_stored_masked_and_show_gives_the_same_figures(kb_rt) -> None:
    ops, cara = principal_for(kb_rt.store, "ops"), principal_for(kb_rt.store, "cara")
    run = kb_rt.evals.run(ops, _questions(), set_name="dev.jsonl")
    f = run.figures
    assert f["questions"] == 6 and f["accuracy"] == 1.0 and f["leaks"] == 0
    assert f["groundedness"] == 1.0 and f["citation_precision"] == 1.0
    assert (f["tokens_in"], f["tokens_out"], f["cost_usd"], f["unpriced"]) == (0, 0, 0.0, 0)
    assert "judge_agreement" not in f  # no judge configured
    shown, results = kb_rt.evals.show(ops, run.id)
    assert shown.figures == f and shown.set_name == "dev.jsonl" and shown.author == "ops"
    assert [r.qid for r in results] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert results[0].detail["citations"] == ["pub-fees"] and results[0].detail["grounded"]
    stored = json.dumps([r.detail for r in results])
    assert "555-0177" not in stored and "maintenance" not in stored  # ids and scores only
    assert [r.id for r in kb_rt.evals.runs(ops)] == [run.id]
    with kb_rt.store.read() as s:
        event = s.scalars(select(AuditRecord).where(AuditRecord.kind == "eval-run")).one()
    assert event.target == f"eval-run:{run.id}" and event.payload["questions"] == 6
    for denied in (
        lambda: kb_rt.evals.runs(cara),
        lambda: kb_rt.evals.show(cara, run.id),
        lambda: kb_rt.evals.run(cara, _questions(), set_name="x"),
    ):
        with pytest.raises(ForbiddenError):
            denied()


def test_a_gate_on_the_baseline_version_passes_unchanged_and_refuses_another_set(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    version = same_as_active(kb_rt)
    baseline = kb_rt.evals.run(ops, _questions(), set_name="dev.jsonl")
    steady = parse_tolerances(yaml.safe_load(STEADY))
    with pytest.raises(InputError, match="not a baseline"):
        kb_rt.evals.gate(ops, baseline.id, 1, _questions(), steady)  # against itself
    gate = kb_rt.evals.gate(ops, baseline.id, version, _questions(), steady)
    c = gate.comparison
    assert gate.verdict == "pass" and gate.kind == "gate" and gate.baseline_run_id == baseline.id
    assert c["changes"] == {"fixed": [], "broken": [], "still_wrong": []}
    assert c["still_right"] == 6 and c["mcnemar"]["p_value"] == 1.0 and not c["failures"]
    assert [t["status"] for t in c["tolerances"]] == ["held", "held"]
    assert kb_rt.evals.passing_gate(version).id == gate.id
    assert kb_rt.evals.passing_gate(version + 1) is None
    with pytest.raises(InputError, match="not the set baseline run"):
        kb_rt.evals.gate(ops, baseline.id, version, _questions(QUESTIONS[:-1]), steady)
    shipped = load_tolerances()
    assert shipped.version == 1 and shipped.significance == 0.05
    assert shipped.limits["latency_ms_p95"].max_rise_pct == 20


def test_mcnemar_calls_one_question_of_sixty_noise_and_ten_to_none_a_change() -> None:
    from scipy.stats import binomtest

    assert mcnemar(1, 0) == 1.0  # 59 unchanged, 1 broken
    assert mcnemar(10, 0) == pytest.approx(2 / 1024, rel=1e-5) and mcnemar(0, 10) < 0.05
    for worse, better in ((1, 0), (10, 0), (7, 2), (3, 3), (0, 0)):
        expected = binomtest(worse, worse + better, 0.5).pvalue if worse + better else 1.0
        assert mcnemar(worse, better) == pytest.approx(expected, rel=1e-5)


def _results(n: int, **changed: dict[str, object]) -> list[EvalResult]:
    out = []
    for i in range(n):
        qid = f"q{i:02d}"
        kind = "forbidden" if i == 0 else "answerable"
        action = "abstain" if kind == "forbidden" else "answer"
        row = {
            "kind": kind,
            "action": action,
            "correct": True,
            "leak": False,
            **changed.get(qid, {}),
        }
        out.append(
            EvalResult(
                run_id="r",
                qid=qid,
                kind=row["kind"],
                expected="abstain" if kind == "forbidden" else "answer",
                action=row["action"],
                correct=row["correct"],
                leak=row["leak"],
                audit_id=None,
                detail={"latency_ms": 10.0, "tokens": [0, 0]},
            )
        )
    return out


def test_a_new_leak_or_forbidden_answer_always_fails_and_a_wobble_does_not() -> None:
    strict = parse_tolerances({"version": 1, "accuracy": {"max_drop": 0.0}})
    base = _results(60)
    figures = {"accuracy": 1.0}
    wobble = _results(60, q05={"correct": False, "action": "abstain"})
    verdict, c = compare((figures, base), ({"accuracy": round(58 / 59, 4)}, wobble), strict)
    assert verdict == "pass" and c["tolerances"][0]["status"] == "within noise"
    assert [r["qid"] for r in c["changes"]["broken"]] == ["q05"]
    lenient = parse_tolerances({"version": 1, "significance": 0.05})
    leak = _results(60, q07={"leak": True})
    verdict, c = compare((figures, base), (figures, leak), lenient)
    assert verdict == "fail" and c["new_leaks"] == ["q07"]
    answered = _results(60, q00={"action": "answer", "correct": False})
    verdict, c = compare((figures, base), (figures, answered), lenient)
    assert verdict == "fail" and c["newly_answered"] == ["q00"]
    for bad in (
        {"version": 2},
        {"version": 1, "acuracy": {"max_drop": 0.1}},
        {"version": 1, "accuracy": {"max_rise_pct": 5}},
        {"version": 1, "latency_ms_p95": {"max_drop": 0.1}},
    ):
        with pytest.raises(InputError):
            parse_tolerances(bad)


def test_judge_agreement_is_a_figure_only_with_a_judge_and_counts_agreeing_verdicts() -> None:
    from steward.evals.runs import extra_figures

    fee, forbidden, unanswerable = _questions([QUESTIONS[0], QUESTIONS[1], QUESTIONS[4]])
    base = {"grounded": True, "citation_precision": None, "tokens": [10, 2], "cost_usd": None}
    details = [
        {**base, "action": "answer", "correct": True, "judge": True},  # agrees
        {**base, "action": "answer", "correct": False, "judge": True},  # a leak it let through
        {**base, "action": "abstain", "correct": True, "judge": None},  # no verdict: not counted
    ]
    judged = extra_figures([fee, forbidden, unanswerable], details, judged=True)
    assert judged["judge_agreement"] == 0.5
    assert judged["tokens_in"] == 30 and judged["unpriced"] == 3 and judged["cost_usd"] == 0.0
    assert "judge_agreement" not in extra_figures([fee], details[:1], judged=False)


def test_the_cli_gate_exits_0_on_pass_1_on_a_broken_tolerance_2_on_bad_input(
    kb_rt, tmp_path: Path, model_cache: Path
) -> None:
    home = kb_rt.settings.home
    questions = _write(tmp_path / "dev.jsonl")
    baseline = kb_rt.evals.run(principal_for(kb_rt.store, "ops"), _questions(), set_name="dev")
    steady = tmp_path / "steady.yaml"
    steady.write_text(STEADY)
    gate = ["eval", "gate", "--baseline", baseline.id, "--candidate", str(same_as_active(kb_rt))]
    ok = run_cli(
        *gate,
        "--questions",
        str(questions),
        "--tolerances",
        str(steady),
        home=home,
        model_cache=model_cache,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pass" in ok.stdout and "broken: 0" in ok.stdout
    # A candidate that abstains on everything it answered: two questions broken. Counted as a
    # failure only because this file treats any significance as enough (1-question noise is
    # otherwise allowed for).
    every = tmp_path / "every.yaml"
    every.write_text("version: 1\nsignificance: 1\naccuracy: {max_drop: 0}\n")
    worse = run_cli(
        *gate,
        "--questions",
        str(questions),
        "--tolerances",
        str(every),
        home=home,
        model_cache=model_cache,
        extra_env={"STEWARD_ANSWER_THRESHOLD": "0.99"},
    )
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "q1 (stale): answer -> abstain" in worse.stdout and "FAIL accuracy" in worse.stdout
    other = _write(tmp_path / "other.jsonl", QUESTIONS[:3])
    bad = run_cli(*gate, "--questions", str(other), home=home, model_cache=model_cache)
    assert bad.returncode == 2 and "not the set baseline run" in bad.stderr


def test_the_http_api_runs_lists_shows_and_gates_for_operators_only(live_kb, kb_rt) -> None:
    server, keys = live_kb

    def call(user: str, method: str, path: str, body: object = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{server.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {keys[user]}"},
            timeout=60,
        )

    two = QUESTIONS[:2]
    assert call("cara", "GET", "/v1/eval/runs").status_code == 403
    assert call("cara", "POST", "/v1/eval/runs", {"questions": two}).status_code == 403
    made = call("ops", "POST", "/v1/eval/runs", {"questions": two, "set_name": "smoke"})
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["figures"]["questions"] == 2 and run["kind"] == "run"
    listed = call("ops", "GET", "/v1/eval/runs")
    assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [run["id"]]
    shown = call("ops", "GET", f"/v1/eval/runs/{run['id']}").json()
    assert shown["figures"] == run["figures"] and [r["qid"] for r in shown["results"]] == [
        "q1",
        "q2",
    ]
    assert call("cara", "GET", f"/v1/eval/runs/{run['id']}").status_code == 403
    assert call("ops", "GET", "/v1/eval/runs/01NOSUCHRUN").status_code == 404
    for body in (
        {"questions": []},
        {"questions": two, "colour": "red"},
        {"questions": [{**QUESTIONS[0], "kind": "rumour"}]},
        {"questions": two * 251},
    ):
        r = call("ops", "POST", "/v1/eval/runs", body)
        assert r.status_code == 422, (body, r.text)
        assert set(r.json()["error"]) == {"code", "message", "request_id"}
    version = same_as_active(kb_rt)
    gate = {"baseline_run_id": run["id"], "candidate_version": version, "questions": two}
    assert call("cara", "POST", "/v1/eval/gate", gate).status_code == 403
    gated = call("ops", "POST", "/v1/eval/gate", gate)
    assert gated.status_code == 201, gated.text
    assert gated.json()["verdict"] == "pass" and gated.json()["baseline_run_id"] == run["id"]
    other = call("ops", "POST", "/v1/eval/gate", {**gate, "questions": QUESTIONS[:1]})
    assert other.status_code == 400 and other.json()["error"]["code"] == "bad_request"


_OPENED: list[str] | None = None


def _watch_opens(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _OPENED is not None and args and isinstance(args[0], str | Path):
        _OPENED.append(str(args[0]))


sys.addaudithook(_watch_opens)  # records only while a test sets _OPENED


def test_the_live_database_is_searched_through_sql_never_opened_as_a_file(kb_rt) -> None:
    """Closing any handle on a SQLite file drops every lock the process holds on it, after
    which another process may delete the write-ahead log under a running server (an outside
    review lost a server's writes this way after one evaluation run over HTTP)."""
    global _OPENED
    with kb_rt.store.write() as (s, _):
        kb_rt.store.set_meta(s, "planted", "jane.planted@example.com")
    _OPENED = []
    try:
        found = plaintext_found(kb_rt.settings.home, ["jane.planted@example.com"], kb_rt.store)
    finally:
        opened, _OPENED = _OPENED, None
    assert found == {"jane.planted@example.com"}  # found by SQL
    assert not [p for p in opened if Path(p).name.startswith("steward.db")], opened


def test_an_operator_cannot_evaluate_as_someone_who_reads_more(kb_rt) -> None:
    """fin reads the finance memo; ops does not: a run as fin would tell ops, by its figures,
    what the memo says."""
    ops = principal_for(kb_rt.store, "ops")
    as_fin = [{**QUESTIONS[0], "user": "fin"}]
    with pytest.raises(ForbiddenError, match="fin would show you answers"):
        kb_rt.evals.run(ops, _questions(as_fin), set_name="probe")
    assert kb_rt.evals.runs(ops) == []
