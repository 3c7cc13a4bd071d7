"""Monthly cost budgets: ``steward budget status`` (operations/budgets.py, docs/costs.md).

The CLI acts as the local operator (cli/common.py), through the same permission check as the
HTTP API's ``GET /v1/costs``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, out

budget_app = typer.Typer(no_args_is_help=True, help="Monthly cost budgets and spend per model.")

Month = Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: this month, UTC).")]


@budget_app.command("status")
def status(month: Month = None, as_json: JsonOpt = False) -> None:
    """Spend, budget, percent and level of each budget this month, and the cost per model."""
    rt = _runtime()
    data = rt.budgets.status(actor(rt), month)
    if as_json:
        _print_json(data)
        return
    _print(data)


def _print(data: dict[str, Any]) -> None:
    total = f"${data['total_usd']:,.4f}"
    unpriced = f" ({data['unpriced']} unpriced requests)" if data["unpriced"] else ""
    out.print(f"Spend in {data['month']}: {total}{unpriced}", markup=False)
    if data["budgets"]:
        table = Table("budget", "spent", "monthly", "percent", "level", "hard stop")
        for b in data["budgets"]:
            stop = f"-> {b['degrade_to']}" if b["hard_stop"] else "no"
            if b["degrading"]:
                stop += " (degrading now)"
            table.add_row(
                b["budget"],
                f"${b['spent_usd']:,.4f}",
                f"${b['monthly_usd']:,.2f}",
                f"{b['percent']:.1f}%",
                f"{b['level']}%" if b["level"] else "-",
                stop,
            )
        out.print(table)
    else:
        out.print("No budgets (write STEWARD_BUDGETS_FILE, default HOME/budgets.yaml).")
    if data["models"]:
        models = Table("model", "cost")
        for m in data["models"]:
            models.add_row(m["model"], f"${m['cost_usd']:,.4f}")
        out.print(models)
