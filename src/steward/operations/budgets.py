"""Monthly cost budgets per center and per use case, their alerts, and the hard stop.

Budgets are a YAML file (``STEWARD_BUDGETS_FILE``, default ``HOME/budgets.yaml``; no file, no
budgets)::

    centers:
      north: {monthly_usd: 50}
    use_cases:
      cards: {intents: ["cards.*", "card-*"], monthly_usd: 20}   # fnmatch on the intent
    alert_at: [80, 100]          # percent of a budget that records a budget-crossed event
    hard_stop: true              # at 100%, answer with degrade_to instead of the model
    degrade_to: extractive       # a model of the providers file, or `extractive`
    refresh_s: 5                 # how often a worker re-reads the spend (seconds)

What a month has cost is read from the rollups (operations/rollup.py): each question row adds
its USD to its hour and day, split by model and by intent, so the month to date of a center or
a use case is a sum of at most 31 daily rows per center; the fold runs first, so the figure is
as fresh as the audit trail. The cost of one request is in its audit row
(``settings["cost_usd"]``, :meth:`BudgetService.cost`) and the rollup counts it the same way.

A budget crossing one of ``alert_at`` is recorded once per budget, threshold and month: a
compare-and-set on ``budget_states.level`` decides which replica writes the ``budget-crossed``
audit event, in the same transaction. Alert rules can watch ``budget_used_pct`` too
(operations/alerts.py). On the answer path :meth:`BudgetService.answerer` costs nothing per
request: the standing is re-read at most every ``refresh_s`` seconds, by one thread at a time,
while the others use the last one.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from steward import audit
from steward.answering.answer import Answerer, AnswerResult
from steward.answering.providers.base import Draft, Passage, Provider
from steward.config.settings import OperationsSettings
from steward.config.yamlfile import load_yaml
from steward.core.errors import ConfigError, InputError, StewardError
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer, Permission
from steward.operations.rollup import COST_INTENT, COST_MODEL, DAILY, UNREPORTED, fold, prices
from steward.store import Store
from steward.store.models import BudgetState

if TYPE_CHECKING:
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
MONTH = re.compile(r"^(19|2[0-9])\d{2}-(0[1-9]|1[0-2])$")  # 1900-01 to 2999-12
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_RETRIES = 5
DEFAULT_REFRESH_S = 5.0


# ------------------------------------------------------------------ the budgets file


class Limit(BaseModel):
    """One budget: its monthly amount, and (optionally) its own hard stop and degrade route."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    monthly_usd: float = Field(gt=0)
    hard_stop: bool | None = None  # None: the file's
    degrade_to: str | None = Field(default=None, min_length=1, max_length=100)


class UseCase(Limit):
    """A use case is a set of intents (fnmatch patterns on the intent the understand stage
    found, which needs a trained intent model)."""

    intents: list[str] = Field(min_length=1, max_length=100)

    @field_validator("intents")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for p in value:
            if not p.strip() or len(p) > 100:
                raise ValueError("an intent pattern is 1 to 100 characters")
        return value


class BudgetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    centers: dict[str, Limit] = Field(default_factory=dict)
    use_cases: dict[str, UseCase] = Field(default_factory=dict)
    alert_at: list[int] = Field(default_factory=lambda: [80, 100], max_length=10)
    hard_stop: bool = False
    degrade_to: str = Field(default=EXTRACTIVE, min_length=1, max_length=100)
    refresh_s: float = Field(default=DEFAULT_REFRESH_S, ge=0, le=300)

    @field_validator("centers", "use_cases")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(_NAME, name):
                raise ValueError(f"{name[:70]!r} is not a name (letters, digits, _ . : -)")
        return value

    @field_validator("alert_at")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(not 1 <= v <= 1000 for v in value):
            raise ValueError("each threshold is a percent from 1 to 1000")
        return sorted(set(value))


@dataclass(frozen=True)
class Budget:
    """One budget of the file, its defaults applied."""

    key: str  # center:NAME | usecase:NAME (the budget_states key)
    kind: str  # center | use_case
    name: str
    monthly_usd: float
    hard_stop: bool
    degrade_to: str
    intents: tuple[str, ...] = ()

    def covers(self, center: str | None, intent: str | None) -> bool:
        if self.kind == "center":
            return center is not None and center == self.name
        return intent is not None and any(fnmatch.fnmatch(intent, p) for p in self.intents)


