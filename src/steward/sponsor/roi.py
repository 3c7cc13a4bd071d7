"""ROI and TCO: typed costs and assumptions, measured telemetry, month-by-month accounts.

An ROI file (YAML, docs/usecases-roi.md) types in the one-time and recurring costs and the value
of each benefit (handling cost avoided per resolved question, ...). Volumes and model spend come
from the audit trail over a telemetry window (the rollups `steward report` reads, so a cost is
counted exactly as budgets and reports count it: tokens × the configured price). The window
stands for one or more plan months (``telemetry.months``; a compressed run or a sample says so
with ``scale``: each question in it stands for that many); the other months are projected, from
typed yearly volumes spread by the accrual or at the measured run rate.

The **accrual** says how a year's amounts reach its months, and the payback month depends on it:
``even`` (1/12 each), ``ramp`` (month m of a year gets (m-1)/66: a linear ramp from zero) or
twelve explicit weights. ``accrual`` applies to benefits, ``cost_accrual`` (default ``even``) to
yearly costs. ROI = (benefit - cost) / cost, per month, per year and cumulated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steward.core.errors import InputError
from steward.identity.authz import Permission
from steward.sponsor.roi_file import (
    WHAT,
    RoiFile,
    Scenario,
    Telemetry,
    accrual_name,
    horizon_years,
    load,
    weights,
)

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime


# ------------------------------------------------------------------ measured


def measure(rt: Runtime, t: Telemetry) -> dict[str, Any]:
    """The window's counts and spend from the rollups of the audit trail (whole hours, as
    `steward report`), and what one plan month of it is: the window × scale / months."""
    from steward.operations.report import report

    until = _aware(t.until) if t.until else datetime.now(UTC)
    since = _aware(t.since)
    if until <= since:
        raise InputError("telemetry.until must be after telemetry.since.")
    r = report(rt, center=t.center, since=until - since, now=until)
    c = r["counts"]
    questions = int(r["questions"])
    resolved = int(c["answered"]) - int(c["reopened"])
    deflected = questions - int(c["escalated"]) - int(c["handed_off_later"])
    window = {
        "questions": questions,
        "answered": int(c["answered"]),
        "resolved": resolved,
        "escalated": int(c["escalated"]),
        "deflected": deflected,
        "tokens_in": int(c["tokens_in"]),
        "tokens_out": int(c["tokens_out"]),
        "model_spend_usd": float(c["cost_usd"]),
        "unpriced": int(c["unpriced"]),
        "feedback": int(c["feedback"]),
        "satisfaction": r["satisfaction"],
    }
    factor = t.scale / t.months
    per_month = {
        k: window[k] * factor
        for k in ("questions", "answered", "resolved", "escalated", "deflected", "model_spend_usd")
    }
    return {
        "since": r["since"],
        "until": r["until"],
        "center": t.center,
        "scale": t.scale,
        "months": t.months,
        "first_month": t.first_month,
        "window": window,
        "per_month": per_month,
        "stands_for": (
            f"the window (whole hours, from the hour of {r['since'][:16]} through the hour of "
            f"{r['until'][:16]} UTC) × scale {t.scale:g} / {t.months} month(s) = each of plan "
            f"months {t.first_month}-{t.first_month + t.months - 1}"
        ),
    }


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _rate(typed: float | None, num: float, den: float) -> tuple[float | None, str]:
    if typed is not None:
        return typed, "typed"
    if den > 0:
        return num / den, "measured"
    return None, "none"


def rates(spec: RoiFile, measured: dict[str, Any] | None) -> dict[str, tuple[float | None, str]]:
    """The rates projected months use, each with where it came from."""
    p = spec.projection
    w = measured["window"] if measured else {}
    q = float(w.get("questions", 0))
    return {
        "resolution_rate": _rate(p.resolution_rate, w.get("resolved", 0), q),
        "deflection_rate": _rate(p.deflection_rate, w.get("deflected", 0), q),
        "answer_rate": _rate(p.answer_rate, w.get("answered", 0), q),
        "model_cost_per_question_usd": _rate(
            p.model_cost_per_question_usd, w.get("model_spend_usd", 0.0), q
        ),
    }


# ------------------------------------------------------------------ the accounts

VOLUMES = ("questions", "answered", "resolved", "deflected")
COST_PARTS = ("one_time", "recurring", "infrastructure", "model")
BENEFIT_PARTS = ("resolved", "deflected", "time_saved", "avoided_hires", "typed")
IDENTITY = Scenario()


class _Plan:
    """One scenario's accounts of a file, month by month."""

    def __init__(self, spec: RoiFile, measured: dict[str, Any] | None, scenario: Scenario) -> None:
        self.spec = spec
        self.measured = measured
        self.sc = scenario
        self.wb = weights(spec.accrual)
        self.wc = weights(spec.cost_accrual)
        self.rates = {k: v for k, (v, _o) in rates(spec, measured).items()}

    def _is_measured(self, m: int) -> bool:
        t = self.spec.telemetry
        return (
            self.measured is not None
            and t is not None
            and (t.first_month <= m < t.first_month + t.months)
        )

    def volumes(self, m: int) -> tuple[str, dict[str, float], float]:
        """(basis, volumes, model spend) of plan month ``m``."""
        if self._is_measured(m):
            assert self.measured is not None
            pm = self.measured["per_month"]
            return "measured", {v: float(pm[v]) for v in VOLUMES}, float(pm["model_spend_usd"])
        y, k = (m - 1) // 12 + 1, (m - 1) % 12
        per_year = self.spec.projection.questions_per_year
        if per_year is not None and y <= len(per_year):
            q = per_year[y - 1] * self.wb[k]
        elif self.measured is not None:
            q = float(self.measured["per_month"]["questions"])
        else:
            q = 0.0
        q *= self.sc.volume
        vols = {"questions": q}
        for name, rate in (
            ("answered", "answer_rate"),
            ("resolved", "resolution_rate"),
            ("deflected", "deflection_rate"),
        ):
            vols[name] = q * self._needed(rate, q, name)
        return "projected", vols, q * self._needed("model_cost_per_question_usd", q, "model")

    def _needed(self, rate: str, q: float, used_by: str) -> float:
        """A projection rate; missing, it is an error only where a figure depends on it."""
        value = self.rates[rate]
        b = self.spec.benefits
        uses = {
            "answered": b.time_saved is not None,
            "resolved": b.resolved is not None,
            "deflected": b.deflected is not None,
            "model": True,
        }
        if value is None:
            if q > 0 and uses[used_by]:
                raise InputError(
                    f"{WHAT}: projected months have questions but no {rate}: type "
                    f"projection.{rate} or add a telemetry window that measures it."
                )
            return 0.0
        return value

    def costs(self, m: int, vols: dict[str, float], model: float) -> dict[str, float]:
        y, k = (m - 1) // 12 + 1, (m - 1) % 12
        c = self.spec.costs
        one = sum(
            i.amount if i.month is not None else i.amount * self.wc[k]
            for i in c.one_time
            if (i.month == m) or (i.month is None and i.year == y)
        )
        rec = 0.0
        for r in c.recurring:
            if r.from_month <= m and (r.until_month is None or m <= r.until_month):
                rec += r.monthly if r.monthly is not None else (r.yearly or 0.0) * self.wc[k]
        infra = c.infrastructure.monthly_usd * c.infrastructure.share
        infra += c.infrastructure.per_question_usd * vols["questions"]
        f = self.sc.costs  # typed costs only: measured spend is a fact
        return {
            "one_time": one * f,
            "recurring": rec * f,
            "infrastructure": infra * f,
            "model": model,
        }

    def benefits(self, m: int, vols: dict[str, float]) -> dict[str, float]:
        y, k = (m - 1) // 12 + 1, (m - 1) % 12
        b = self.spec.benefits
        out = dict.fromkeys(BENEFIT_PARTS, 0.0)
        if b.resolved:
            out["resolved"] = vols["resolved"] * b.resolved.handling_cost_avoided_usd
        if b.deflected:
            out["deflected"] = vols["deflected"] * b.deflected.contact_cost_usd
        if b.time_saved:
            hours = vols["answered"] * b.time_saved.minutes_per_answer / 60
            out["time_saved"] = hours * b.time_saved.hourly_cost_usd
        h = b.avoided_hires
        if h and y >= h.from_year:
            out["avoided_hires"] = h.hires * h.yearly_cost_usd * self.wb[k]
        out["typed"] = sum(
            i.amount if i.month is not None else i.amount * self.wb[k]
            for i in b.typed
            if (i.month == m) or (i.month is None and i.year == y)
        )
        return {n: v * self.sc.benefits for n, v in out.items()}

    def months(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cum_cost = cum_benefit = 0.0
        for m in range(1, horizon_years(self.spec) * 12 + 1):
            basis, vols, model = self.volumes(m)
            costs = self.costs(m, vols, model)
            bens = self.benefits(m, vols)
            cost, benefit = sum(costs.values()), sum(bens.values())
            cum_cost += cost
            cum_benefit += benefit
            rows.append(
                {
                    "month": m,
                    "year": (m - 1) // 12 + 1,
                    "calendar": _calendar(self.spec.start, m),
                    "basis": basis,
                    "volumes": vols,
                    "costs": costs,
                    "benefits": bens,
                    "cost": cost,
                    "benefit": benefit,
                    "net": benefit - cost,
                    "roi": _roi(benefit, cost),
                    "cumulative_cost": cum_cost,
                    "cumulative_benefit": cum_benefit,
                    "cumulative_net": cum_benefit - cum_cost,
                    "cumulative_roi": _roi(cum_benefit, cum_cost),
                }
            )
        return rows


def _roi(benefit: float, cost: float) -> float | None:
    return (benefit - cost) / cost if cost > 0 else None


def _calendar(start: str | None, m: int) -> str | None:
    if start is None:
        return None
    y, mo = int(start[:4]), int(start[5:7])
    n = y * 12 + mo - 1 + m - 1
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def payback_month(months: list[dict[str, Any]]) -> int | None:
    """The first month from which the cumulative net stays at or above zero to the end of the
    plan (None: not within it). A cumulative net within a cent of zero counts as zero."""
    found: int | None = None
    for row in months:
        below = row["cumulative_net"] < -0.005
        found = None if below else (found or int(row["month"]))
    return found


def years_of(months: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for y in sorted({r["year"] for r in months}):
        rows = [r for r in months if r["year"] == y]
        cost = sum(r["cost"] for r in rows)
        benefit = sum(r["benefit"] for r in rows)
        out.append(
            {
                "year": y,
                "cost": cost,
                "benefit": benefit,
                "net": benefit - cost,
                "roi": _roi(benefit, cost),
                "costs": {p: sum(r["costs"][p] for r in rows) for p in COST_PARTS},
                "benefits": {p: sum(r["benefits"][p] for r in rows) for p in BENEFIT_PARTS},
                "measured_months": sum(r["basis"] == "measured" for r in rows),
            }
        )
    return out


def summary(months: list[dict[str, Any]]) -> dict[str, Any]:
    cost = sum(r["cost"] for r in months)
    benefit = sum(r["benefit"] for r in months)
    return {
        "cost": cost,
        "benefit": benefit,
        "net": benefit - cost,
        "cumulative_roi": _roi(benefit, cost),
        "payback_month": payback_month(months),
    }


# ------------------------------------------------------------------ the entry point


def assumptions(spec: RoiFile, measured: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every named assumption the figures use, with its value and where it came from."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, unit: str, origin: str = "typed") -> None:
        out.append({"name": name, "value": value, "unit": unit, "origin": origin})

    b = spec.benefits
    if b.resolved:
        add("handling_cost_avoided_usd", b.resolved.handling_cost_avoided_usd, "USD per resolved")
    if b.deflected:
        add("contact_cost_usd", b.deflected.contact_cost_usd, "USD per deflected contact")
    if b.time_saved:
        add("minutes_per_answer", b.time_saved.minutes_per_answer, "minutes per assisted answer")
        add("hourly_cost_usd", b.time_saved.hourly_cost_usd, "USD per hour")
    if b.avoided_hires:
        add("avoided_hires", b.avoided_hires.hires, f"hires from year {b.avoided_hires.from_year}")
        add("hire_yearly_cost_usd", b.avoided_hires.yearly_cost_usd, "USD per hire-year")
    infra = spec.costs.infrastructure
    if infra.monthly_usd or infra.per_question_usd:
        add("infrastructure_monthly_usd", infra.monthly_usd, "USD per month")
        add("infrastructure_share", infra.share, "share of it")
        add("infrastructure_per_question_usd", infra.per_question_usd, "USD per question")
    for name, (value, origin) in rates(spec, measured).items():
        if origin != "none":
            add(name, round(value, 6) if value is not None else None, "ratio or USD", origin)
    if spec.projection.questions_per_year is not None:
        add("questions_per_year", spec.projection.questions_per_year, "questions by year")
    if spec.telemetry:
        add("scale", spec.telemetry.scale, "questions each measured question stands for")
    add("accrual", accrual_name(spec.accrual), "benefits")
    add("cost_accrual", accrual_name(spec.cost_accrual), "yearly costs")
    return out


def _basis(spec: RoiFile, measured: dict[str, Any] | None, months: int) -> dict[str, str]:
    t = spec.telemetry
    if measured is not None and t is not None:
        last = t.first_month + t.months - 1
        m = f"plan months {t.first_month}-{last}: {measured['stands_for']}"
    else:
        m = "none (no telemetry window in the file)"
    per_year = spec.projection.questions_per_year
    if per_year is not None:
        how = "questions_per_year of the file, spread over each year's months by the accrual"
        if measured is not None and len(per_year) < months // 12:
            how += "; years it does not list at the measured run rate"
    elif measured is not None:
        how = "the measured run rate (questions a month), flat"
    else:
        how = ""
    projected = (
        f"the other months: volumes from {how}; rates as listed in assumptions"
        if how
        else "every month from typed amounts only (no question volume)"
    )
    return {
        "measured": m,
        "projected": projected,
        "typed": "one-time, recurring and infrastructure costs, each benefit's value, typed "
        "benefits and avoided hires: from the file, spread by the accrual where yearly",
    }


def compute(spec: RoiFile, measured: dict[str, Any] | None = None) -> dict[str, Any]:
    """The accounts of ``spec`` (the expected scenario) and the scenario table."""
    expected = spec.scenarios.get("expected", IDENTITY)
    months = _Plan(spec, measured, expected).months()
    table = []
    for name in ("pessimistic", "expected", "optimistic"):
        sc = spec.scenarios.get(name) if name != "expected" else expected
        if sc is None:
            continue
        rows = months if name == "expected" else _Plan(spec, measured, sc).months()
        table.append(
            {
                "scenario": name,
                "multipliers": sc.model_dump(),
                "years": [
                    {k: y[k] for k in ("year", "cost", "benefit", "net", "roi")}
                    for y in years_of(rows)
                ],
                **summary(rows),
            }
        )
    return {
        "name": spec.name,
        "currency": spec.currency,
        "start": spec.start,
        "horizon_months": len(months),
        "accrual": accrual_name(spec.accrual),
        "cost_accrual": accrual_name(spec.cost_accrual),
        "basis": _basis(spec, measured, len(months)),
        "assumptions": assumptions(spec, measured),
        "measured": measured,
        "months": months,
        "years": years_of(months),
        "totals": summary(months),
        "scenarios": table,
    }


def analyse(rt: Runtime, who: Principal, path: Path) -> dict[str, Any]:
    """The ROI and TCO of ``path`` for ``who`` (permission ``view-sponsor``): the telemetry
    window measured from the audit trail, the rest typed or projected."""
    rt.authz.authorize(who, Permission.VIEW_SPONSOR, "roi")
    spec = load(path)
    try:
        measured = measure(rt, spec.telemetry) if spec.telemetry else None
        data = compute(spec, measured)
    except InputError as exc:  # a mistake only the figures show: still named with its file
        raise InputError(f"ROI file {path}: {exc.message}") from exc
    data["file"] = str(path)
    data["warnings"] = []
    if measured and measured["window"]["unpriced"]:
        data["warnings"].append(
            f"{measured['window']['unpriced']} answer(s) in the window used a model with no "
            "price (STEWARD_PRICES): the model spend is at least what is shown."
        )
    if measured and not measured["window"]["questions"]:
        data["warnings"].append("The telemetry window holds no questions: check its dates.")
    out: dict[str, Any] = rounded(data)
    return out


def rounded(value: Any) -> Any:
    """Floats to 6 decimals (a model's spend per question is a fraction of a cent)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
