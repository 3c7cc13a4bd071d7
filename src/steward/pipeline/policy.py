"""Rules per center: when to answer, when to hand off, during which hours.

Policies are YAML files in ``STEWARD_POLICY_DIR``: ``default.yaml`` and one file per center
(``north.yaml``) whose settings override the default's. Each file is validated (unknown keys are
errors), versioned by the hash of its content, and re-read when it changes on disk, so an operator
edits a file and the next request uses it. A file that fails validation on reload is reported and
the last good version stays in force: a typo never turns the rules off.

```yaml
name: north
answer_threshold: 0.6            # confidence below which Steward does not answer
low_confidence_action: abstain   # or escalate
escalate_for: external           # whose conversations the hand-off rules apply to
escalation_reasons: [fraud, location_mismatch, vulnerable, legal, emotional, money_movement]
large_amount: 10000              # money movement at or above this goes to a person
auto_answer_intents: ["*"]       # intents that may be answered automatically (globs)
always_human_intents: [complaint]
business_hours: {timezone: America/Chicago, days: [mon, tue, wed, thu, fri, sat],
                 open: "07:00", close: "21:00"}
language: en
risk_threshold: 0.5              # the learned risk detector's threshold (default: as trained)
escalation_rules:                # your own hand-off rules, on top of the detector
  - {reason: vulnerable, pattern: "\\bpower of attorney\\b"}
```
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from steward import audit
from steward.config.settings import Settings
from steward.config.yamlfile import parse_yaml
from steward.core import reasons
from steward.core.errors import ConfigError
from steward.store import Store
from steward.store.models import Center, Group

log = logging.getLogger(__name__)
DEFAULT_PROFILE = "steward"
TEAM = "team."  # team.<group id>.yaml: a team's overlay
REASONS = reasons.SIGNALS  # the risk signals a policy may list (steward.core.reasons)
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS: tuple[str, ...] = ALL_DAYS


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "UTC"
    days: list[Day] = Field(default_factory=lambda: list(ALL_DAYS))
    open: time = time(0, 0)
    close: time = time(23, 59, 59)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        return DAYS[local.weekday()] in self.days and self.open <= local.time() < self.close

    def next_open(self, at: datetime) -> datetime:
        """``at`` when open, else the next opening (in ``at``'s time zone)."""
        if self.is_open(at) or not self.days:
            return at
        tz = ZoneInfo(self.timezone)
        local = at.astimezone(tz)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            start = datetime.combine(day, self.open, tzinfo=tz)
            if DAYS[day.weekday()] in self.days and start > local:
                return start.astimezone(at.tzinfo)
        return at

    def describe(self) -> str:
        days = ", ".join(d.capitalize() for d in self.days)
        return f"{days}, {self.open:%H:%M}-{self.close:%H:%M} ({self.timezone})"


RULE_TIMEOUT_S = 0.05  # the longest one escalation rule may spend on one question
MAX_RULES = 200


def _probes(pattern: str) -> list[str]:
    """Inputs that make a backtracking pattern explode: long runs of the characters it names
    (and of letters, digits and spaces) that then fail to match at the end."""
    named = [c for c in pattern.lower() if c.isalnum()][:10]
    chars = dict.fromkeys([*named, "a", "1", " "])
    return [c * 2000 + "!" for c in chars] + ["ab" * 1000 + "!", "a " * 1000 + "!"]


class EscalationRule(BaseModel):
    """An operator's own hand-off rule: a regular expression (case-insensitive) over the
    question, and the reason it hands off with. It adds to the learned detector, never removes.

    Rules run with a time limit (the ``regex`` engine's timeout): a pattern that backtracks
    catastrophically on the probes is refused when the policy loads, and one that still runs out
    of time on a question hands that question off (a person looks) and is logged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str
    pattern: str = Field(min_length=1, max_length=500)

    @field_validator("reason")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in REASONS:
            raise ValueError(
                f"unknown escalation reason {value!r}; choose from {', '.join(REASONS)}"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            rx = _compiled(value)
        except regex.error as exc:
            raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from exc
        for probe in _probes(value):
            try:
                rx.search(probe, timeout=RULE_TIMEOUT_S)
            except TimeoutError:
                raise ValueError(
                    f"pattern {value!r} backtracks catastrophically (it ran out of time on "
                    "repeated characters); rewrite it without nested repetition such as (a+)+"
                ) from None
        return value

    def matches(self, text: str) -> bool:
        try:
            return _compiled(self.pattern).search(text, timeout=RULE_TIMEOUT_S) is not None
        except TimeoutError:
            log.warning("escalation rule ran out of time; handing off", extra={"rule": self.reason})
            return True


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    answer_threshold: float | None = Field(default=None, ge=0, le=1)
    low_confidence_action: Literal["abstain", "escalate"] | None = None
    escalate_for: Literal["external", "everyone", "nobody"] | None = None
    escalation_reasons: list[str] | None = None
    large_amount: float | None = Field(default=None, gt=0)
    auto_answer_intents: list[str] | None = None
    always_human_intents: list[str] | None = None
    business_hours: BusinessHours | None = None
    language: str | None = None
    risk_threshold: float | None = Field(default=None, gt=0, lt=1)
    escalation_rules: list[EscalationRule] | None = Field(default=None, max_length=MAX_RULES)

    @field_validator("escalation_reasons")
    @classmethod
    def _known_reasons(cls, value: list[str] | None) -> list[str] | None:
        unknown = [r for r in value or [] if r not in REASONS]
        if unknown:
            raise ValueError(
                f"unknown escalation reason {unknown[0]!r}; choose from {', '.join(REASONS)}"
            )
        return value


@dataclass(frozen=True)
class Policy:
    name: str = "default"
    version: str = "builtin"
    answer_threshold: float = 0.55
    low_confidence_action: Literal["abstain", "escalate"] = "abstain"
    escalate_for: Literal["external", "everyone", "nobody"] = "external"
    escalation_reasons: tuple[str, ...] = REASONS
    large_amount: float = 10_000.0
    auto_answer_intents: tuple[str, ...] = ("*",)
    always_human_intents: tuple[str, ...] = ()
    business_hours: BusinessHours | None = None
    language: str = "en"
    # The learned risk detector's threshold here (None: the one chosen when it was trained).
    risk_threshold: float | None = None
    escalation_rules: tuple[EscalationRule, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            answer_threshold=settings.policy.answer_threshold,
            low_confidence_action=settings.policy.low_confidence_action,
        )

    def applies_escalation(self, external: bool) -> bool:
        return self.escalate_for == "everyone" or (self.escalate_for == "external" and external)

    def auto_answer_allowed(self, intent: str | None) -> bool:
        if intent is None:
            return True
        return any(fnmatch.fnmatch(intent, p) for p in self.auto_answer_intents)

    def needs_human(self, intent: str | None) -> bool:
        return intent is not None and any(
            fnmatch.fnmatch(intent, p) for p in self.always_human_intents
        )

    def open_now(self, at: datetime) -> bool:
        return self.business_hours is None or self.business_hours.is_open(at)

    def merged(self, spec: PolicySpec, name: str, version: str) -> Policy:
        values: dict[str, Any] = {k: v for k, v in spec.model_dump().items() if v is not None}
        values.pop("name", None)
        if "business_hours" in values:
            values["business_hours"] = spec.business_hours
        if spec.escalation_rules is not None:
            values["escalation_rules"] = tuple(spec.escalation_rules)
        for key in ("escalation_reasons", "auto_answer_intents", "always_human_intents"):
            if key in values:
                values[key] = tuple(values[key])
        return Policy(**{**self.__dict__, **values, "name": spec.name or name, "version": version})

    def tightened_by(self, overlay: Policy) -> Policy:
        """An assistant profile over this (center) policy: the profile shapes the assistant
        but never loosens a safety rule — any caller can name a profile in the gateway's
        ``model`` field, so a profile that answered more freely would be a way around the
        center's hand-off rules."""
        strict = {"nobody": 0, "external": 1, "everyone": 2}
        auto = overlay.auto_answer_intents if self.auto_answer_intents == ("*",) else None
        return Policy(
            **{
                **overlay.__dict__,
                "answer_threshold": max(self.answer_threshold, overlay.answer_threshold),
                "escalate_for": max(
                    self.escalate_for, overlay.escalate_for, key=lambda v: strict[v]
                ),
                "escalation_reasons": tuple(
                    dict.fromkeys(self.escalation_reasons + overlay.escalation_reasons)
                ),
                "large_amount": min(self.large_amount, overlay.large_amount),
                "auto_answer_intents": auto or self.auto_answer_intents,
                "always_human_intents": tuple(
                    dict.fromkeys(self.always_human_intents + overlay.always_human_intents)
                ),
                "risk_threshold": min(
                    (t for t in (self.risk_threshold, overlay.risk_threshold) if t is not None),
                    default=None,
                ),
                "escalation_rules": tuple(
                    dict.fromkeys(self.escalation_rules + overlay.escalation_rules)
                ),
            }
        )


def _read(path: Path) -> tuple[PolicySpec, str]:
    # Parsed from the bytes that are hashed, so a version always names the content it checked.
    raw = path.read_bytes()
    spec = parse_yaml(raw, PolicySpec, label=f"Policy {path.name}", error=ConfigError)
    return spec, hashlib.sha256(raw).hexdigest()[:12]


class PolicyBook:
    """The policies of a folder, re-read when a file changes; one per center. With a store,
    every reload after the first load is a ``policy-reloaded`` audit event (the versions now in
    force, the files rejected)."""

    def __init__(self, folder: Path | None, base: Policy, store: Store | None = None) -> None:
        self.folder = folder
        self.base = base
        self.store = store
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, float, int], ...] | None = None
        self._specs: dict[str, tuple[PolicySpec, str]] = {}
        self.errors: dict[str, str] = {}
        if folder is not None:
            if not folder.is_dir():
                raise ConfigError(f"STEWARD_POLICY_DIR {folder} is not a folder.")
            self._reload(strict=True)

    def _files(self) -> list[Path]:
        assert self.folder is not None
        return sorted(self.folder.glob("*.yaml"))

    def _reload(self, strict: bool = False) -> audit.AuditEvent | None:
        """Re-read the folder if it changed; returns the event to record, if any."""
        files = self._files()
        stamp = tuple((p.name, p.stat().st_mtime, p.stat().st_size) for p in files)
        if stamp == self._stamp:
            return None
        first = self._stamp is None
        specs: dict[str, tuple[PolicySpec, str]] = {}
        errors: dict[str, str] = {}
        for path in files:
            try:
                specs[path.stem] = _read(path)
            except ConfigError as exc:
                if strict:
                    raise
                errors[path.name] = exc.message
                if path.stem in self._specs:  # keep the last good version in force
                    specs[path.stem] = self._specs[path.stem]
                log.error(
                    "policy file rejected; last good version kept",
                    extra={"file": path.name, "detail": exc.message},
                )
        for name in self.unknown_files(specs):
            if strict:
                raise ConfigError(self._misnamed(name))
            errors[f"{name}.yaml"] = self._misnamed(name)
        self._specs, self.errors, self._stamp = specs, errors, stamp
        return None if first else self._reloaded()

    def centers(self) -> list[str]:
        """The directory's centers (none known without a store)."""
        if self.store is None:
            return []
        with self.store.read() as s:
            return sorted(s.scalars(select(Center.id)))

    def groups(self) -> list[str]:
        """The directory's groups (none known without a store)."""
        if self.store is None:
            return []
        with self.store.read() as s:
            return sorted(s.scalars(select(Group.id)))

    def unknown_files(self, specs: dict[str, Any] | None = None) -> list[str]:
        """Policy files named for no center (``nroth.yaml``) or no group (``team.fruad.yaml``)
        of the directory: a misspelled name would otherwise be silently ignored, leaving the
        center or team on the default rules. Unchecked while the directory is empty (nothing
        imported yet)."""
        centers, groups = set(self.centers()), set(self.groups())
        if not centers and not groups:
            return []
        names = self._specs if specs is None else specs
        out = []
        for n in names:
            if n == "default" or n.startswith("profile."):
                continue
            known = n.removeprefix(TEAM) in groups if n.startswith(TEAM) else n in centers
            if not known:
                out.append(n)
        return sorted(out)

    def _misnamed(self, name: str) -> str:
        if name.startswith(TEAM):
            return (
                f"Policy file {name}.yaml names no group of the directory (known groups: "
                f"{', '.join(self.groups())}): name it team.GROUP.yaml after a group id."
            )
        return (
            f"Policy file {name}.yaml names no center of the directory (known centers: "
            f"{', '.join(self.centers())}): name it after a center, default.yaml, "
            "team.GROUP.yaml or profile.NAME.yaml."
        )

    def _reloaded(self) -> audit.AuditEvent:
        # Versions are content hashes: the event says which rules were in force from now on.
        return audit.AuditEvent(
            audit.Kind.POLICY_RELOADED,
            actor="system",
            target="policy",
            decision="rejected" if self.errors else "reloaded",
            payload={
                "versions": {name: version for name, (_, version) in self._specs.items()},
                "rejected": sorted(self.errors),
            },
            reason="policy: files changed on disk",
        )

    def _emit(self, event: audit.AuditEvent | None) -> None:
        # Called after the book's lock is released: the audit write takes the store's lock.
        if event is not None and self.store is not None:
            audit.record(self.store, event)

    def profiles(self) -> list[str]:
        """Assistant profiles: ``profile.<name>.yaml`` files, plus the built-in ``steward``."""
        if self.folder is None:
            return [DEFAULT_PROFILE]
        with self._lock:
            event = self._reload()
            names = [k.removeprefix("profile.") for k in self._specs if k.startswith("profile.")]
        self._emit(event)
        return [DEFAULT_PROFILE, *sorted(n for n in names if n != DEFAULT_PROFILE)]

    def for_center(
        self, center: str | None, profile: str | None = None, groups: Iterable[str] = ()
    ) -> Policy:
        """The policy in force, in layers: the default's settings, overridden by the center's
        file, then by each team file of the asker's groups (``team.<group>.yaml``, in the order
        of the group ids: a later team's key wins), then by the assistant profile's
        (``profile.<name>.yaml``, which can only tighten)."""
        if self.folder is None:
            return self.base
        with self._lock:
            event = self._reload()
            specs = dict(self._specs)
        self._emit(event)
        policy = self.base
        teams = [f"{TEAM}{g}" for g in sorted(set(groups))]
        layers = ["default", center, *teams, f"profile.{profile}" if profile else None]
        for name in layers:
            if name is not None and name in specs:
                spec, version = specs[name]
                label = name.removeprefix("profile.").removeprefix(TEAM)
                version = version if policy.version == "builtin" else f"{policy.version}+{version}"
                merged = policy.merged(spec, label if name != "default" else "default", version)
                policy = policy.tightened_by(merged) if name.startswith("profile.") else merged
        return policy
