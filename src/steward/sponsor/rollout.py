"""Rollout in waves behind success gates: feature flags on the request path, per use case.

The rollout file (``STEWARD_ROLLOUT_FILE``, default ``HOME/rollout.yaml`` when present) declares
use cases: which questions belong to each (intents, centers, or all), its phase, what askers
outside the open waves get (the previous behaviour: a hand-off to a person, or an abstention,
with the reason ``not_rolled_out``), its waves in order (centers, groups, a share of askers),
its success gates and its guard metrics (docs/rollout.md)::

    usecases:
      - id: card-fees
        title: Card and account fees
        phase: pilot
        scope: {intents: [fees]}
        previous: handoff
        waves:
          - {id: north-staff, centers: [north], groups: [all_staff]}
          - {id: customers-10, groups: [customers], share: 10}
        gates:
          - {metric: resolution_rate, comparison: ">", threshold: 0.8, window: 7d, min_sample: 50}
        guards:
          - {metric: error_rate, limit: 0.05, window: 1h, min_sample: 20}

Which waves are open is state in the store (``rollout_waves``), changed only by
:meth:`Rollout.open` and :meth:`Rollout.close` (``MANAGE_ROLLOUT``, audited) and by
:meth:`Rollout.evaluate`, which closes the newest open wave of a use case whose guard metric
crossed its limit (audited with the metric and its figure, and raised as an alert). Every change
moves the ``rollout_version`` key in ``meta``; each worker re-reads the open waves when it moved,
checking at most every ``STEWARD_SWITCH_REFRESH_S`` seconds, as the kill switches do.
"""

from __future__ import annotations

import fnmatch
import hmac
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from ulid import ULID

from steward import audit
from steward.core import reasons
from steward.core.errors import ConfigError, ConflictError, InputError, NotFoundError
from steward.core.periodic import Periodic
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.alerts import promql_duration
from steward.pipeline.decide import Decision
from steward.sponsor.gates import METRICS, Figures, judged, measure, window_start
from steward.sponsor.rollout_file import (
    LIVE_PHASES,
    PHASES,
    Gate,
    Guard,
    RolloutFile,
    UseCase,
    Wave,
    load_plan,
)
from steward.store import Store
from steward.store.models import AlertEvent, Center, Group, RolloutWave

if TYPE_CHECKING:
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

NOT_ROLLED_OUT = "not_rolled_out"
HIDDEN = "recorded in the audit trail"  # an operator's reason, as a sponsor is shown it
RULE = f"rollout.{NOT_ROLLED_OUT}"  # the audit row's rule of the previous behaviour
VERSION_KEY = "rollout_version"
SYSTEM = "system"
MAX_REASON = 500
SHARE_BUCKETS = 10_000  # a share is kept to 0.01 of a percent
_UNSET = object()


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _iso(ts: datetime | None) -> str | None:
    found = _aware(ts)
    return found.isoformat() if found is not None else None


