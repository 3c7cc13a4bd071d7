"""Evaluation: ``steward eval --questions FILE`` (score, store nothing), and stored runs and
release gates: ``steward eval run | runs | show | gate``.

The CLI acts as the local operator (cli/common.py): runs and gates go through the same service
methods, permission checks and audit events as the HTTP API. ``eval gate`` exits 0 when the
candidate passes, 1 when a tolerance is broken, 2 on bad input (docs/evaluation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli import core
from steward.cli.common import JsonOpt, _print_json, _progress, _runtime, actor, fail, out

eval_app = typer.Typer(
    help="Score a question file; keep evaluation runs and gate profile versions on them.",
)

MAX_VERSION = 2**31 - 1  # the store's integer column
QuestionsOpt = Annotated[Path, typer.Option("--questions", "-q", help="Question JSONL file.")]


@eval_app.callback(invoke_without_command=True)
def eval_main(
    ctx: typer.Context,
    questions: Annotated[
        Path | None,
        typer.Option("--questions", "-q", help="Question JSONL file (score it, store nothing)."),
    ] = None,
    as_json: JsonOpt = False,
    details: Annotated[
        Path | None, typer.Option("--details", help="Write one JSON line per question here.")
    ] = None,
) -> None:
    """Score a question file and print the figures (`--questions FILE`), or keep and compare
    runs (`run`, `runs`, `show`, `gate`)."""
    if ctx.invoked_subcommand is not None:
        if questions is not None or details is not None:
            fail(
                f"Give --questions after the command: `steward eval {ctx.invoked_subcommand} ...`."
            )
        return
    if questions is None:
        out.print(ctx.get_help(), markup=False)
        raise typer.Exit(0)
    core.eval_cmd(questions, as_json, details)


def _run_questions(path: Path) -> list[Any]:
    from steward.evals.runner import load_questions

    return load_questions(path)


def _figures_table(figures: dict[str, Any], title: str | None = None) -> Table:
    table = Table("metric", "value", title=title)
    for k, v in figures.items():
        table.add_row(k, ", ".join(map(str, v)) or "none" if isinstance(v, list) else str(v))
    return table


@eval_app.command("run")
def eval_run(
    questions: QuestionsOpt,
    profile: Annotated[
        int | None,
        typer.Option(
            "--profile",
            min=1,
            max=MAX_VERSION,
            help="Answer as this profile version (default: active).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a question file, store the run, and print its figures with its run id."""
    rt = _runtime()
    qs = _run_questions(questions)
    with _progress() as bar:
        task = bar.add_task("evaluating", total=len(qs))
        run = rt.evals.run(
            actor(rt),
            qs,
            profile_version=profile,
            set_name=questions.name,
            progress=lambda _s: bar.advance(task),
        )
    if as_json:
        _print_json({"run_id": run.id, "profile_version": run.profile_version, **run.figures})
        return
    out.print(f"Run {run.id} stored (profile version {run.profile_version}).", markup=False)
    out.print(_figures_table(run.figures))


@eval_app.command("runs")
def eval_runs(limit: int = 20, as_json: JsonOpt = False) -> None:
    """Stored runs, newest first."""
    from steward.evals.runs import run_dict

    rt = _runtime()
    rows = rt.evals.runs(actor(rt), limit)
    if as_json:
        _print_json([run_dict(r) for r in rows])
        return
    if not rows:
        out.print("No evaluation run is stored; `steward eval run --questions FILE` makes one.")
        return
    table = Table("id", "kind", "profile", "set", "questions", "accuracy", "leaks", "verdict")
    for r in rows:
        table.add_row(
            r.id,
            r.kind,
            str(r.profile_version),
            r.set_name,
            str(r.questions),
            str(r.figures.get("accuracy")),
            str(r.figures.get("leaks")),
            r.verdict or "",
        )
    out.print(table)


@eval_app.command("show")
def eval_show(run_id: str, as_json: JsonOpt = False) -> None:
    """One run: its figures, its comparison (a gate) and each question's outcome."""
    from steward.evals.runs import result_dict, run_dict

    rt = _runtime()
    run, results = rt.evals.show(actor(rt), run_id)
    if as_json:
        _print_json({**run_dict(run), "results": [result_dict(r) for r in results]})
        return
    out.print(
        f"Run {run.id}: {run.kind}, profile version {run.profile_version}, {run.set_name} "
        f"({run.questions} questions), by {run.author}"
        + (f", verdict {run.verdict}" if run.verdict else ""),
        markup=False,
    )
    out.print(_figures_table(run.figures))
    if run.comparison:
        _print_comparison(run.comparison)
    table = Table("question", "kind", "expected", "action", "correct", "leak", "audit id")
    for r in results:
        table.add_row(
            r.qid,
            r.kind,
            r.expected,
            r.action,
            "withheld" if r.correct is None else str(r.correct),
            str(r.leak),
            r.audit_id,
        )
    out.print(table)


def _print_comparison(c: dict[str, Any]) -> None:
    for group in ("fixed", "broken", "still_wrong"):
        rows = c["changes"][group]
        out.print(f"{group.replace('_', ' ')}: {len(rows)}", markup=False)
        for r in rows:
            out.print(
                f"  {r['qid']} ({r['kind']}): {r['baseline']} -> {r['candidate']}", markup=False
            )
    m = c["mcnemar"]
    out.print(
        f"still right: {c['still_right']}; McNemar exact p = {m['p_value']} "
        f"({m['fixed']} fixed, {m['broken']} broken)",
        markup=False,
    )
    table = Table("figure", "limit", "baseline", "candidate", "p", "status")
    for t in c["tolerances"]:
        table.add_row(
            t["figure"],
            t["limit"],
            str(t["baseline"]),
            str(t["candidate"]),
            str(t.get("p_value", "")),
            t["status"],
        )
    out.print(table)
    for line in c["failures"]:
        out.print(f"FAIL {line}", markup=False)


@eval_app.command("gate")
def eval_gate(
    baseline: Annotated[str, typer.Option("--baseline", help="The baseline run's id.")],
    candidate: Annotated[
        int,
        typer.Option("--candidate", min=1, max=MAX_VERSION, help="The candidate profile version."),
    ],
    questions: QuestionsOpt,
    tolerances: Annotated[
        Path | None,
        typer.Option("--tolerances", help="Tolerance YAML (default STEWARD_EVAL_TOLERANCES)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a candidate version on the baseline's questions and compare: exit 0 pass, 1 fail."""
    from steward.evals.gate import load_tolerances

    rt = _runtime()
    tol = load_tolerances(tolerances or rt.settings.control.eval_tolerances)
    qs = _run_questions(questions)
    with _progress() as bar:
        task = bar.add_task("gating", total=len(qs))
        run = rt.evals.gate(
            actor(rt),
            baseline,
            candidate,
            qs,
            tol,
            set_name=questions.name,
            progress=lambda _s: bar.advance(task),
        )
    assert run.comparison is not None
    if as_json:
        _print_json(
            {
                "run_id": run.id,
                "verdict": run.verdict,
                "profile_version": run.profile_version,
                "baseline_run_id": run.baseline_run_id,
                "figures": run.figures,
                "comparison": run.comparison,
            }
        )
    else:
        out.print(
            f"Gate run {run.id}: candidate {candidate} against run {baseline}: {run.verdict}",
            markup=False,
        )
        _print_comparison(run.comparison)
    if run.verdict != "pass":
        raise typer.Exit(1)
