"""Evaluation sets from what happened (``steward eval set from-corrections | sample | check``)
and learning from reviewers (``steward learn``): docs/evaluation.md, docs/profiles.md.

The CLI acts as the local operator (cli/common.py), or as ``STEWARD_ACTOR_KEY``'s user, through
the same service methods and permission checks as the HTTP API.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, err, fail, out

set_app = typer.Typer(
    no_args_is_help=True,
    help="Question sets from reviewers' corrections and sampled production questions.",
)
OutOpt = Annotated[Path, typer.Option("--out", help="Write the questions here (JSONL).")]
CenterOpt = Annotated[str | None, typer.Option("--center", help="Only this center.")]


def _window(since: str) -> timedelta:
    from steward.operations.report import parse_since

    return parse_since(since)  # bad input: one line on stderr, exit 2, before any work


@set_app.command("from-corrections")
def set_from_corrections(
    dest: OutOpt,
    since: Annotated[str, typer.Option("--since", help="Verdicts and corrections since.")] = "30d",
    center: CenterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reviewers' verdicts and saved corrections as a masked question file."""
    from steward.evals.sets import from_corrections, write

    window = _window(since)
    rt = _runtime()
    rows = from_corrections(rt, actor(rt), window, center)
    n = write(dest, rows)
    if as_json:
        _print_json({"questions": n, "out": str(dest)})
        return
    out.print(f"Wrote {n} questions from reviewers' verdicts and corrections to {dest}.")


@set_app.command("sample")
def set_sample(
    dest: OutOpt,
    since: Annotated[str, typer.Option("--since", help="Questions asked since.")] = "7d",
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="How many to draw.")] = 50,
    center: CenterOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Same seed, same draw.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw askers' masked questions at random, unlabelled, for a reviewer to label."""
    from steward.evals.sets import sample, write

    window = _window(since)
    rt = _runtime()
    rows = sample(rt, actor(rt), window, n, center=center, seed=seed)
    written = write(dest, rows)
    if as_json:
        _print_json({"questions": written, "out": str(dest)})
        return
    out.print(
        f"Wrote {written} unlabelled questions to {dest}: set each line's kind and "
        "expected_action, then `steward eval set check` it."
    )


@set_app.command("check")
def set_check(
    file: Annotated[Path, typer.Argument(help="A question file (JSONL).")],
    as_json: JsonOpt = False,
) -> None:
    """Say which lines still wait for a label: exit 0 when none does, 1 otherwise."""
    from steward.evals.sets import check

    total, left = check(file)
    if as_json:
        _print_json({"questions": total, "unlabelled": [{"line": n, "id": i} for n, i in left]})
    elif left:
        table = Table("line", "id", title=f"{len(left)} of {total} questions are unlabelled")
        for n, qid in left:
            table.add_row(str(n), qid)
        out.print(table)
    else:
        out.print(f"All {total} questions are labelled.")
    if left:
        raise typer.Exit(1)


def learn_cmd(
    since: Annotated[
        str, typer.Option("--since", help="Reviewers' verdicts and corrections since.")
    ] = "90d",
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            help="Folder of base examples, one sub-folder per detector (default HOME/training).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrain the learned detectors with reviewers' verdicts and corrections; the new models
    become a draft profile version to gate (docs/profiles.md)."""
    from steward.evals.learn import learn

    window = _window(since)
    if base is not None and not base.is_dir():
        fail(f"--base {base} is not a folder.")
    rt = _runtime()
    result = learn(rt, actor(rt, named=True), window, base=base)  # writes a version
    if as_json:
        _print_json(result)
        return
    table = Table("detector", "outcome")
    for name, o in result["detectors"].items():
        said = (
            f"retrained: {o['base']} base + {o['reviewers']} reviewers' examples"
            if o["status"] == "retrained"
            else f"skipped: {o['reason']}"
        )
        table.add_row(name, said)
    out.print(table)
    if result["version"] is None:
        err.print("No detector was retrained: no new profile version.", markup=False)
        return
    out.print(
        f"Draft profile version {result['version']} (from {result['parent']}) uses the new "
        f"models in {result['path']}: publish it and gate it (`steward eval gate`).",
        markup=False,
    )