class Rollout:
    """The rollout: the file, the open waves, the request path's check, and every change."""

    def __init__(
        self, rt: Runtime, *, refresh_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rt = rt
        self.store: Store = rt.store
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        self._plan: tuple[float, RolloutFile] | None = None  # (mtime, file)
        self._version: object = _UNSET  # the open waves' version last read
        self._next_check = float("-inf")
        self._open: dict[str, frozenset[str]] = {}
        self._share_key: bytes | None = None

    # ------------------------------------------------------------------ the file

    @property
    def path(self) -> Path:
        return self.rt.settings.sponsor.rollout_file or self.rt.settings.home / "rollout.yaml"

    def plan(self) -> RolloutFile:
        """The rollout file, re-read when it changed; empty without one (a file named by
        STEWARD_ROLLOUT_FILE must exist). A bad file is a ConfigError."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            if self.rt.settings.sponsor.rollout_file is not None:
                raise ConfigError(
                    f"No rollout file at {self.path} (STEWARD_ROLLOUT_FILE)."
                ) from None
            self._plan = None
            return RolloutFile()
        cached = self._plan
        if cached is None or cached[0] != mtime:
            cached = self._plan = (mtime, load_plan(self.path))
        return cached[1]

    def _served_plan(self) -> RolloutFile:
        """The plan on the request path: a file broken while serving keeps the last good one
        in force (logged), rather than failing every question."""
        last = self._plan
        try:
            return self.plan()
        except ConfigError as exc:
            if last is None:
                raise
            log.error("rollout file not reloaded: %s", exc.message)
            return last[1]

    # ------------------------------------------------------------------ the request path

    def _fresh(self) -> tuple[RolloutFile, dict[str, frozenset[str]]]:
        now = self.clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    plan = self._served_plan()
                    version = self.store.get_meta(VERSION_KEY) if plan.usecases else None
                    if plan.usecases and version != self._version:
                        self._open = self._load_open()
                        self._version = version
                    self._next_check = now + self.refresh_s
        cached = self._plan
        return (cached[1] if cached is not None else RolloutFile()), self._open

    def _load_open(self) -> dict[str, frozenset[str]]:
        with self.store.read() as s:
            rows = s.execute(
                select(RolloutWave.usecase, RolloutWave.wave).where(RolloutWave.is_open.is_(True))
            ).all()
        out: dict[str, set[str]] = {}
        for usecase, wave in rows:
            out.setdefault(str(usecase), set()).add(str(wave))
        return {k: frozenset(v) for k, v in out.items()}

    def decide(
        self, who: Principal, intent: str | None
    ) -> tuple[dict[str, Any] | None, Decision | None]:
        """For one question: its tag for the audit row (the use case, and the open wave that
        serves the asker, or none) and, for an asker outside every open wave, the previous
        behaviour. (None, None) for a question of no rolled-out use case."""
        plan, opened = self._fresh()
        if not plan.usecases:
            return None, None
        uc = plan.usecase_for(who.center, intent)
        if uc is None:
            return None, None
        waves = opened.get(uc.id, frozenset())
        for wave in uc.waves:
            if wave.id in waves and self.member(uc, wave, who):
                return {"usecase": uc.id, "wave": wave.id}, None
        return {"usecase": uc.id, "wave": None}, self.previous(uc)

    @staticmethod
    def previous(uc: UseCase) -> Decision:
        """What an asker outside every open wave gets: the behaviour before the use case."""
        why = f"use case {uc.id} is not rolled out to this asker yet ({NOT_ROLLED_OUT})"
        if uc.previous == "abstain":
            return Decision("abstain", why, rule=RULE)
        return Decision("escalate", f"{why}; a person answers", reasons.POLICY.name, rule=RULE)

    def member(self, uc: UseCase, wave: Wave, who: Principal) -> bool:
        """Whether the asker is in the wave: only who they are counts (their center, groups
        and a keyed hash of their user id), nothing a request carries."""
        if wave.centers and who.center not in wave.centers:
            return False
        if wave.groups and not who.groups.intersection(wave.groups):
            return False
        return wave.share is None or self.bucket(uc.id, who.user_id) < round(wave.share * 100)

    def bucket(self, usecase: str, user_id: str) -> int:
        """The asker's place, 0 to 9,999, in a use case's shares: stable (so each wider share
        keeps the askers of the narrower one) and keyed with a secret derived from the store's
        masking key, so that no one can tell from a user id which share it falls in."""
        key = self._share_key
        if key is None:
            master = self.rt.masking_key
            key = self._share_key = hmac.digest(master, b"steward rollout share", "sha256")
        digest = hmac.digest(key, f"{usecase}\x1f{user_id}".encode(), "sha256")
        return int.from_bytes(digest[:8], "big") % SHARE_BUCKETS

    # ------------------------------------------------------------------ judging

    def _measure(self, uc: UseCase, since: datetime, until: datetime) -> Figures:
        return measure(self.store, uc.id, since, until, self.rt.settings.operations)

    def judge(self, uc: UseCase, now: datetime | None = None) -> dict[str, Any]:
        """The gates and guards of a use case on the live figures of their windows, and
        whether its next wave may open (gates pass, or no wave has served yet; no guard
        crossed)."""
        now = now or datetime.now(UTC)
        cache: dict[timedelta, Figures] = {}

        def figures(window: timedelta) -> Figures:
            if window not in cache:
                cache[window] = self._measure(uc, now - window, now)
            return cache[window]

        gates = [_gate_row(g, figures(g.window)) for g in uc.gates]
        guards = [_guard_row(g, figures(g.window)) for g in uc.guards]
        opened = self._rows(uc.id)
        first = not any(r.opened_at is not None for r in opened.values())
        nxt = next((w.id for w in uc.waves if not _is_open(opened.get(w.id))), None)
        blocked = [f"gate {g['metric']} {g['status']}" for g in gates if g["status"] != "pass"]
        if first:
            blocked = []  # nothing served yet: the first wave is what the gates will judge
        blocked += [f"guard {g['metric']} crossed" for g in guards if g["crossed"]]
        if nxt is None:
            blocked = ["every wave is open"]
        elif uc.phase not in LIVE_PHASES:
            blocked.insert(0, f"phase {uc.phase}: waves open in the pilot and scaling phases")
        return {
            "gates": gates,
            "guards": guards,
            "next_wave": nxt,
            "may_open": not blocked,
            "blocked_by": blocked,
            "first_wave": first,
        }

    def _rows(self, usecase: str) -> dict[str, RolloutWave]:
        with self.store.read() as s:
            rows = s.scalars(select(RolloutWave).where(RolloutWave.usecase == usecase))
            return {r.wave: r for r in rows}

    # ------------------------------------------------------------------ changing

    def _find(self, usecase: str, wave: str) -> tuple[UseCase, Wave]:
        plan = self.plan()
        uc = plan.usecase(usecase)
        if uc is None:
            listed = ", ".join(u.id for u in plan.usecases) or "none (see docs/rollout.md)"
            raise NotFoundError(
                f"Unknown use case {usecase[:64]!r}; the rollout file's use cases: {listed}."
            )
        found = uc.wave(wave)
        if found is None:
            raise NotFoundError(
                f"Use case {uc.id} has no wave {wave[:64]!r}; its waves: "
                f"{', '.join(w.id for w in uc.waves)}."
            )
        return uc, found

    def _reason(self, reason: str | None, what: str) -> str:
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(f"A reason is required for {what}: say why, for the audit trail.")
        if len(reason) > MAX_REASON:
            raise InputError(f"The reason is over {MAX_REASON} characters.")
        return self.rt.masker.mask(reason.strip()).text

    def _known(self, uc: UseCase, wave: Wave) -> None:
        """Refuse names the store does not know: a typo would open a wave that serves no one
        (or a scope that holds no question) while the operator believes it live."""
        with self.store.read() as s:
            centers = set(s.scalars(select(Center.id)))
            groups = set(s.scalars(select(Group.id)))
        for c in (*uc.scope.centers, *wave.centers):
            if c not in centers:
                raise NotFoundError(f"Use case {uc.id}: unknown center {c!r} in the rollout file.")
        for g in wave.groups:
            if g not in groups:
                raise NotFoundError(f"Use case {uc.id}: unknown group {g!r} in the rollout file.")
        if not uc.scope.intents:
            return
        model = self.rt.intents
        if model is None:
            raise ConflictError(
                f"Use case {uc.id} is scoped by intent: train the intent model first "
                "(`steward intent train FILE`), or scope it by center."
            )
        labels = [str(label) for label in model.labels]
        for pattern in uc.scope.intents:
            if not fnmatch.filter(labels, pattern):
                raise NotFoundError(
                    f"Use case {uc.id}: no intent matches {pattern!r}; the model's intents: "
                    f"{', '.join(labels)}."
                )

    def open(
        self,
        who: Principal,
        usecase: str,
        wave: str,
        *,
        override: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Open the next wave of a use case: its gates must pass (or ``override`` says why it
        opens anyway, audited) and no guard metric may be crossed."""
        self.rt.authz.authorize(who, Permission.MANAGE_ROLLOUT, f"rollout:{usecase}")
        uc, w = self._find(usecase, wave)
        why = self._reason(override, "an override") if override is not None else None
        verdict = self._may_open(uc, w, overridden=why is not None, now=now)
        at = now or datetime.now(UTC)
        payload = {
            "usecase": uc.id,
            "wave": w.id,
            "phase": uc.phase,
            "override": why is not None,
            "gates_passed": verdict["may_open"],
            "blocked_by": verdict["blocked_by"],
            "gates": [_brief(g) for g in verdict["gates"]],
            "guards": [_brief(g) for g in verdict["guards"]],
        }
        reason = why or ("first wave" if verdict["first_wave"] else "the gates pass")
        event = self._event(audit.Kind.ROLLOUT_WAVE_OPENED, who, uc.id, w.id, payload, reason)
        try:
            with self.store.write() as (s, _):
                row = s.get(RolloutWave, (uc.id, w.id))
                if row is None:
                    row = RolloutWave(usecase=uc.id, wave=w.id)
                    s.add(row)
                elif row.is_open:
                    raise ConflictError(f"Wave {w.id} of use case {uc.id} is already open.")
                row.is_open, row.opened_at, row.opened_by, row.override = True, at, who.user_id, why
                row.closed_at = row.closed_by = row.close_reason = None
                s.flush()
                Store.set_meta(s, VERSION_KEY, str(ULID()))
                audit.record(self.store, event, session=s)
        except IntegrityError:  # another operator opened it at the same moment
            raise ConflictError(f"Wave {w.id} of use case {uc.id} is already open.") from None
        self._next_check = float("-inf")  # this worker serves it at once
        log.info("rollout wave opened", extra={"usecase": uc.id, "wave": w.id})
        return {**payload, "opened_at": at.isoformat(), "opened_by": who.user_id}

    def _may_open(
        self, uc: UseCase, w: Wave, *, overridden: bool, now: datetime | None
    ) -> dict[str, Any]:
        """The verdict on opening ``w`` now; ConflictError when it may not (out of its phase,
        out of order, or its gates or guards block it without an override)."""
        if uc.phase not in LIVE_PHASES:
            raise ConflictError(
                f"Use case {uc.id} is in phase {uc.phase}: waves open in the pilot and scaling "
                "phases (set its phase in the rollout file)."
            )
        self._known(uc, w)
        verdict = self.judge(uc, now)
        if verdict["next_wave"] != w.id:
            if _is_open(self._rows(uc.id).get(w.id)):
                raise ConflictError(f"Wave {w.id} of use case {uc.id} is already open.")
            raise ConflictError(
                f"Wave {w.id} of use case {uc.id} is not next: waves open in order, and the "
                f"next is {verdict['next_wave']}."
            )
        if not verdict["may_open"] and not overridden:
            raise ConflictError(
                f"Wave {w.id} of use case {uc.id} may not open: "
                f"{'; '.join(verdict['blocked_by'])}. Open it with an override and a reason "
                "(--override REASON) if you must."
            )
        return verdict

    def close(
        self, who: Principal, usecase: str, wave: str, *, reason: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """Close an open wave by hand: its askers get the previous behaviour again."""
        self.rt.authz.authorize(who, Permission.MANAGE_ROLLOUT, f"rollout:{usecase}")
        try:
            uc, w = self._find(usecase, wave)
            ids = (uc.id, w.id)
        except (ConfigError, NotFoundError):
            # A broken rollout file, or one that no longer names the use case or wave, must not
            # keep a wave open: close what the store holds open.
            ids = self._open_row(usecase, wave)
        why = self._reason(reason, "closing a wave")
        at = now or datetime.now(UTC)
        with self.store.write() as (s, _):
            if not self._shut(s, *ids, who.user_id, why, at):
                raise ConflictError(f"Wave {ids[1]} of use case {ids[0]} is not open.")
            payload = {"usecase": ids[0], "wave": ids[1], "automatic": False}
            event = self._event(audit.Kind.ROLLOUT_WAVE_CLOSED, who, *ids, payload, why)
            audit.record(self.store, event, session=s)
        self._next_check = float("-inf")
        return {**payload, "closed_at": at.isoformat(), "closed_by": who.user_id}

    def _open_row(self, usecase: str, wave: str) -> tuple[str, str]:
        """(use case, wave) of a wave the store holds open, read without the rollout file."""
        with self.store.read() as s:
            row = s.execute(
                select(RolloutWave.usecase, RolloutWave.wave).where(
                    RolloutWave.usecase == usecase[:64],
                    RolloutWave.wave == wave[:64],
                    RolloutWave.is_open.is_(True),
                )
            ).first()
        if row is None:
            raise NotFoundError(
                f"No open wave {wave[:64]!r} of use case {usecase[:64]!r} (the rollout file "
                "cannot be read; fix it to see every use case)."
            )
        return str(row[0]), str(row[1])

    @staticmethod
    def _shut(s: Any, usecase: str, wave: str, actor: str, why: str, at: datetime) -> bool:
        """Close the wave if it is still open (a compare-and-swap: with several replicas
        evaluating, the first closes it, the others find it closed)."""
        done = s.execute(
            update(RolloutWave)
            .where(
                RolloutWave.usecase == usecase,
                RolloutWave.wave == wave,
                RolloutWave.is_open.is_(True),
            )
            .values(is_open=False, closed_at=at, closed_by=actor, close_reason=why)
        )
        if int(getattr(done, "rowcount", 0) or 0) != 1:
            return False
        Store.set_meta(s, VERSION_KEY, str(ULID()))
        return True

    def _event(
        self,
        kind: audit.Kind,
        who: Principal | None,
        usecase: str,
        wave: str,
        payload: dict[str, Any],
        reason: str,
    ) -> audit.AuditEvent:
        return audit.AuditEvent(
            kind,
            actor=who.user_id if who is not None else SYSTEM,
            target=f"rollout:{usecase}:{wave}",
            payload=payload,
            reason=reason,
            channel="cli" if who is not None and who.via == "cli" else "service",
            groups=tuple(sorted(who.groups)) if who is not None else (),
        )

    # ------------------------------------------------------------------ the guard

    def evaluate(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Check every use case's guard metrics; close the newest open wave of each use case
        whose guard crossed its limit. A guard's window starts no earlier than the use case's
        last close, so one breach closes one wave, not every wave in turn."""
        now = now or datetime.now(UTC)
        closed: list[dict[str, Any]] = []
        try:
            # A file broken while serving: the guards go on watching by the last good one.
            plan = self._served_plan()
        except ConfigError as exc:  # broken since start: nothing to watch by (one line)
            log.error("rollout guards not evaluated: %s", exc.message)
            return closed
        for uc in plan.usecases:
            rows = self._rows(uc.id)
            newest = next((w for w in reversed(uc.waves) if _is_open(rows.get(w.id))), None)
            if newest is None or not uc.guards:
                continue
            closes = [c for r in rows.values() if (c := _aware(r.closed_at)) is not None]
            reset = max(closes, default=None)
            for g in uc.guards:
                fig = self._measure(uc, window_start(now, g.window, reset), now)
                figure = fig.metrics[g.metric]
                if judged(figure, g.comparison, g.limit, g.min_sample) != "pass":
                    continue
                done = self._roll_back(uc, newest, g, figure.value, figure.sample, now)
                if done is not None:
                    closed.append(done)
                break
        return closed

    def _roll_back(
        self, uc: UseCase, w: Wave, g: Guard, value: float | None, sample: int, now: datetime
    ) -> dict[str, Any] | None:
        figure = f"{value:.4g}" if value is not None else "no data"
        why = (
            f"guard {g.metric} is {figure} over {promql_duration(g.window)} "
            f"({sample} questions), {g.comparison} its limit {g.limit:g}"
        )
        payload = {
            "usecase": uc.id,
            "wave": w.id,
            "automatic": True,
            "metric": g.metric,
            "value": value,
            "comparison": g.comparison,
            "limit": g.limit,
            "window": promql_duration(g.window),
            "sample": sample,
        }
        alert = AlertEvent(
            id=str(ULID()),
            rule=f"rollout.{uc.id}",
            state="firing",
            severity="critical",
            value=value,
            threshold=g.limit,
            message=f"rollout {uc.id}: wave {w.id} closed: {why}",
            ts=now,
            delivered=False,
            attempts=0,
            last_error=None,
        )
        with self.store.write() as (s, _):
            if not self._shut(s, uc.id, w.id, SYSTEM, why, now):
                return None  # another replica closed it first
            event = self._event(
                audit.Kind.ROLLOUT_WAVE_ROLLED_BACK, None, uc.id, w.id, payload, why
            )
            audit.record(self.store, event, session=s)
            s.add(alert)
        self._next_check = float("-inf")
        log.warning("rollout wave closed by its guard", extra={"usecase": uc.id, "wave": w.id})
        self._deliver(alert, payload)
        return {**payload, "reason": why, "alert_id": alert.id, "closed_at": now.isoformat()}

    def _deliver(self, alert: AlertEvent, payload: dict[str, Any]) -> None:
        """Send the alert to the alerts webhook (STEWARD_ALERTS_WEBHOOK_URL), if one is set,
        in the alert events' shape; the result is kept with the event."""
        hook = self.rt.alerts.webhook
        if hook is None:
            return
        body = {
            "source": "steward",
            "id": alert.id,
            "rule": alert.rule,
            "state": alert.state,
            "severity": alert.severity,
            "metric": payload["metric"],
            "center": None,
            "value": alert.value,
            "comparison": payload["comparison"],
            "threshold": alert.threshold,
            "window": payload["window"],
            "message": alert.message,
            "ts": _iso(alert.ts),
            "usecase": payload["usecase"],
            "wave": payload["wave"],
        }
        result = hook.send(body)
        with self.store.write() as (s, _):
            row = s.get(AlertEvent, alert.id)
            if row is not None:
                row.delivered, row.attempts, row.last_error = (
                    result.delivered,
                    result.attempts,
                    result.error,
                )

    # ------------------------------------------------------------------ reading

    def status(self, who: Principal, now: datetime | None = None) -> dict[str, Any]:
        """Every use case: its waves (open or not, since when, by whom), its gates with the
        live figures, its guards, and whether its next wave may open."""
        self.rt.authz.authorize(who, Permission.VIEW_SPONSOR, "rollout")
        names = self.rt.authz.permits(who, Permission.MANAGE_ROLLOUT)  # who opened: operators
        now = now or datetime.now(UTC)
        problem = None
        try:
            plan = self.plan()
        except ConfigError as exc:
            if self._plan is None:
                raise
            # The last good file stays in force on the request path; say so, and keep the
            # page (and its close forms) working so that a wave can still be closed.
            plan = self._plan[1]
            problem = exc.message if names else "The rollout file cannot be read just now."
        return {
            "file_error": problem,
            "file": str(self.path) if plan.usecases and names else None,
            "interval_s": self.rt.settings.sponsor.rollout_interval_s,
            "as_of": now.isoformat(),
            "usecases": [self._usecase(uc, now, names) for uc in plan.usecases],
        }

    def _usecase(self, uc: UseCase, now: datetime, names: bool) -> dict[str, Any]:
        verdict = self.judge(uc, now)
        rows = self._rows(uc.id)
        windows = [g.window for g in uc.gates] + [g.window for g in uc.guards]
        span = max(windows, default=timedelta(days=7))
        served = self._measure(uc, now - span, now)
        waves = []
        for w in uc.waves:
            r = rows.get(w.id)
            waves.append(
                {
                    "id": w.id,
                    "title": w.title,
                    "criteria": w.criteria(),
                    "open": _is_open(r),
                    "opened_at": _iso(r.opened_at) if r else None,
                    "opened_by": (r.opened_by if names else "an operator")
                    if r and r.opened_by
                    else None,
                    # Reasons are typed by operators and may name people: a sponsor sees
                    # that there is one (the audit trail has it), not what it says.
                    "override": (r.override if names else HIDDEN) if r and r.override else None,
                    "closed_at": _iso(r.closed_at) if r else None,
                    "closed_by": (r.closed_by if names or r.closed_by == SYSTEM else "an operator")
                    if r and r.closed_by
                    else None,
                    "close_reason": (r.close_reason if names or r.closed_by == SYSTEM else HIDDEN)
                    if r and r.close_reason
                    else None,
                    "questions": served.by_wave.get(w.id, 0),
                }
            )
        return {
            "id": uc.id,
            "title": uc.title,
            "phase": uc.phase,
            "phases": list(PHASES),
            "scope": uc.scope.model_dump(),
            "previous": uc.previous,
            "waves": waves,
            "window": promql_duration(span),
            "previous_questions": served.previous,
            **verdict,
        }


def _is_open(row: RolloutWave | None) -> bool:
    return row is not None and bool(row.is_open)


def _measured(g: Gate | Guard, fig: Figures) -> dict[str, Any]:
    """What a gate's and a guard's rows share: the metric, its window and the live figure."""
    figure = fig.metrics[g.metric]
    return {
        "metric": g.metric,
        "label": METRICS[g.metric][0],
        "unit": METRICS[g.metric][1],
        "comparison": g.comparison,
        "window": promql_duration(g.window),
        "min_sample": g.min_sample,
        "value": figure.value,
        "sample": figure.sample,
    }


def _gate_row(g: Gate, fig: Figures) -> dict[str, Any]:
    status = judged(fig.metrics[g.metric], g.comparison, g.threshold, g.min_sample)
    return {**_measured(g, fig), "threshold": g.threshold, "status": status}


def _guard_row(g: Guard, fig: Figures) -> dict[str, Any]:
    crossed = judged(fig.metrics[g.metric], g.comparison, g.limit, g.min_sample) == "pass"
    return {**_measured(g, fig), "limit": g.limit, "crossed": crossed}


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("metric", "comparison", "threshold", "limit", "window", "value", "sample", "status")
    return {k: row[k] for k in keep if k in row} | (
        {"crossed": row["crossed"]} if "crossed" in row else {}
    )


def evaluator(rollout: Rollout, interval_s: int) -> Periodic:
    """The server's rollout guard: every ``interval_s`` seconds on every replica (closing a
    wave is a compare-and-swap: the first replica to see a breach closes it)."""
    return Periodic("rollout-evaluation", interval_s, rollout.evaluate)
