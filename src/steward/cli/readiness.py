"""Data readiness: ``steward readiness [--json]`` audits the knowledge now and shows it per source
and per use case with the change against the previous run; ``show``, ``trend`` and ``findings``
read the kept runs (sponsor/readiness/, docs/readiness.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, out, printable

readiness_app = typer.Typer(
    invoke_without_command=True,
    help="Data readiness audit: usable share, duplicates, missing metadata, stale and superseded "
    "items, contradictions, PII density, access-list coverage; per source and use case.",
)
UseCasesOpt = Annotated[
    Path | None,
    typer.Option(
        "--use-cases",
        help="Portfolio file naming each use case's sources (as `steward usecases score`); "
        "default STEWARD_USECASES_FILE, else HOME/usecases.yaml, else the previous run's.",
    ),
]
# (figure, column title, how it is shown)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("items", "items", "n"),
    ("usable_share", "usable", "%"),
    ("exact_duplicates", "exact dup", "n"),
    ("near_duplicates", "near dup", "n"),
    ("missing_owner", "no owner", "n"),
    ("missing_date", "no date", "n"),
    ("missing_acl", "no ACL", "n"),
    ("stale", "stale", "n"),
    ("superseded", "superseded", "n"),
    ("superseded_citations", "cited", "n"),
    ("contradictions", "contradictions", "n"),
    ("injections", "injections", "n"),
    ("pii_per_1k_chars", "PII/1k chars", "f"),
    ("acl_coverage", "ACL coverage", "%"),
)


@readiness_app.callback()
def readiness(ctx: typer.Context, as_json: JsonOpt = False, use_cases: UseCasesOpt = None) -> None:
    """Audit the knowledge now and show each source and use case, with the change against the
    previous run (the run is kept for the trend)."""
    if ctx.invoked_subcommand is not None:
        return
    from steward.sponsor.readiness import load_use_cases, run

    rt = _runtime()
    given = load_use_cases(use_cases) if use_cases is not None else None
    report = run(rt, actor(rt), use_cases=given)
    if as_json:
        _print_json(report)
    else:
        _print(report)


@readiness_app.command("show")
def show(as_json: JsonOpt = False) -> None:
    """The latest run (after a sync, or the last `steward readiness`), without running again."""
    from steward.sponsor.readiness import latest

    rt = _runtime()
    report = latest(rt, actor(rt))
    if as_json:
        _print_json(report)
    elif report is None:
        out.print("No readiness run yet: run `steward readiness` (or sync a source).")
    else:
        _print(report)


@readiness_app.command("trend")
def trend_cmd(
    last: Annotated[int, typer.Option("--last", min=1, max=500, help="How many runs.")] = 12,
    as_json: JsonOpt = False,
) -> None:
    """The last runs' headline figures, newest first."""
    from steward.sponsor.readiness import trend

    rt = _runtime()
    rows = trend(rt, actor(rt), last)
    if as_json:
        _print_json(rows)
        return
    table = Table("run", "when", "trigger", "items", "usable", "stale", "contradictions", "PII/1k")
    for r in rows:
        table.add_row(
            r["id"],
            r["created_at"][:19],
            r["trigger"],
            str(r["items"]),
            _pct(r["usable_share"]),
            str(r["stale"]),
            str(r["contradictions"]),
            f"{r['pii_per_1k_chars']:.2f}",
        )
    out.print(table)


@readiness_app.command("findings")
def findings_cmd(
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="superseded | contradiction | injection | exact-duplicate | near-duplicate",
        ),
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="A run id (default: latest).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A run's findings: the documents behind the figures (ids and values, no text)."""
    from steward.sponsor.readiness import findings

    rt = _runtime()
    rows = findings(rt, actor(rt), run_id=run_id, kind=kind, limit=5000)
    if as_json:
        _print_json(rows)
        return
    for f in rows:
        out.print(_finding_line(f), markup=False)
    if not rows:
        out.print("No findings.")


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _cell(fig: dict[str, Any], delta: dict[str, Any], key: str, how: str) -> str:
    value = fig.get(key)
    shown = _pct(value) if how == "%" else (f"{value:.2f}" if how == "f" else str(value))
    d = delta.get(key)
    if d:
        step = f"{d:+.1%}" if how == "%" else (f"{d:+.2f}" if how == "f" else f"{d:+g}")
        shown += f" ({step})"
    return shown


def _table(title: str, rows: dict[str, Any], changes: dict[str, Any]) -> Table:
    table = Table(title, *(c[1] for c in COLUMNS), title_justify="left")
    for name, fig in rows.items():
        cells = [_cell(fig, changes.get(name, {}), key, how) for key, _, how in COLUMNS]
        table.add_row(printable(name), *cells)
    return table


def _print(report: dict[str, Any]) -> None:
    run, fig, change = report["run"], report["figures"], report["change"]
    totals = fig["totals"]
    prev = report["previous"]
    against = f"change against run {prev['id']}" if prev else "first run: no change to show"
    out.print(
        f"Readiness run {run['id']} ({run['trigger']}, knowledge version {run['kb_version']}): "
        f"{totals['items']} items, {totals['usable']} usable "
        f"({_pct(totals['usable_share'])}); {against}.",
        markup=False,
    )
    out.print("Usable means: " + "; ".join(fig["usable_means"]) + ".", markup=False)
    out.print(_table("source", {**fig["sources"], "(all)": totals}, {
        **change["sources"], "(all)": change["totals"]}))  # fmt: skip
    if fig["use_cases"]:
        out.print(_table("use case", fig["use_cases"], change["use_cases"]))
    counts = ", ".join(f"{n} {k}" for k, n in report["findings"].items() if n)
    out.print(
        f"Findings: {counts or 'none'} (`steward readiness findings` lists them).", markup=False
    )


def _finding_line(f: dict[str, Any]) -> str:
    d = f["detail"]
    head = f"{f['kind']}: {printable(f['doc_id'])}"
    if f["kind"] == "contradiction":
        values = "; ".join(f"{a} vs {b}" for a, b in d["values"])
        newer = f", newer: {printable(d['newer'])}" if d.get("newer") else ""
        terms = " ".join(d["terms"])
        return f"{head} vs {printable(f['other_doc_id'])}: {values} ({terms}{newer})"
    if f["kind"] == "superseded":
        by = printable(f["other_doc_id"]) if f["other_doc_id"] else "?"
        return f"{head} superseded by {by}; cited by {d['citations']} answer(s) lately"
    if f["kind"] == "injection":
        return f"{head}: {d['held_chunks']} chunk(s) held ({'; '.join(d['reasons'])})"
    return f"{head} duplicates {printable(f['other_doc_id'])} (similarity {d['similarity']})"
