"""Rollout in waves behind success gates: ``steward rollout status|open|close|evaluate|check``.

Who acts is the API key in ``STEWARD_ACTOR_KEY``, else the local operator (cli/common.py); every
change goes through the same service method, permission check and audit event as the console.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, out, printable

rollout_app = typer.Typer(
    no_args_is_help=True,
    help="Use cases rolled out in waves behind success gates (docs/rollout.md).",
)

UseCaseArg = Annotated[str, typer.Argument(help="The use case's id in the rollout file.")]
WaveArg = Annotated[str, typer.Argument(help="The wave's id in the use case.")]


def _shown(value: float | None, unit: str) -> str:
    from steward.operations.report import shown

    return shown(value, unit)


def _limit(value: float, unit: str) -> str:
    return _shown(value, unit) if unit != "count" else f"{value:g}"


def _print_usecase(uc: dict[str, Any]) -> None:
    out.print(
        f"{printable(uc['id'])} ({printable(uc['title'] or 'untitled')}): phase {uc['phase']}, "
        f"askers outside the open waves: {uc['previous']}",
        markup=False,
    )
    waves = Table("wave", "who", "open", "since", "questions", "note")
    for w in uc["waves"]:
        note = f"override: {w['override']}" if w["open"] and w["override"] else ""
        if not w["open"] and w["close_reason"]:
            note = f"closed by {w['closed_by']}: {w['close_reason']}"
        since = (w["opened_at"] if w["open"] else w["closed_at"]) or ""
        waves.add_row(
            w["id"],
            w["criteria"],
            "yes" if w["open"] else "no",
            since[:19],
            str(w["questions"]),
            printable(note),
        )
    out.print(waves)
    gates = Table("gate", "needs", "live figure", "sample", "status")
    for g in uc["gates"]:
        need = f"{g['comparison']} {_limit(g['threshold'], g['unit'])} over {g['window']}"
        gates.add_row(
            g["metric"],
            need,
            _shown(g["value"], g["unit"]),
            f"{g['sample']} (min {g['min_sample']})",
            g["status"],
        )
    for g in uc["guards"]:
        need = f"closes when {g['comparison']} {_limit(g['limit'], g['unit'])} over {g['window']}"
        gates.add_row(
            f"guard {g['metric']}",
            need,
            _shown(g["value"], g["unit"]),
            f"{g['sample']} (min {g['min_sample']})",
            "crossed" if g["crossed"] else "ok",
        )
    out.print(gates)
    if uc["next_wave"] is None:
        out.print("Every wave is open.")
    elif uc["may_open"]:
        out.print(f"The next wave, {uc['next_wave']}, may open.", markup=False)
    else:
        why = "; ".join(uc["blocked_by"])
        out.print(f"The next wave, {uc['next_wave']}, may not open: {why}.", markup=False)


@rollout_app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Each use case: its waves, its gates with the live figures, and whether the next wave
    may open."""
    rt = _runtime()
    data = rt.rollout.status(actor(rt))
    if as_json:
        _print_json(data)
        return
    if not data["usecases"]:
        out.print(f"No use case is rolled out: write {rt.rollout.path} (docs/rollout.md).")
        return
    for uc in data["usecases"]:
        _print_usecase(uc)


@rollout_app.command("open")
def open_wave(
    usecase: UseCaseArg,
    wave: WaveArg,
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            help="Open although the gates do not pass; the reason is kept in the audit trail.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open the next wave of a use case (its gates must pass, or --override REASON)."""
    rt = _runtime()
    done = rt.rollout.open(actor(rt), usecase, wave, override=override)
    if as_json:
        _print_json(done)
        return
    how = " (override)" if done["override"] else ""
    out.print(f"Wave {done['wave']} of {done['usecase']} is open{how}.", markup=False)


@rollout_app.command("close")
def close_wave(
    usecase: UseCaseArg,
    wave: WaveArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    as_json: JsonOpt = False,
) -> None:
    """Close an open wave: its askers get the previous behaviour again."""
    rt = _runtime()
    done = rt.rollout.close(actor(rt), usecase, wave, reason=reason)
    if as_json:
        _print_json(done)
        return
    out.print(f"Wave {done['wave']} of {done['usecase']} is closed.", markup=False)


@rollout_app.command("evaluate")
def evaluate(as_json: JsonOpt = False) -> None:
    """Check the guard metrics now (as `steward serve` does every STEWARD_ROLLOUT_INTERVAL_S)
    and close the newest wave of each use case whose guard crossed its limit."""
    rt = _runtime()
    from steward.identity.authz import Permission

    rt.authz.authorize(actor(rt), Permission.MANAGE_ROLLOUT, "rollout")
    closed = rt.rollout.evaluate()
    if as_json:
        _print_json({"closed": closed})
        return
    if not closed:
        out.print("No guard metric crossed its limit.")
    for c in closed:
        out.print(f"Closed wave {c['wave']} of {c['usecase']}: {c['reason']}.", markup=False)


@rollout_app.command("check")
def check(
    path: Annotated[
        Path | None, typer.Argument(help="A rollout file (default: the configured one).")
    ] = None,
) -> None:
    """Validate a rollout file: one line per use case, or the line and field of a mistake."""
    from steward.sponsor.rollout_file import load_plan

    if path is None:
        rt = _runtime()
        path = rt.rollout.path
    plan = load_plan(path)
    for uc in plan.usecases:
        out.print(
            f"{uc.id}: phase {uc.phase}, {len(uc.waves)} waves, {len(uc.gates)} gates, "
            f"{len(uc.guards)} guards",
            markup=False,
        )
