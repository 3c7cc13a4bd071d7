"""Alerts: rules over the operations metrics, evaluated inside the server, delivered by webhook.

Rules are a YAML file (``STEWARD_ALERTS_FILE``, default ``HOME/alerts.yaml``)::

    rules:
      - name: escalations-high
        metric: escalation_rate        # a metric of `steward report`, or one of OWN_METRICS
        window: 1h                     # the period the metric is computed over
        comparison: ">"                # > >= < <=
        threshold: 0.3
        severity: warning              # info | warning | critical
        for: 10m                       # breached this long before it fires (default 0)
        center: north                  # optional: one center's figures

Each rule moves ``ok -> pending -> firing -> resolved`` (state in ``alert_states``); a rule
firing or resolving is an ``alert_events`` row, logged and POSTed to ``STEWARD_ALERTS_WEBHOOK_URL``
with retries (the delivery result is stored with the event). ``steward serve`` evaluates every
``STEWARD_ALERTS_INTERVAL_S`` seconds; with several replicas, one evaluates at a time: the holder
of the ``alerts`` lease (a compare-and-swap on its expiry in ``leases``).
"""

from __future__ import annotations

import json
import logging
import operator
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from ulid import ULID

from steward.config.yamlfile import load_yaml
from steward.core.errors import ConfigError, StewardError
from steward.core.periodic import Periodic
from steward.operations.rollup import CLIENT_ERRORS, error_code
from steward.store import Store
from steward.store.models import AlertEvent, AlertState, AuditRecord, Lease, Ticket

if TYPE_CHECKING:
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

# The metrics of `steward report` (operations/report.py), by name.
REPORT_METRICS: tuple[str, ...] = (
    "resolution_rate",
    "escalation_rate",
    "answer_precision",
    "latency_ms_p50",
    "latency_ms_p95",
    "cost_per_resolved",
    "satisfaction",
    "active_askers_7d",
    "active_askers_30d",
    "active_askers_90d",
    "returning_askers",
    "deflection",
    "questions",
)
# Read here, cheaply, from the store. ``budget_used_pct``: the month to date, whatever the
# window (operations/budgets.py): the center's budget, or the highest of any without a center.
OWN_METRICS: tuple[str, ...] = (
    "review_queue_depth",
    "review_queue_oldest_age_s",
    "error_rate",
    "budget_used_pct",
)
METRICS = (*REPORT_METRICS, *OWN_METRICS)
COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
LEASE = "alerts"
STATES = ("ok", "pending", "firing", "resolved")
_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
OPEN_TICKETS = ("open", "claimed")


MAX_DURATION_S = 3650 * 86_400


def parse_duration(value: object) -> timedelta:
    """``90s``, ``10m``, ``1h``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 10m, 1h or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        found = _DURATION.match(str(value).strip())
        if not found:
            raise ValueError(f"{value!r} is not a duration such as 10m, 1h or 7d")
        seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    # Ten years is longer than any window a deployment has data for; past it, ``now - window``
    # leaves the calendar (a 500 on every page that measures the window).
    if not seconds <= MAX_DURATION_S:
        raise ValueError("a duration is at most 10 years (3650d)")
    return timedelta(seconds=seconds)


def promql_duration(value: timedelta) -> str:
    """A Prometheus duration: the largest unit that divides it (``1h``, ``90s``)."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


class AlertRule(BaseModel):
    """One rule of the alerts file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    metric: str
    window: timedelta = timedelta(hours=1)
    comparison: Literal[">", ">=", "<", "<="]
    threshold: float
    severity: Literal["info", "warning", "critical"] = "warning"
    for_: timedelta = Field(default=timedelta(0), alias="for")
    center: str | None = Field(default=None, min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; choose from {', '.join(METRICS)}")
        return value

    @field_validator("window", "for_", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the window must be longer than 0")
        return value

    def breached(self, value: float | None) -> bool:
        return value is not None and COMPARE[self.comparison](value, self.threshold)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "window": promql_duration(self.window),
            "comparison": self.comparison,
            "threshold": self.threshold,
            "severity": self.severity,
            "for": promql_duration(self.for_),
            "center": self.center,
            "description": self.description,
        }


class AlertFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[AlertRule] = Field(default_factory=list, max_length=500)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[AlertRule]) -> list[AlertRule]:
        seen: set[str] = set()
        for r in rules:
            if r.name in seen:
                raise ValueError(f"two rules are named {r.name!r}")
            seen.add(r.name)
        return rules


def load_rules(path: Path) -> list[AlertRule]:
    """The rules of an alerts file; ConfigError naming the line and field of a mistake."""
    return load_yaml(path, AlertFile, what="Alerts file", error=ConfigError).rules


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    error: str | None


class Webhook:
    """POSTs alert events as JSON, with a timeout and retries with a doubling backoff."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.timeout_s, self.attempts, self.backoff_s = (
            url,
            timeout_s,
            attempts,
            backoff_s,
        )
        self.sleep = sleep
        self.transport = transport

    def send(self, body: dict[str, Any]) -> Delivery:
        delay, error = self.backoff_s, None
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    resp = client.post(self.url, json=body)
                    if resp.status_code < 300:
                        return Delivery(True, attempt, None)
                    error = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    error = type(exc).__name__  # never the URL: it may carry a token
                if attempt < self.attempts:
                    self.sleep(delay)
                    delay *= 2
        log.warning("alert delivery failed", extra={"attempts": self.attempts, "err": error})
        return Delivery(False, self.attempts, error)


