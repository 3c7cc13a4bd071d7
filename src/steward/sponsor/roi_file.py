"""The ROI file (sponsor/roi.py reads it): typed costs, benefit values, the telemetry window,
the projection, the accrual and the scenarios, each checked (``extra="forbid"``), and the
accrual's monthly weights. docs/usecases-roi.md describes every key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from steward.config.yamlfile import NoBoolNumbers, load_yaml
from steward.core.errors import InputError

WHAT = "ROI file"
MAX_YEARS = 10
RAMP_DENOMINATOR = 66  # 0 + 1 + ... + 11: the ramp's twelve weights (m-1)/66 sum to 1
# At most a trillion: a bigger figure is a typo, and sums of bigger ones overflow to infinity.
Money = Field(ge=0, le=1e12, description="USD")
Accrual = Literal["even", "ramp"] | list[float]
ScenarioName = Literal["pessimistic", "expected", "optimistic"]


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Item(_Strict):
    """An amount of one year (spread over its months by the accrual) or of one plan month."""

    name: str = Field(min_length=1, max_length=100)
    amount: float = Money
    year: int = Field(default=1, ge=1, le=MAX_YEARS)
    month: int | None = Field(default=None, ge=1, le=12 * MAX_YEARS)

    @model_validator(mode="after")
    def _when(self) -> Item:
        if self.month is not None and "year" in self.model_fields_set:
            raise ValueError(f"{self.name!r}: give year or month, not both")
        return self


class Recurring(_Strict):
    """A cost paid every month (``monthly``) or every year (``yearly``, spread by the accrual)."""

    name: str = Field(min_length=1, max_length=100)
    monthly: float | None = Field(default=None, ge=0, le=1e12)
    yearly: float | None = Field(default=None, ge=0, le=1e12)
    from_month: int = Field(default=1, ge=1, le=12 * MAX_YEARS)
    until_month: int | None = Field(default=None, ge=1, le=12 * MAX_YEARS)

    @model_validator(mode="after")
    def _one_amount(self) -> Recurring:
        if (self.monthly is None) == (self.yearly is None):
            raise ValueError(f"recurring cost {self.name!r}: give monthly or yearly (one)")
        if self.until_month is not None and self.until_month < self.from_month:
            raise ValueError(
                f"recurring cost {self.name!r}: until_month {self.until_month} is before "
                f"from_month {self.from_month}"
            )
        return self


class Infrastructure(_Strict):
    """The assistant's share of shared infrastructure: ``monthly_usd × share`` each month, plus
    ``per_question_usd`` for each question (measured or projected)."""

    monthly_usd: float = Money
    share: float = Field(default=1.0, ge=0, le=1)
    per_question_usd: float = Field(default=0.0, ge=0)


class Costs(_Strict):
    one_time: list[Item] = Field(default_factory=list)
    recurring: list[Recurring] = Field(default_factory=list)
    infrastructure: Infrastructure = Field(default_factory=lambda: Infrastructure(monthly_usd=0))


class Resolved(_Strict):
    handling_cost_avoided_usd: float = Money  # per resolved question


class Deflected(_Strict):
    contact_cost_usd: float = Money  # per deflected contact


class TimeSaved(_Strict):
    minutes_per_answer: float = Field(ge=0)  # per assisted answer
    hourly_cost_usd: float = Money


class AvoidedHires(_Strict):
    hires: float = Field(ge=0)
    yearly_cost_usd: float = Money
    from_year: int = Field(default=1, ge=1, le=MAX_YEARS)


class Benefits(_Strict):
    resolved: Resolved | None = None
    deflected: Deflected | None = None
    time_saved: TimeSaved | None = None
    avoided_hires: AvoidedHires | None = None
    typed: list[Item] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_double_count(self) -> Benefits:
        # Every resolved question is also a contact that never needed a person: valuing both
        # counts the same question twice (and an "I don't know" is deflected, not resolved).
        if self.resolved is not None and self.deflected is not None:
            raise ValueError(
                "`resolved` and `deflected` overlap (every resolved question is also a "
                "deflected contact): value one of them"
            )
        return self


class Telemetry(_Strict):
    """The measured window and what it stands for."""

    since: datetime
    until: datetime | None = None  # default: now
    center: str | None = Field(default=None, max_length=64)
    months: int = Field(default=1, ge=1, le=12 * MAX_YEARS)
    first_month: int = Field(default=1, ge=1, le=12 * MAX_YEARS)
    scale: float = Field(default=1.0, gt=0, le=1e9)

    @model_validator(mode="after")
    def _window(self) -> Telemetry:
        def utc(ts: datetime) -> datetime:
            return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

        if self.until is not None and utc(self.until) <= utc(self.since):
            raise ValueError("`until` must be after `since`")
        return self


class Projection(_Strict):
    """How months beyond the telemetry are projected; a rate left out is the measured one."""

    questions_per_year: list[float] | None = None
    resolution_rate: float | None = Field(default=None, ge=0, le=1)
    deflection_rate: float | None = Field(default=None, ge=0, le=1)
    answer_rate: float | None = Field(default=None, ge=0, le=1)
    model_cost_per_question_usd: float | None = Field(default=None, ge=0)

    @field_validator("questions_per_year")
    @classmethod
    def _volumes(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(not 0 <= v <= 1e12 for v in value):
            raise ValueError("questions_per_year are zero to a trillion")
        return value


class Scenario(_Strict):
    """Multipliers: ``benefits`` on every benefit's value, ``costs`` on every typed cost,
    ``volume`` on projected question volumes. Measured counts and spend are never multiplied."""

    benefits: float = Field(default=1.0, ge=0, le=1000)
    costs: float = Field(default=1.0, ge=0, le=1000)
    volume: float = Field(default=1.0, ge=0, le=1000)


class RoiFile(_Strict):
    name: str = Field(default="", max_length=200)
    currency: Literal["USD"] = "USD"
    start: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    years: int | None = Field(default=None, ge=1, le=MAX_YEARS)
    accrual: Accrual = "even"
    cost_accrual: Accrual = "even"
    costs: Costs = Field(default_factory=Costs)
    benefits: Benefits = Field(default_factory=Benefits)
    telemetry: Telemetry | None = None
    projection: Projection = Field(default_factory=Projection)
    scenarios: dict[ScenarioName, Scenario] = Field(default_factory=dict)

    @field_validator("accrual", "cost_accrual")
    @classmethod
    def _accrual(cls, value: Accrual) -> Accrual:
        bad = isinstance(value, list) and (
            len(value) != 12
            or any(not 0 <= w <= 1e6 for w in value)
            or not any(w > 0 for w in value)
        )
        if bad:
            raise ValueError(
                "explicit accrual weights are 12 numbers from 0 to 1,000,000, not all zero"
            )
        return value


# ------------------------------------------------------------------ loading


def load(path: Path) -> RoiFile:
    """Read and check an ROI file; a mistake is an InputError naming the file and the key."""
    spec = load_yaml(path, RoiFile, what=WHAT, error=InputError)
    if not spec.model_fields_set:  # an empty file would print a $0 plan that pays back at once
        raise InputError(f"{WHAT} {path} is empty: give at least its costs and benefits.")
    years = horizon_years(spec)
    late = [i.name for i in [*spec.costs.one_time, *spec.benefits.typed] if i.year > years]
    late += [
        i.name for i in spec.costs.one_time + spec.benefits.typed if (i.month or 0) > years * 12
    ]
    # A recurring cost that starts after the plan ends would be counted as $0, silently.
    late += [r.name for r in spec.costs.recurring if r.from_month > years * 12]
    hires = spec.benefits.avoided_hires
    if hires is not None and hires.from_year > years:
        late.append("avoided_hires")
    if late:
        raise InputError(
            f"{WHAT} {path}: {sorted(set(late))} fall after the plan's {years} year(s): "
            "raise `years` or move them."
        )
    if spec.telemetry and spec.telemetry.first_month + spec.telemetry.months - 1 > years * 12:
        raise InputError(f"{WHAT} {path}: telemetry.months run past the plan's {years} year(s).")
    return spec


def horizon_years(spec: RoiFile) -> int:
    """``years``, or the last year anything is typed in (at least 1)."""
    if spec.years is not None:
        return spec.years
    typed = [i.year for i in [*spec.costs.one_time, *spec.benefits.typed]]
    typed += [((i.month - 1) // 12) + 1 for i in spec.costs.one_time if i.month]
    typed.append(len(spec.projection.questions_per_year or []))
    return max([1, *typed])


def weights(accrual: Accrual) -> list[float]:
    """The twelve monthly shares of a year's amount (they sum to 1)."""
    if accrual == "even":
        return [1 / 12] * 12
    if accrual == "ramp":
        return [(m - 1) / RAMP_DENOMINATOR for m in range(1, 13)]
    total = sum(accrual)
    return [w / total for w in accrual]


def accrual_name(accrual: Accrual) -> str:
    if isinstance(accrual, list):
        return "weights " + ", ".join(f"{w:g}" for w in accrual)
    if accrual == "ramp":
        return "ramp (month m of each year gets (m-1)/66)"
    return "even (1/12 of each year a month)"
