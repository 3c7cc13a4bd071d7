"""The rollout file: use cases, their phases, waves, success gates and guard metrics.

Validated strictly (a typo is an error naming its line and field, not a silent default); the
format, with an example, is in docs/rollout.md. Which waves are open is not in the file: that is
state in the store (sponsor/rollout.py).
"""

from __future__ import annotations

import fnmatch
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from steward.config.yamlfile import NoBoolNumbers, load_yaml
from steward.core.errors import ConfigError
from steward.operations.alerts import parse_duration
from steward.sponsor.gates import METRICS

PHASES = ("problem-validation", "feasibility", "readiness", "pilot", "scaling")
LIVE_PHASES = ("pilot", "scaling")  # waves open only once the use case is piloted
_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Comparison = Literal[">", ">=", "<", "<=", "=="]


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):  # `window: 7` is 7 seconds to a parser, 7 days to people
        raise ValueError(f"give the window with its unit ({value}d, {value}h or {value}m)")
    found = parse_duration(value)
    if found <= timedelta(0):
        raise ValueError("a window must be longer than 0")
    return found


def _metric(value: str) -> str:
    if value not in METRICS:
        raise ValueError(f"unknown metric {value!r}; choose from {', '.join(METRICS)}")
    return value


class Scope(_Strict):
    """Which questions belong to the use case: its intents (globs over the intent model's
    labels) and/or the askers' centers, or all questions."""

    all: bool = False
    intents: tuple[str, ...] = ()
    centers: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one(self) -> Scope:
        if self.all == bool(self.intents or self.centers):
            raise ValueError("give `all: true`, or intents and/or centers (not both ways)")
        return self

    def holds(self, center: str | None, intent: str | None) -> bool:
        if self.all:
            return True
        if self.centers and center not in self.centers:
            return False
        if self.intents:
            return intent is not None and any(fnmatch.fnmatch(intent, p) for p in self.intents)
        return True


class Wave(_Strict):
    """Who a wave adds: askers of these centers, in one of these groups, in this share (all
    that are given must hold; none given: everyone)."""

    id: str = Field(pattern=_ID)
    title: str = Field(default="", max_length=200)
    centers: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    share: float | None = Field(default=None, gt=0, le=100)  # percent of askers

    def criteria(self) -> str:
        parts = [f"centers {', '.join(self.centers)}"] if self.centers else []
        parts += [f"groups {', '.join(self.groups)}"] if self.groups else []
        parts += [f"{self.share:g}% of askers"] if self.share is not None else []
        return "; ".join(parts) or "everyone"


# What a threshold or limit may be, by the metric's unit (gates.METRICS): a ratio is written
# 0-1 ("0.8", not "80"), satisfaction is a 1-5 rating, counts, milliseconds and dollars are not
# negative and stay below what any deployment measures.
_RANGES: dict[str, tuple[float, float, str]] = {
    "ratio": (0.0, 1.0, "a ratio from 0 to 1 (0.8, not 80)"),
    "score": (1.0, 5.0, "a rating from 1 to 5"),
    "count": (0.0, 1e9, "a count from 0 to 1,000,000,000"),
    "ms": (0.0, 3_600_000.0, "milliseconds from 0 to 3,600,000"),
    "USD": (0.0, 1_000_000.0, "dollars from 0 to 1,000,000"),
}


def _in_range(metric: str, value: float, name: str) -> None:
    low, high, words = _RANGES[METRICS[metric][1]]
    if not low <= value <= high:
        # Written out ("3,600,001", not "3.6e+06", which reads as inside the range).
        shown = f"{value:g}" if abs(value) >= 1e15 else f"{value:,f}".rstrip("0").rstrip(".")
        raise ValueError(f"{name} {shown} for {metric} is out of range: give {words}")


class Gate(_Strict):
    """A success gate: the metric must meet ``comparison threshold`` over the window, on at
    least ``min_sample`` (questions, feedback or verdicts: the metric's own sample)."""

    metric: str
    comparison: Comparison
    threshold: float
    window: timedelta = timedelta(days=7)
    min_sample: int = Field(default=1, ge=1, le=1_000_000)

    _m = field_validator("metric")(_metric)
    _w = field_validator("window", mode="before")(_duration)

    @model_validator(mode="after")
    def _range(self) -> Gate:
        _in_range(self.metric, self.threshold, "threshold")
        return self


class Guard(_Strict):
    """A guard metric: crossing its limit (``comparison limit``, default above it) over the
    window, on at least ``min_sample``, closes the newest open wave."""

    metric: str
    comparison: Comparison = ">"
    limit: float
    window: timedelta = timedelta(hours=1)
    min_sample: int = Field(default=1, ge=1, le=1_000_000)

    _m = field_validator("metric")(_metric)
    _w = field_validator("window", mode="before")(_duration)

    @model_validator(mode="after")
    def _range(self) -> Guard:
        _in_range(self.metric, self.limit, "limit")
        return self


class UseCase(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(default="", max_length=200)
    phase: Literal["problem-validation", "feasibility", "readiness", "pilot", "scaling"]
    scope: Scope
    previous: Literal["handoff", "abstain"] = "handoff"
    waves: tuple[Wave, ...] = Field(min_length=1, max_length=50)
    gates: tuple[Gate, ...] = Field(default=(), max_length=50)
    guards: tuple[Guard, ...] = Field(default=(), max_length=50)

    @field_validator("waves")
    @classmethod
    def _unique(cls, waves: tuple[Wave, ...]) -> tuple[Wave, ...]:
        seen: set[str] = set()
        for w in waves:
            if w.id in seen:
                raise ValueError(f"two waves are named {w.id!r}")
            seen.add(w.id)
        return waves

    def wave(self, wave_id: str) -> Wave | None:
        return next((w for w in self.waves if w.id == wave_id), None)


class RolloutFile(_Strict):
    usecases: tuple[UseCase, ...] = Field(default=(), max_length=100)

    @field_validator("usecases")
    @classmethod
    def _unique(cls, usecases: tuple[UseCase, ...]) -> tuple[UseCase, ...]:
        seen: set[str] = set()
        for u in usecases:
            if u.id in seen:
                raise ValueError(f"two use cases are named {u.id!r}")
            seen.add(u.id)
        return usecases

    def usecase(self, usecase_id: str) -> UseCase | None:
        return next((u for u in self.usecases if u.id == usecase_id), None)

    def usecase_for(self, center: str | None, intent: str | None) -> UseCase | None:
        """The first use case (file order) whose scope holds the question."""
        return next((u for u in self.usecases if u.scope.holds(center, intent)), None)


def load_plan(path: Path) -> RolloutFile:
    """The rollout file; ConfigError naming the line and field of a mistake. A file with no
    `usecases:` key (empty, comments only: a deploy that wrote nothing) is a mistake too, so
    the last good file stays in force instead of every use case opening to everyone."""
    plan = load_yaml(path, RolloutFile, what="Rollout file", error=ConfigError)
    if "usecases" not in plan.model_fields_set:
        raise ConfigError(
            f"Rollout file {path} has no `usecases:` key (empty, or comments only): write "
            "`usecases: []` to roll nothing out."
        )
    return plan