class AlertBook:
    """The alert rules, their states and events, and the one evaluation that moves them."""

    def __init__(self, rt: Runtime, *, holder: str | None = None) -> None:
        """``holder`` names this evaluator in the lease (default ``host:pid``)."""
        self.rt = rt
        self.store: Store = rt.store
        cfg = rt.settings.control
        self.path = cfg.alerts_file or rt.settings.home / "alerts.yaml"
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"[:64]
        url = cfg.alerts_webhook_url
        self.webhook: Webhook | None = (
            Webhook(
                url.get_secret_value(),
                timeout_s=cfg.alerts_webhook_timeout_s,
                attempts=cfg.alerts_webhook_attempts,
                backoff_s=cfg.alerts_webhook_backoff_s,
            )
            if url is not None
            else None
        )
        self._rules: tuple[float, list[AlertRule]] | None = None

    # ------------------------------------------------------------------ rules

    def rules(self) -> list[AlertRule]:
        """The rules of the alerts file, re-read when it changes (none without a file)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return []
        if self._rules is None or self._rules[0] != mtime:
            self._rules = (mtime, load_rules(self.path))
        return list(self._rules[1])

    # ------------------------------------------------------------------ metrics

    def measure(self, rules: list[AlertRule], now: datetime) -> dict[str, float | None]:
        """Each rule's metric value now (None: no data); one report per (center, window)."""
        reports: dict[tuple[str | None, timedelta], dict[str, Any]] = {}
        out: dict[str, float | None] = {}
        for rule in rules:
            if rule.metric in OWN_METRICS:
                out[rule.name] = self._own(rule, now)
                continue
            key = (rule.center, rule.window)
            if key not in reports:
                from steward.operations.report import report

                try:
                    reports[key] = report(self.rt, center=rule.center, since=rule.window, now=now)
                except StewardError as exc:  # e.g. a rule's center left the directory
                    extra = {"rule": rule.name, "err": exc.code}
                    log.warning("alert rule cannot be measured", extra=extra)
                    reports[key] = {}
            value = reports[key].get(rule.metric)
            out[rule.name] = float(value) if isinstance(value, int | float) else None
        return out

    def _own(self, rule: AlertRule, now: datetime) -> float | None:
        if rule.metric == "error_rate":
            return self._error_rate(rule, now)
        if rule.metric == "budget_used_pct":
            return self.rt.budgets.used_pct(rule.center)
        q = select(func.count(), func.min(Ticket.created_at)).where(Ticket.status.in_(OPEN_TICKETS))
        if rule.center is not None:
            q = q.where(Ticket.center == rule.center)
        with self.store.read() as s:
            depth, first = s.execute(q).one()
        if rule.metric == "review_queue_depth":
            return float(depth or 0)
        if first is None:
            return 0.0
        return max((now - _aware(first)).total_seconds(), 0.0)

    def _error_rate(self, rule: AlertRule, now: datetime) -> float | None:
        """The share of questions in the window that ended in a server error (a client's
        mistake, such as an unknown conversation or a bad body, counts in neither part)."""
        since = (now - rule.window).astimezone(UTC).replace(tzinfo=None)
        where = [AuditRecord.kind == "question", AuditRecord.ts >= since]
        if rule.center is not None:
            where.append(AuditRecord.center == rule.center)
        with self.store.read() as s:
            q = select(AuditRecord.action, func.count()).where(*where)
            counts = {str(a): int(n) for a, n in s.execute(q.group_by(AuditRecord.action)).all()}
            reasons = s.scalars(
                select(AuditRecord.reason).where(*where, AuditRecord.action == "error")
            ).all()
        rejected = sum(1 for r in reasons if error_code(r) in CLIENT_ERRORS)
        total = sum(counts.values()) - rejected
        return (counts.get("error", 0) - rejected) / total if total > 0 else None

    # ------------------------------------------------------------------ evaluation

    def acquire(self, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the evaluator's lease: a compare-and-swap on its expiry, so one
        evaluator at a time holds it across replicas."""
        until = now + ttl
        with self.store.write() as (s, _):
            swapped = s.execute(
                update(Lease)
                .where(
                    Lease.name == LEASE,
                    (Lease.holder == self.holder) | (Lease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=until)
            )
            if int(getattr(swapped, "rowcount", 0) or 0) == 1:
                return True
        try:
            with self.store.write() as (s, _):
                if s.get(Lease, LEASE) is not None:
                    return False
                s.execute(insert(Lease).values(name=LEASE, holder=self.holder, expires_at=until))
        except IntegrityError:  # another replica inserted it first
            return False
        return True

    def tick(
        self, now: datetime | None = None, ttl: timedelta | None = None
    ) -> list[AlertEvent] | None:
        """One scheduled evaluation, if this evaluator holds the lease (None otherwise)."""
        now = now or datetime.now(UTC)
        interval = max(self.rt.settings.control.alerts_interval_s, 1)
        if not self.acquire(now, ttl or timedelta(seconds=3 * interval)):
            return None
        return self.evaluate(now)

    def evaluate(self, now: datetime | None = None) -> list[AlertEvent]:
        """Evaluate every rule once: new states stored, and the events of rules that fired or
        resolved logged and delivered."""
        now = now or datetime.now(UTC)
        rules = self.rules()
        values = self.measure(rules, now)
        events: list[AlertEvent] = []
        with self.store.write() as (s, _):
            for rule in rules:
                event = self._step(s, rule, values[rule.name], now)
                if event is not None:
                    s.add(event)
                    events.append(event)
        for event in events:
            self._deliver(event, next(r for r in rules if r.name == event.rule))
        return events

    def _step(
        self, s: Any, rule: AlertRule, value: float | None, now: datetime
    ) -> AlertEvent | None:
        """Move one rule's state; the event of a change that people must hear of."""
        state = s.get(AlertState, rule.name)
        if state is None:
            state = AlertState(rule=rule.name, state="ok", value=None, since=now, updated_at=now)
            s.add(state)
        since = _aware(state.since) if state.since is not None else now
        new = state.state
        if rule.breached(value):
            if state.state in ("ok", "resolved"):
                new, since = "pending", now
            if new == "pending" and now - since >= rule.for_:
                new, since = "firing", now
        elif state.state == "firing":
            new, since = "resolved", now
        elif state.state == "pending":
            new, since = "ok", now
        changed = new != state.state
        state.state, state.value, state.since, state.updated_at = new, value, since, now
        if not changed or new not in ("firing", "resolved"):
            return None
        return AlertEvent(
            id=str(ULID()),
            rule=rule.name,
            state=new,
            severity=rule.severity,
            value=value,
            threshold=rule.threshold,
            message=_message(rule, value, new),
            ts=now,
            delivered=False,
            attempts=0,
            last_error=None,
        )

    def _deliver(self, event: AlertEvent, rule: AlertRule) -> None:
        body = event_body(event, rule)
        level = logging.WARNING if event.state == "firing" else logging.INFO
        log.log(
            level,
            "alert %s",
            event.state,
            extra={k: body[k] for k in ("rule", "severity", "value", "threshold")},
        )
        if self.webhook is None:
            return
        result = self.webhook.send(body)
        with self.store.write() as (s, _):
            row = s.get(AlertEvent, event.id)
            if row is not None:
                row.delivered, row.attempts, row.last_error = (
                    result.delivered,
                    result.attempts,
                    result.error,
                )
        event.delivered, event.attempts, event.last_error = (
            result.delivered,
            result.attempts,
            result.error,
        )

    # ------------------------------------------------------------------ reading

    def overview(self, limit: int = 50) -> dict[str, Any]:
        """Rules, their states and the latest events (newest first), as JSON-ready data."""
        rules = self.rules()
        with self.store.read() as s:
            states = {st.rule: st for st in s.scalars(select(AlertState))}
            events = list(s.scalars(select(AlertEvent).order_by(AlertEvent.ts.desc()).limit(limit)))
        return {
            "rules": [{**r.as_dict(), **_state(states.get(r.name))} for r in rules],
            "events": [
                {
                    "id": e.id,
                    "rule": e.rule,
                    "state": e.state,
                    "severity": e.severity,
                    "value": e.value,
                    "threshold": e.threshold,
                    "message": e.message,
                    "ts": _aware(e.ts).isoformat(),
                    "delivered": e.delivered,
                    "attempts": e.attempts,
                    "last_error": e.last_error,
                }
                for e in events
            ],
        }


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _state(row: AlertState | None) -> dict[str, Any]:
    if row is None:
        return {"state": "ok", "value": None, "since": None, "updated_at": None}
    return {
        "state": row.state,
        "value": row.value,
        "since": _aware(row.since).isoformat() if row.since else None,
        "updated_at": _aware(row.updated_at).isoformat(),
    }


def _message(rule: AlertRule, value: float | None, state: str) -> str:
    where = f" in center {rule.center}" if rule.center else ""
    shown = "no data" if value is None else f"{value:.4g}"
    if state == "firing":
        return (
            f"{rule.metric}{where} is {shown} over {promql_duration(rule.window)}, "
            f"{rule.comparison} {rule.threshold:g}"
        )
    return f"{rule.metric}{where} is back: {shown} over {promql_duration(rule.window)}"


def event_body(event: AlertEvent, rule: AlertRule) -> dict[str, Any]:
    """The webhook's JSON: figures and names only, never anything an asker wrote."""
    return {
        "source": "steward",
        "id": event.id,
        "rule": rule.name,
        "state": event.state,
        "severity": rule.severity,
        "metric": rule.metric,
        "center": rule.center,
        "value": event.value,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "window": promql_duration(rule.window),
        "message": event.message,
        "ts": _aware(event.ts).isoformat(),
    }


def evaluator(book: AlertBook, interval_s: int) -> Periodic:
    """Evaluates the rules every ``interval_s`` seconds in one daemon thread of the server
    (every replica runs one; the lease lets one of them evaluate at a time)."""
    return Periodic("alert-evaluation", interval_s, book.tick)


# ------------------------------------------------------------------ Prometheus export

_DECISIONS = "steward_decisions_total"


def _promql(rule: AlertRule) -> str | None:
    """The rule's metric as PromQL over the families of /metrics, or None where it has none."""
    w = promql_duration(rule.window)
    center = f"center={_label(rule.center)}" if rule.center else ""

    def sel(*labels: str) -> str:
        inner = ",".join(x for x in (*labels, center) if x)
        return f"{_DECISIONS}{{{inner}}}" if inner else _DECISIONS

    def share(action: str) -> str:
        part = sel(f"action={_label(action)}")
        return f"sum(rate({part}[{w}])) / sum(rate({sel()}[{w}]))"

    if rule.metric == "escalation_rate":
        return share("escalate")
    if rule.metric == "error_rate":
        return share("error")
    if rule.metric == "questions":
        return f"sum(increase({sel()}[{w}]))"
    if rule.center is not None:
        return None  # the families below carry no center label
    if rule.metric in ("latency_ms_p50", "latency_ms_p95"):
        q = "0.5" if rule.metric.endswith("p50") else "0.95"
        return (
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(steward_question_duration_seconds_bucket[{w}]))) * 1000"
        )
    if rule.metric == "review_queue_depth":
        return 'sum(steward_review_queue_depth{queue="tickets"})'
    if rule.metric == "review_queue_oldest_age_s":
        return 'max(steward_review_queue_oldest_age_seconds{queue="tickets"})'
    return None


