"""Operations commands: the six metrics (`steward report`) and the quality-review queue."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import AsUser, JsonOpt, _acting, _local_admin, _print_json, _runtime, out

review_app = typer.Typer(no_args_is_help=True, help="Answers flagged for review, and verdicts.")

CenterOpt = Annotated[
    str | None, typer.Option("--center", help="One center's figures (default: all centers).")
]
SinceOpt = Annotated[
    str, typer.Option("--since", help="The period before now: 24h, 7d, 30d, 12w, ...")
]


def report(center: CenterOpt = None, since: SinceOpt = "30d", as_json: JsonOpt = False) -> None:
    """The six metrics, adoption and deflection against their targets (docs/metrics.md)."""
    from steward.identity.authz import Permission
    from steward.operations.report import METRICS, parse_since, shown
    from steward.operations.report import report as make_report

    period = parse_since(since)  # bad input: one line on stderr, exit 2 (before any work)
    rt = _runtime()
    _acting(rt, Permission.VIEW_REPORTS, "report")
    data = make_report(rt, center=center, since=period)
    if as_json:
        _print_json(data)
        return
    title = f"{center or 'all centers'}, last {since}"
    table = Table("metric", "value", "target", "status", title=title)
    for name, (label, _meaning, unit) in METRICS.items():
        goal = data["targets"].get(name)
        target = f"{goal['comparison']} {shown(goal['target'], unit)}" if goal else ""
        table.add_row(label, shown(data.get(name), unit), target, data["status"].get(name) or "")
    out.print(table)


def _reviewer(rt: Any, as_user: str | None) -> Any:
    from steward.identity.auth import principal_for

    return principal_for(rt.store, as_user) if as_user else _local_admin()


@review_app.command("list")
def review_list(
    as_user: AsUser = None,
    status: Annotated[
        str | None, typer.Option(help="Only items in this state: open, claimed, reviewed.")
    ] = None,
    center: CenterOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="The most items to list.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Answers quality monitoring flagged: open first, oldest first."""
    rt = _runtime()
    rows = [v.as_dict() for v in rt.review.list(_reviewer(rt, as_user), status, center, limit)]
    if as_json:
        _print_json(rows)
        return
    table = Table("item", "flags", "center", "status", "verdict", "question")
    for r in rows:
        table.add_row(
            r["id"],
            ", ".join(r["flags"]),
            str(r["center"]),
            r["status"],
            r["verdict"] or "",
            r["question"][:80],
        )
    out.print(table)


@review_app.command("claim")
def review_claim(item_id: str, as_user: AsUser = None) -> None:
    """Take a review item."""
    rt = _runtime()
    rt.review.claim(_reviewer(rt, as_user), item_id)
    out.print(f"Claimed {item_id}.")


@review_app.command("verdict")
def review_verdict(
    item_id: str,
    verdict: Annotated[str, typer.Argument(help="right or wrong.")],
    note: Annotated[str, typer.Option("--note", help="Why (masked before it is kept).")] = "",
    as_user: AsUser = None,
) -> None:
    """Mark a flagged answer right or wrong (answer precision counts the verdicts)."""
    rt = _runtime()
    view = rt.review.verdict(_reviewer(rt, as_user), item_id, verdict, note)
    out.print(f"Marked {view.id} {view.verdict}.")