def budgets_of(cfg: BudgetsFile) -> list[Budget]:
    out = [
        Budget(
            f"center:{name}",
            "center",
            name,
            lim.monthly_usd,
            cfg.hard_stop if lim.hard_stop is None else lim.hard_stop,
            lim.degrade_to or cfg.degrade_to,
        )
        for name, lim in sorted(cfg.centers.items())
    ]
    out += [
        Budget(
            f"usecase:{name}",
            "use_case",
            name,
            uc.monthly_usd,
            cfg.hard_stop if uc.hard_stop is None else uc.hard_stop,
            uc.degrade_to or cfg.degrade_to,
            tuple(uc.intents),
        )
        for name, uc in sorted(cfg.use_cases.items())
    ]
    return out


# ------------------------------------------------------------------ cost of one request


def cost_of(
    table: dict[str, tuple[float, float]],
    provider: str,
    model: str,
    route: dict[str, Any] | None,
    tokens: Iterable[int] | None,
) -> float | None:
    """USD for one answer, exactly as the rollup counts it: the router's own price, else the
    price table's (model, then provider; USD per million tokens); 0.0 when no model was
    used (extractive, cached, decided before an answer); None when a model that used tokens
    has no price (never guessed)."""
    if route and route.get("usage") == UNREPORTED:
        return None  # a model answered, but its server did not say how much it used
    if route and isinstance(route.get("cost_usd"), int | float):
        return float(route["cost_usd"])
    counts = [int(n or 0) for n in tokens or ()] + [0, 0]
    t_in, t_out = counts[0], counts[1]
    if t_in == 0 and t_out == 0:
        return 0.0
    price = table.get(model) or table.get(provider)
    if price is None:
        return None
    return round(t_in / 1e6 * price[0] + t_out / 1e6 * price[1], 10)


# ------------------------------------------------------------------ month and spend