def export_prometheus(rules: list[AlertRule]) -> str:
    """The rules as a Prometheus alerting-rules file; rules with no PromQL equivalent (figures
    computed from the audit trail, feedback and reviews) are listed as skipped in a comment."""
    out, skipped = [], []
    for rule in rules:
        expr = _promql(rule)
        if expr is None:
            skipped.append(f"{rule.name} ({rule.metric}{' for one center' if rule.center else ''})")
            continue
        entry: dict[str, Any] = {
            "alert": rule.name,
            "expr": f"({expr}) {rule.comparison} {rule.threshold:g}",
            "for": promql_duration(rule.for_),
            "labels": {"severity": rule.severity, "source": "steward"},
            "annotations": {
                "summary": f"{rule.metric} {rule.comparison} {rule.threshold:g}"
                + (f" in center {rule.center}" if rule.center else ""),
                "description": rule.description or f"Steward alert rule {rule.name}.",
            },
        }
        if rule.center:
            entry["labels"]["center"] = rule.center
        out.append(entry)
    head = "# Prometheus alerting rules exported by `steward alerts export-prometheus`.\n"
    if skipped:
        head += "# Skipped (no PromQL equivalent; Steward evaluates them itself):\n"
        head += "".join(f"#   {s}\n" for s in skipped)
    body = yaml.safe_dump(
        {"groups": [{"name": "steward", "rules": out}]}, sort_keys=False, allow_unicode=True
    )
    return head + body


def _label(value: str) -> str:
    """A PromQL label value, quoted (JSON's escaping is PromQL's for strings)."""
    return json.dumps(value)
