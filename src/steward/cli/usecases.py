"""The sponsor's figures: ``steward usecases score FILE`` and ``steward roi FILE``
(sponsor/usecases.py, sponsor/roi.py, docs/usecases-roi.md).

Both read a YAML file the sponsor writes and the telemetry Steward already keeps; both act as
the local operator (or ``STEWARD_ACTOR_KEY``'s user), who must hold ``view-sponsor``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, out, printable

usecases_app = typer.Typer(no_args_is_help=True, help="Rank candidate use cases on evidence.")

FileArg = Annotated[Path, typer.Argument(help="The YAML file (docs/usecases-roi.md).")]


@usecases_app.command("score")
def score(file: FileArg, as_json: JsonOpt = False) -> None:
    """Rank the use cases of FILE on weighted criteria and explain each score."""
    from steward.sponsor.usecases import score as ranked

    rt = _runtime()
    data = ranked(rt, actor(rt), file)
    if as_json:
        _print_json(data)
        return
    w = data["weights"]
    out.print(
        "Weights: " + ", ".join(f"{c.replace('_', ' ')} {v:.0%}" for c, v in w.items()),
        markup=False,
    )
    table = Table("rank", "use case", "score", *(c.replace("_", " ") for c in w), "why")
    for r in data["ranking"]:
        cells = [
            f"{c['value']:g} × {c['weight']:.0%} = {c['contribution']:.2f}"
            + ("" if c["origin"] == "typed" else f" ({c['origin']})")
            for c in r["criteria"]
        ]
        table.add_row(
            str(r["rank"]),
            printable(r["name"]),
            f"{r['score']:.2f}",
            *cells,
            printable(r["explanation"]),
        )
    out.print(table)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def _usd(v: float) -> str:
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v):,.2f}" if abs(v) >= 1 or v == 0 else f"{sign}${abs(v):,.6f}"


def roi(file: FileArg, as_json: JsonOpt = False) -> None:
    """ROI and TCO of FILE: typed costs, measured telemetry, per month, year and scenario."""
    from steward.sponsor.roi import analyse

    rt = _runtime()
    data = analyse(rt, actor(rt), file)
    if as_json:
        _print_json(data)
        return
    _print_roi(data)


def _print_roi(data: dict[str, Any]) -> None:
    title = printable(data["name"] or data["file"])
    out.print(
        f"{title}: accrual of benefits {data['accrual']}; of yearly costs {data['cost_accrual']}",
        markup=False,
    )
    for k, v in data["basis"].items():
        out.print(f"{k}: {printable(v)}", markup=False)
    t = data["totals"]
    pay = t["payback_month"]
    out.print(
        f"Total cost {_usd(t['cost'])}, benefit {_usd(t['benefit'])}, net {_usd(t['net'])}, "
        f"cumulative ROI {_pct(t['cumulative_roi'])}, payback "
        + (f"month {pay}" if pay else "not within the plan"),
        markup=False,
    )
    years = Table("year", "cost", "benefit", "net", "ROI", "measured months", title="By year")
    for y in data["years"]:
        years.add_row(
            str(y["year"]),
            _usd(y["cost"]),
            _usd(y["benefit"]),
            _usd(y["net"]),
            _pct(y["roi"]),
            str(y["measured_months"]),
        )
    out.print(years)
    months = Table(
        "month",
        "basis",
        "questions",
        "cost",
        "benefit",
        "net",
        "ROI",
        "cumulative net",
        "cumulative ROI",
        title="By month",
    )
    for m in data["months"]:
        label = str(m["month"]) + (f" ({m['calendar']})" if m["calendar"] else "")
        months.add_row(
            label,
            m["basis"],
            f"{m['volumes']['questions']:,.0f}",
            _usd(m["cost"]),
            _usd(m["benefit"]),
            _usd(m["net"]),
            _pct(m["roi"]),
            _usd(m["cumulative_net"]),
            _pct(m["cumulative_roi"]),
        )
    out.print(months)
    sc = Table(
        "scenario",
        "multiplies",
        *(f"year {y['year']} ROI" for y in data["years"]),
        "cumulative ROI",
        "payback month",
        title="Scenarios",
    )
    for s in data["scenarios"]:
        mult = ", ".join(f"{k} ×{v:g}" for k, v in s["multipliers"].items())
        sc.add_row(
            s["scenario"],
            mult,
            *(_pct(y["roi"]) for y in s["years"]),
            _pct(s["cumulative_roi"]),
            str(s["payback_month"] or "none"),
        )
    out.print(sc)
    table = Table("assumption", "value", "unit", "from", title="Assumptions")
    for a in data["assumptions"]:
        table.add_row(a["name"], printable(a["value"]), a["unit"], a["origin"])
    out.print(table)
    for w in data.get("warnings", []):
        out.print(f"warning: {w}", markup=False)