def this_month(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


def check_month(month: str) -> str:
    if not isinstance(month, str) or not MONTH.match(month.strip()):
        raise InputError(f"Bad month {str(month)[:20]!r}: use YYYY-MM, e.g. 2026-12.")
    return month.strip()


def month_range(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``month`` and of the next one (UTC)."""
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass
class Spend:
    """A month's spend as the daily rollups hold it (USD)."""

    total: float = 0.0
    unpriced: int = 0
    centers: dict[str, float] = field(default_factory=dict)
    center_unpriced: dict[str, int] = field(default_factory=dict)
    intents: dict[str, float] = field(default_factory=dict)
    models: dict[str, float] = field(default_factory=dict)


def read_spend(store: Store, month: str) -> Spend:
    """The month's spend by center, intent and model (evaluation runs are not traffic and
    count nowhere, as in the report)."""
    start, end = month_range(month)
    table: Table = DAILY
    q = select(table.c.center, table.c.counts).where(table.c.day >= start, table.c.day < end)
    spend = Spend()
    with store.read() as s:
        rows = s.execute(q).all()
    for center, counts in rows:
        counts = counts or {}
        cost = float(counts.get("cost", 0.0))
        unpriced = int(counts.get("unpriced", 0))
        spend.total += cost
        spend.unpriced += unpriced
        spend.centers[center] = spend.centers.get(center, 0.0) + cost
        spend.center_unpriced[center] = spend.center_unpriced.get(center, 0) + unpriced
        for key, value in counts.items():
            for prefix, into in ((COST_INTENT, spend.intents), (COST_MODEL, spend.models)):
                if key.startswith(prefix):
                    name = key[len(prefix) :]
                    into[name] = into.get(name, 0.0) + float(value)
    return spend


@dataclass(frozen=True)
class Line:
    """One budget's standing in one month."""

    budget: Budget
    month: str
    spent_usd: float
    percent: float
    level: int  # the highest threshold of alert_at reached (0: none)
    unpriced: int  # requests of a model with no price in its scope (the spend is at least this)

    @property
    def stopped(self) -> bool:
        """At or over 100% with a hard stop: answers go to the degrade route."""
        return self.budget.hard_stop and self.percent >= 100.0

    def as_dict(self) -> dict[str, Any]:
        b = self.budget
        return {
            "budget": b.key,
            "kind": b.kind,
            "name": b.name,
            "intents": list(b.intents),
            "monthly_usd": b.monthly_usd,
            "spent_usd": round(self.spent_usd, 6),
            "percent": round(self.percent, 2),
            "level": self.level,
            "hard_stop": b.hard_stop,
            "degrade_to": b.degrade_to,
            "degrading": self.stopped,
            "unpriced": self.unpriced,
        }


def standing(cfg: BudgetsFile, spend: Spend, month: str) -> list[Line]:
    lines = []
    for b in budgets_of(cfg):
        if b.kind == "center":
            spent = spend.centers.get(b.name, 0.0)
            unpriced = spend.center_unpriced.get(b.name, 0)
        else:
            spent = sum(v for i, v in spend.intents.items() if b.covers(None, i))
            unpriced = 0  # an unpriced request adds no cost to any intent
        pct = spent / b.monthly_usd * 100.0
        level = max((t for t in cfg.alert_at if pct >= t), default=0)
        lines.append(Line(b, month, spent, pct, level, unpriced))
    return lines


# ------------------------------------------------------------------ the degrade route


class BudgetAnswerer(Answerer):
    """The answerer of a budget's hard stop: the degrade route writes, and every result
    carries why (``degraded`` and ``route.budget`` in the audit row). It is verified exactly
    as any answer (the same :meth:`Answerer.verify`), and a failing degrade route falls back
    as the configured answerer would."""

    def __init__(self, provider: Provider, fallback: Provider | None, line: Line) -> None:
        super().__init__(provider, fallback=fallback)
        self.line = line

    def verify(
        self, draft: Draft, passages: list[Passage], provider: Provider, degraded: str | None
    ) -> AnswerResult:
        result = super().verify(draft, passages, provider, degraded)
        b = self.line.budget
        route = dict(result.route)
        route.setdefault("provider", provider.name)
        why = (
            f"budget {b.key} at {self.line.percent:.0f}% of ${b.monthly_usd:g} in "
            f"{self.line.month} (hard stop): answered by {route['provider']}"
        )
        result.degraded = why if result.degraded is None else f"{why}; {result.degraded}"
        result.route = {**route, "budget": b.key}
        return result


def degrade_provider(configured: Answerer, name: str) -> Provider:
    """The provider a hard stop writes with: ``extractive`` (no model), or one model of the
    providers file behind a router of its own, so its price and breaker stay as configured."""
    from steward.answering.providers.extractive import ExtractiveProvider
    from steward.answering.providers.router import Routed, Router

    if name == EXTRACTIVE:
        return ExtractiveProvider()
    provider = configured.provider
    if isinstance(provider, Router):
        for routed in [*provider.routes.values(), *provider.fallback]:
            if routed.name == name:
                tail = [Routed(EXTRACTIVE, ExtractiveProvider())]
                return Router({"simple": routed, "complex": routed}, tail, provider.retry)
    elif str(provider.name) == name:
        return provider
    raise ConfigError(
        f"Budgets file: degrade_to {name!r} is not a configured model; use `extractive` or a "
        "model of the providers file (STEWARD_PROVIDERS_FILE)."
    )


# ------------------------------------------------------------------ the service


@dataclass(frozen=True)
class _Snapshot:
    month: str
    lines: tuple[Line, ...] = ()
    spend: Spend = field(default_factory=Spend)


class BudgetService:
    """Spend against the monthly budgets: the one place that reads it, records crossings and
    decides when a hard stop degrades the answer route."""

    def __init__(
        self,
        store: Store,
        authz: Authorizer,
        ops: OperationsSettings,
        path: Path,
        *,
        answerer: Callable[[], Answerer] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``answerer`` is the configured one (to check a degrade route's name in
        :meth:`status`); ``clock`` (monotonic seconds) is injectable like the switches'."""
        self.store = store
        self.authz = authz
        self.ops = ops
        self.path = path
        self.clock = clock
        self._answerer = answerer
        self._refreshing = threading.Lock()
        self._next = float("-inf")
        self._interval = DEFAULT_REFRESH_S
        self._file: tuple[float, BudgetsFile] | None = None
        self._snapshot = _Snapshot(this_month())
        self._prices: dict[str, tuple[float, float]] | None = None
        # Degrade providers by configured answerer (a profile version has its own) and name.
        self._routes: weakref.WeakKeyDictionary[Answerer, dict[str, Provider]] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ configuration

    def config(self) -> BudgetsFile | None:
        """The budgets file, re-read when it changes (None: there is none)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._file = None
            return None
        if self._file is None or self._file[0] != mtime:
            cfg = load_yaml(self.path, BudgetsFile, what="Budgets file", error=ConfigError)
            self._file = (mtime, cfg)
        return self._file[1]

    def cost(self, result: AnswerResult | None, judgement: Any = None) -> float | None:
        """The USD of one request for its audit row: its answer's model and the model judge's
        second opinion (None: a model that used tokens has no price)."""
        if self._prices is None:
            try:
                self._prices = prices(self.ops)
            except ConfigError as exc:
                # Never fails a request: the row says unpriced, the report says why.
                log.error("prices are not valid", extra={"err": exc.code})
                self._prices = {}
        answer = (
            0.0  # decided, or served from the cache, before any model was asked
            if result is None
            else cost_of(self._prices, result.provider, result.model, result.route, result.tokens)
        )
        judged = (
            0.0
            if judgement is None
            else cost_of(self._prices, "judge", judgement.model, None, judgement.tokens)
        )
        return None if answer is None or judged is None else round(answer + judged, 10)

    # ------------------------------------------------------------------ reading

    def refresh(self, now: datetime | None = None) -> list[Line]:
        """Fold the audit trail, read this month's spend and record every threshold crossed
        since the last look; returns the standing of each budget."""
        cfg = self.config()
        month = this_month(now)
        fold(self.store, settings=self.ops)
        spend = read_spend(self.store, month)
        lines = standing(cfg, spend, month) if cfg is not None else []
        if cfg is not None:
            recorded = self._recorded(month)
            for line in lines:
                if line.level > recorded.get(line.budget.key, 0):
                    self._cross(line, cfg.alert_at)
        self._snapshot = _Snapshot(month, tuple(lines), spend)
        self._interval = cfg.refresh_s if cfg is not None else DEFAULT_REFRESH_S
        self._next = self.clock() + self._interval
        return lines

    def _current(self) -> _Snapshot:
        """The standing as of the last refresh, refreshed first when it is due: one thread
        refreshes while the others go on with what it had. A failure to read is logged and
        never fails the request that noticed it (the last standing holds)."""
        if self.clock() >= self._next and self._refreshing.acquire(blocking=False):
            try:
                if self.clock() >= self._next:
                    self.refresh()
            except (StewardError, OperationalError) as exc:
                log.error("budgets not refreshed", extra={"err": type(exc).__name__})
                self._next = self.clock() + self._interval
            finally:
                self._refreshing.release()
        return self._snapshot

    def _recorded(self, month: str) -> dict[str, int]:
        with self.store.read() as s:
            rows = s.execute(
                select(BudgetState.budget, BudgetState.level).where(BudgetState.month == month)
            ).all()
        return {str(b): int(level) for b, level in rows}

    # ------------------------------------------------------------------ crossing

    def _cross(self, line: Line, thresholds: list[int]) -> list[int]:
        """Move the budget's recorded level up to ``line.level`` by compare-and-set, and record
        one ``budget-crossed`` event per threshold passed, in the same transaction: whichever
        replica moves it writes the events, the others find nothing left to record."""
        for _ in range(_RETRIES):
            try:
                return self._cross_once(line, thresholds)
            except OperationalError:
                # SQLite: another writer's commit made this transaction's snapshot stale.
                if self.store.dialect != "sqlite":
                    raise
        return []

    def _cross_once(self, line: Line, thresholds: list[int]) -> list[int]:
        b, now = line.budget, datetime.now(UTC)
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        table = cast(Table, BudgetState.__table__)
        with self.store.write() as (s, _):
            # A write first: the transaction takes the write lock before it reads the level.
            s.execute(
                dialect.insert(table)
                .values(budget=b.key, month=line.month, level=0, spent_usd=0.0, updated_at=now)
                .on_conflict_do_nothing(index_elements=["budget", "month"])
            )
            before = int(
                s.execute(
                    select(table.c.level).where(
                        table.c.budget == b.key, table.c.month == line.month
                    )
                ).scalar_one()
            )
            if before >= line.level:
                return []
            moved = s.execute(
                update(table)
                .where(
                    table.c.budget == b.key,
                    table.c.month == line.month,
                    table.c.level == before,
                )
                .values(level=line.level, spent_usd=round(line.spent_usd, 6), updated_at=now)
            )
            if getattr(moved, "rowcount", 0) != 1:
                return []  # another replica moved it first, and recorded what it crossed
            crossed = [t for t in thresholds if before < t <= line.level]
            for t in crossed:
                audit.record(self.store, _event(line, t), session=s)
        for t in crossed:
            log.warning(
                "budget crossed",
                extra={"budget": b.key, "threshold": t, "percent": round(line.percent, 1)},
            )
        return crossed

    # ------------------------------------------------------------------ what others ask

    def status(self, who: Principal, month: str | None = None) -> dict[str, Any]:
        """Spend, budget, percent and level of each budget in ``month`` (default: this one,
        read afresh and its crossings recorded), with the cost per model (VIEW_COSTS)."""
        self.authz.authorize(who, Permission.VIEW_COSTS, "costs")
        current = this_month()
        month = check_month(month) if month is not None else current
        cfg = self.config()
        if cfg is not None:
            self._check_routes(cfg)
        if month == current:
            lines = self.refresh()
            spend = self._snapshot.spend
        else:
            fold(self.store, settings=self.ops)
            spend = read_spend(self.store, month)
            lines = standing(cfg, spend, month) if cfg is not None else []
        models = sorted(spend.models.items(), key=lambda kv: (-kv[1], kv[0]))
        return {
            "month": month,
            "currency": "USD",
            "total_usd": round(spend.total, 6),
            "unpriced": spend.unpriced,
            "alert_at": list(cfg.alert_at) if cfg is not None else [],
            "budgets": [
                {**line.as_dict(), "degrading": line.stopped and month == current} for line in lines
            ],
            "models": [{"model": m, "cost_usd": round(v, 6)} for m, v in models],
        }

    def _check_routes(self, cfg: BudgetsFile) -> None:
        """A degrade route that names no configured model is a configuration error, shown to
        the operator here (the answer path falls back to ``extractive`` and logs it)."""
        if self._answerer is None:
            return
        configured = self._answerer()
        for b in budgets_of(cfg):
            if b.hard_stop:
                degrade_provider(configured, b.degrade_to)

    def stop_for(self, center: str | None, intent: str | None) -> Line | None:
        """The budget whose hard stop applies to a request of this center and intent, or None
        (the center's budget first, then use cases in name order)."""
        for line in self._current().lines:
            if line.stopped and line.budget.covers(center, intent):
                return line
        return None

    def answerer(self, configured: Answerer, center: str | None, intent: str | None) -> Answerer:
        """The answerer to write with: ``configured``, or the degrade route of a budget whose
        hard stop holds for this center or intent."""
        line = self.stop_for(center, intent)
        if line is None:
            return configured
        name = line.budget.degrade_to
        routes = self._routes.setdefault(configured, {})
        provider = routes.get(name)
        if provider is None:
            try:
                provider = degrade_provider(configured, name)
            except ConfigError as exc:
                log.error("budget degrade route unknown", extra={"err": exc.code})
                provider = degrade_provider(configured, EXTRACTIVE)
            routes[name] = provider
        return BudgetAnswerer(provider, configured.fallback, line)

    def used_pct(self, center: str | None) -> float | None:
        """For alert rules (``budget_used_pct``): the percent used of the center's budget, or
        without a center the highest of any budget; None where there is no budget (or the
        budgets cannot be read: logged, and no other rule's evaluation is held up)."""
        try:
            self.refresh()
        except StewardError as exc:
            log.error("budgets not read for an alert rule", extra={"err": exc.code})
            return None
        lines = self._snapshot.lines
        if center is not None:
            lines = tuple(line for line in lines if line.budget.kind == "center")
            lines = tuple(line for line in lines if line.budget.name == center)
        return max((round(line.percent, 4) for line in lines), default=None)


def _event(line: Line, threshold: int) -> audit.AuditEvent:
    b = line.budget
    return audit.AuditEvent(
        audit.Kind.BUDGET_CROSSED,
        actor="system",
        target=f"budget:{b.key}",
        payload={
            "budget": b.key,
            "month": line.month,
            "threshold": threshold,
            "percent": round(line.percent, 2),
            "spent_usd": round(line.spent_usd, 6),
            "monthly_usd": b.monthly_usd,
            "hard_stop": b.hard_stop,
            "degrade_to": b.degrade_to if b.hard_stop else None,
        },
        reason=(
            f"{b.kind.replace('_', ' ')} {b.name} spent ${line.spent_usd:.4f} of "
            f"${b.monthly_usd:g} in {line.month} ({line.percent:.0f}%, threshold {threshold}%)"
        ),
        center=b.name if b.kind == "center" else None,
    )


def service_for(rt: Runtime) -> BudgetService:
    """The runtime's budget service (STEWARD_BUDGETS_FILE, default HOME/budgets.yaml)."""
    ops = rt.settings.operations
    return BudgetService(
        rt.store,
        rt.authz,
        ops,
        ops.budgets_file or rt.settings.home / "budgets.yaml",
        answerer=lambda: rt.answerer,
    )
