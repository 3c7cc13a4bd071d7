"""Kill switches and overrides: operators steer the assistant in seconds, without a restart.

A switch is a row in ``switches``; setting or clearing one writes the row, moves the
``switches_version`` key in ``meta`` and records a ``switch-set`` / ``switch-cleared`` audit
event (who, why) in the same transaction. Every worker keeps the active set in memory and
re-reads it when that version moved, checking at most every ``STEWARD_SWITCH_REFRESH_S``
seconds (one single-row read): a change holds on every replica within that interval.

Kinds (``KINDS``):

- ``stop-answers``: nothing is answered automatically for everyone, a center or an intent;
  every question goes to a person (a hand-off ticket), the asker is told so.
- ``force-escalation``: questions on a topic (a pattern over the masked question, or an
  intent) go to a person.
- ``pin-answer``: questions matching a pattern get an operator's approved answer.
- ``exclude-source`` / ``exclude-document``: out of retrieval (after the permission filter,
  before ranking) and out of the answer cache.
- ``provider-fallback``: answers are written by the named provider instead of the configured
  one (a model of the providers file, or ``extractive``).

>>> board.set(ops, "stop-answers", center="north", reason="bad answers on fees")  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import regex  # type: ignore[import-untyped]
from sqlalchemy import select
from ulid import ULID

from steward import audit
from steward.core import reasons
from steward.core.errors import ConflictError, InputError, NotFoundError
from steward.identity.auth import Principal
from steward.identity.authz import Authorizer, Permission
from steward.pipeline.decide import Decision

# The escalation rules' pattern checks: the same engine, time limit and catastrophic-pattern
# probes, so an operator's switch pattern can never stall a worker either.
from steward.pipeline.policy import RULE_TIMEOUT_S, _compiled, _probes
from steward.store import Store
from steward.store.models import Center, Chunk, Document, Source, Switch

if TYPE_CHECKING:
    from steward.answering.answer import Answerer
    from steward.answering.providers.base import Provider
    from steward.retrieval.search import Filter
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

STOP_ANSWERS = "stop-answers"
FORCE_ESCALATION = "force-escalation"
PIN_ANSWER = "pin-answer"
EXCLUDE_SOURCE = "exclude-source"
EXCLUDE_DOCUMENT = "exclude-document"
PROVIDER_FALLBACK = "provider-fallback"
KINDS: tuple[str, ...] = (
    STOP_ANSWERS,
    FORCE_ESCALATION,
    PIN_ANSWER,
    EXCLUDE_SOURCE,
    EXCLUDE_DOCUMENT,
    PROVIDER_FALLBACK,
)
SWITCH_SET = "switch-set"
SWITCH_CLEARED = "switch-cleared"
VERSION_KEY = "switches_version"
MAX_REASON = 500
MAX_ANSWER = 4000
MAX_PATTERN = 500


@dataclass(frozen=True)
class Active:
    """One switch in force, as every stage reads it (a detached copy of its row)."""

    id: str
    kind: str
    center: str | None
    intent: str | None
    pattern: str | None
    value: dict[str, Any]
    reason: str
    actor: str
    created_at: datetime

    @classmethod
    def of(cls, row: Switch) -> Active:
        return cls(
            row.id,
            row.kind,
            row.center,
            row.intent,
            row.pattern,
            dict(row.value or {}),
            row.reason,
            row.actor,
            row.created_at,
        )

    def scope(self) -> str:
        """Whom it concerns, in words: ``everyone``, ``center north``, ``intent fees``."""
        parts = [f"center {self.center}"] if self.center else []
        parts += [f"intent {self.intent}"] if self.intent else []
        return ", ".join(parts) or "everyone"

    def applies_to(self, center: str | None) -> bool:
        return self.center is None or self.center == center

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        ts = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        out["created_at"] = ts.isoformat()
        return out


def check_pattern(pattern: str) -> str:
    """A switch pattern: a regular expression (case-insensitive) that compiles and does not
    backtrack catastrophically; InputError otherwise."""
    pattern = pattern.strip()
    if not pattern or len(pattern) > MAX_PATTERN:
        raise InputError(f"The pattern must be 1 to {MAX_PATTERN} characters.")
    try:
        rx = _compiled(pattern)
    except regex.error as exc:
        raise InputError(f"The pattern {pattern!r} is not a regular expression: {exc}.") from exc
    for probe in _probes(pattern):
        try:
            rx.search(probe, timeout=RULE_TIMEOUT_S)
        except TimeoutError:
            raise InputError(
                f"The pattern {pattern!r} backtracks catastrophically (it ran out of time on "
                "repeated characters); rewrite it without nested repetition such as (a+)+."
            ) from None
    return pattern


def matches(pattern: str, text: str, *, on_timeout: bool) -> bool:
    """The pattern over the masked question, within the time limit (``on_timeout`` when the
    limit is reached: a forced escalation hands off, a pinned answer is not given)."""
    try:
        return _compiled(pattern).search(text, timeout=RULE_TIMEOUT_S) is not None
    except TimeoutError:
        log.warning("switch pattern ran out of time", extra={"on_timeout": on_timeout})
        return on_timeout


class SwitchBoard:
    """The switches in force, and the one place that sets and clears them."""

    def __init__(
        self,
        store: Store,
        authz: Authorizer,
        mask: Callable[[str], str],
        *,
        refresh_s: float = 2.0,
        answerer: Callable[[], Answerer] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``mask`` masks what an operator typed before it is stored; ``answerer`` is the
        configured one (for the names a provider fallback may take); ``clock`` is injectable
        (seconds, monotonic) so a test can stand the refresh interval forward."""
        self.store = store
        self.authz = authz
        self.mask = mask
        self.refresh_s = refresh_s
        self.clock = clock
        self._answerer = answerer
        self._lock = threading.Lock()
        self._version: str | None = None
        self._next_check = float("-inf")
        self._active: tuple[Active, ...] = ()
        self._excluded: tuple[tuple[str | None, int], frozenset[int], frozenset[str]] | None = None
        # (configured answerer's id, provider name) -> (that answerer, its fallback): profile
        # versions each configure their own providers, so one name may mean different servers.
        self._fallbacks: dict[tuple[int, str], tuple[Answerer, Answerer]] = {}

    # ------------------------------------------------------------------ reading

    def active(self) -> list[Active]:
        """The switches in force on this worker: re-read when another worker changed them,
        checked at most every ``refresh_s`` seconds."""
        now = self.clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    version = self.store.get_meta(VERSION_KEY)
                    if version != self._version:
                        self._active = self._load()
                        self._version = version
                    self._next_check = now + self.refresh_s
        return list(self._active)

    def _load(self) -> tuple[Active, ...]:
        with self.store.read() as s:
            rows = s.scalars(
                select(Switch).where(Switch.active.is_(True)).order_by(Switch.created_at, Switch.id)
            )
            return tuple(Active.of(r) for r in rows)

    def _of(self, kind: str, center: str | None) -> list[Active]:
        return [a for a in self.active() if a.kind == kind and a.applies_to(center)]

    # ------------------------------------------------------------------ what the stages ask

    def decide(self, who: Principal, text: str, intent: str | None) -> Decision | None:
        """A hand-off that a switch orders for this (masked) question, or None: auto-answers
        stopped for everyone, the asker's center or the question's intent; a topic forced
        to a person by pattern or intent."""
        for sw in self._of(STOP_ANSWERS, who.center):
            if sw.intent is None or (intent is not None and fnmatch.fnmatch(intent, sw.intent)):
                return Decision(
                    "escalate",
                    f"switch {sw.id}: auto-answers are stopped for {sw.scope()}; a person answers",
                    reasons.REVIEW.name,
                    rule=f"switch.{STOP_ANSWERS}",
                )
        for sw in self._of(FORCE_ESCALATION, who.center):
            hit = (
                matches(sw.pattern, text, on_timeout=True)
                if sw.pattern
                else intent is not None
                and sw.intent is not None
                and fnmatch.fnmatch(intent, sw.intent)
            )
            if hit:
                topic = f"intent {sw.intent}" if sw.intent else "its topic pattern"
                return Decision(
                    "escalate",
                    f"switch {sw.id}: questions matching {topic} go to a person",
                    reasons.REVIEW.name,
                    rule=f"switch.{FORCE_ESCALATION}",
                )
        return None

    def pinned(self, who: Principal, text: str) -> Active | None:
        """The newest pinned answer whose pattern matches the (masked) question."""
        for sw in reversed(self._of(PIN_ANSWER, who.center)):
            if sw.pattern and matches(sw.pattern, text, on_timeout=False):
                return sw
        return None

    def pinned_reply(self, sw: Active, flt: Filter) -> dict[str, Any]:
        """The reply of a pinned answer, in the cache's response shape; its citation only when
        the asker may read the cited document (permission filter, always)."""
        citations: list[dict[str, Any]] = []
        cite = sw.value.get("cite")
        if cite:
            with self.store.read() as s:
                found = s.execute(
                    select(Document, Chunk.id)
                    .join(Chunk, Chunk.document_id == Document.id)
                    .where(
                        Document.doc_id == cite,
                        Chunk.is_current.is_(True),
                        Chunk.quarantined.is_(False),
                    )
                    .order_by(Chunk.id)
                    .limit(1)
                ).first()
            if found is not None:
                doc, chunk_id = found
                visible = doc.acl_set_id in flt.acl_ids and (
                    doc.center is None or flt.center is None or doc.center == flt.center
                )
                if visible and doc.id not in flt.excluded:
                    citations.append(
                        {
                            "doc_id": doc.doc_id,
                            "chunk_id": int(chunk_id),
                            "title": doc.title,
                            "version": doc.version[:16],
                        }
                    )
        return {"answer": sw.value.get("answer", ""), "citations": citations, "confidence": 1.0}

    def excluded(self, kb_version: int) -> frozenset[int]:
        """Document row ids out of retrieval (by document or whole source), recomputed when the
        switches or the knowledge base change (a source's new documents are out too)."""
        return self._exclusions(kb_version)[0]

    def _exclusions(self, kb_version: int) -> tuple[frozenset[int], frozenset[str]]:
        switches = [a for a in self.active() if a.kind in (EXCLUDE_SOURCE, EXCLUDE_DOCUMENT)]
        if not switches:
            return frozenset(), frozenset()
        key = (self._version, kb_version)
        cached = self._excluded
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        sources = [str(a.value.get("source")) for a in switches if a.kind == EXCLUDE_SOURCE]
        docs = [str(a.value.get("document")) for a in switches if a.kind == EXCLUDE_DOCUMENT]
        with self.store.read() as s:
            rows = s.execute(
                select(Document.id, Document.doc_id).where(
                    Document.source_id.in_(sources) | Document.doc_id.in_(docs)
                )
            ).all()
        ids = frozenset(int(r[0]) for r in rows)
        names = frozenset(str(r[1]) for r in rows) | frozenset(docs)
        self._excluded = (key, ids, names)
        return ids, names

    def fallback(self) -> Active | None:
        """The newest provider fallback in force."""
        found = [a for a in self.active() if a.kind == PROVIDER_FALLBACK]
        return found[-1] if found else None

    def serves_cached(self, response: dict[str, Any], kb_version: int = -1) -> bool:
        """Whether a cached answer may be served now: not when it cites a document a switch
        took out of retrieval, nor while the provider is switched to a fallback (the cached
        answers came from the provider the operator switched away from)."""
        if self.fallback() is not None:
            return False
        _, names = self._exclusions(kb_version if kb_version >= 0 else self.store.kb_version())
        return not any(c.get("doc_id") in names for c in response.get("citations") or [])

    def answerer(self, configured: Answerer) -> Answerer:
        """The answerer to write with: the configured one, or the fallback a switch names."""
        sw = self.fallback()
        if sw is None:
            return configured
        name = str(sw.value.get("provider"))
        key = (id(configured), name)
        cached = self._fallbacks.get(key)
        if cached is not None and cached[0] is configured:
            return cached[1]
        from steward.answering.answer import Answerer

        provider = providers_of(configured).get(name)
        if provider is None:  # validated when set; a providers file may have changed since
            log.error("switched provider is not configured", extra={"provider": name})
            return configured
        found = Answerer(provider, fallback=configured.fallback)
        self._fallbacks[key] = (configured, found)
        return found

    # ------------------------------------------------------------------ changing

    def set(
        self,
        who: Principal,
        kind: str,
        *,
        center: str | None = None,
        intent: str | None = None,
        pattern: str | None = None,
        value: dict[str, Any] | None = None,
        reason: str,
        intents: Sequence[str] | None = None,
    ) -> Active:
        """Turn a switch on (audited ``switch-set``, with who and why).

        ``intents`` are the trained intent model's labels (None: no model). A center the
        directory does not have, or an intent the model does not know, is refused: a typo
        would otherwise steer nothing while the operator believes it holds. A switch of the
        same kind and scope already in force is refused too (ConflictError naming it), so
        clearing one switch never leaves a second, forgotten one in force."""
        self.authz.authorize(who, Permission.MANAGE_SWITCHES, f"switches:{kind}")
        if kind not in KINDS:
            raise InputError(f"Unknown switch kind {kind[:40]!r}; use one of: {', '.join(KINDS)}.")
        why = self._reason(reason)
        center, intent = _name(center, "center"), _name(intent, "intent")
        if pattern is not None:
            pattern = check_pattern(pattern)
        clean = self._value(kind, value or {}, center, intent, pattern)
        self._known(center, intent, intents)
        now = datetime.now(UTC)
        row = Switch(
            id=str(ULID()),
            kind=kind,
            center=center,
            intent=intent,
            pattern=pattern,
            value=clean,
            reason=why,
            actor=who.user_id,
            active=True,
            created_at=now,
        )
        with self.store.write() as (s, _):
            same = self._same(s, row)
            if same is not None:
                raise ConflictError(
                    f"Switch {same.id} ({kind} for {Active.of(same).scope()}) is already in "
                    f"force; clear it first (`steward switch clear {same.id}`)."
                )
            s.add(row)
            s.flush()
            Store.set_meta(s, VERSION_KEY, str(ULID()))
            audit.record(self.store, self._event(SWITCH_SET, who, row, why), session=s)
        self._next_check = float("-inf")  # this worker sees it at once
        log.info("switch set", extra={"switch": row.id, "kind": kind})
        return Active.of(row)

    def clear(self, who: Principal, switch_id: str, *, reason: str) -> Active:
        """Turn a switch off (audited ``switch-cleared``, with who and why)."""
        self.authz.authorize(who, Permission.MANAGE_SWITCHES, f"switch:{switch_id}")
        why = self._reason(reason)
        with self.store.write() as (s, _):
            row = s.get(Switch, switch_id)
            if row is None or not row.active:
                raise NotFoundError(
                    f"No active switch {switch_id[:40]!r}; see `steward switch list`."
                )
            self._off(s, who, row, why)
        self._next_check = float("-inf")
        return Active.of(row)

    def resume(
        self, who: Principal, *, center: str | None = None, intent: str | None = None, reason: str
    ) -> list[Active]:
        """Clear the stop-answers switches of exactly this scope (no center: the one for
        everyone): auto-answers resume there."""
        self.authz.authorize(who, Permission.MANAGE_SWITCHES, "switches:stop-answers")
        why = self._reason(reason)
        center, intent = _name(center, "center"), _name(intent, "intent")
        with self.store.write() as (s, _):
            rows = list(
                s.scalars(
                    select(Switch).where(
                        Switch.active.is_(True),
                        Switch.kind == STOP_ANSWERS,
                        Switch.center.is_(None) if center is None else Switch.center == center,
                        Switch.intent.is_(None) if intent is None else Switch.intent == intent,
                    )
                )
            )
            if not rows:
                scope = Active("", STOP_ANSWERS, center, intent, None, {}, "", "", _now()).scope()
                raise NotFoundError(f"Auto-answers are not stopped for {scope}.")
            for row in rows:
                self._off(s, who, row, why)
        self._next_check = float("-inf")
        return [Active.of(r) for r in rows]

    def _off(self, s: Any, who: Principal, row: Switch, why: str) -> None:
        row.active, row.cleared_by, row.cleared_at = False, who.user_id, datetime.now(UTC)
        s.flush()
        Store.set_meta(s, VERSION_KEY, str(ULID()))
        audit.record(self.store, self._event(SWITCH_CLEARED, who, row, why), session=s)
        log.info("switch cleared", extra={"switch": row.id, "kind": row.kind})

    def _known(self, center: str | None, intent: str | None, intents: Sequence[str] | None) -> None:
        """Refuse a center the directory lacks, and an intent (glob) no trained label matches."""
        if center is not None:
            with self.store.read() as s:
                known = sorted(s.scalars(select(Center.id)))
            if center not in known:
                listed = ", ".join(known) or "none (import the directory first)"
                raise NotFoundError(
                    f"Unknown center {center[:64]!r}; the directory's centers: {listed}."
                )
        if intent is None:
            return
        if intents is None:
            # The store's state (no model yet), not the request, is what refuses: 409.
            raise ConflictError(
                "Intent switches need a trained intent model: run `steward intent train FILE`, "
                "or scope the switch by center or pattern."
            )
        if not fnmatch.filter(list(intents), intent):
            raise NotFoundError(
                f"Unknown intent {intent[:64]!r}; the model's intents: {', '.join(intents)}."
            )

    @staticmethod
    def _same(s: Any, row: Switch) -> Switch | None:
        """The active switch of the same kind and scope (and, for exclusions, target)."""
        for other in s.scalars(
            select(Switch).where(Switch.active.is_(True), Switch.kind == row.kind)
        ):
            if (other.center, other.intent, other.pattern) != (row.center, row.intent, row.pattern):
                continue
            if row.kind in (EXCLUDE_SOURCE, EXCLUDE_DOCUMENT) and other.value != row.value:
                continue
            return other  # type: ignore[no-any-return]
        return None

    def _reason(self, reason: str) -> str:
        if not isinstance(reason, str) or not reason.strip():
            raise InputError("A reason is required: say why, for the audit trail (--reason).")
        if len(reason) > MAX_REASON:
            raise InputError(f"The reason is over {MAX_REASON} characters.")
        return self.mask(reason.strip())

    def _value(
        self,
        kind: str,
        value: dict[str, Any],
        center: str | None,
        intent: str | None,
        pattern: str | None,
    ) -> dict[str, Any]:
        """Check what each kind needs; returns the value to store (masked where typed)."""
        scoped = center is not None or intent is not None or pattern is not None
        if kind == STOP_ANSWERS:
            if pattern is not None or value:
                raise InputError("stop-answers takes a center and/or an intent, nothing else.")
            return {}
        if kind == FORCE_ESCALATION:
            if (pattern is None) == (intent is None) or value:
                raise InputError("force-escalation takes either a pattern or an intent.")
            return {}
        if kind == PIN_ANSWER:
            answer = str(value.get("answer") or "").strip()
            if pattern is None or intent is not None or not answer or len(answer) > MAX_ANSWER:
                raise InputError(
                    f"pin-answer takes a pattern and an answer (1 to {MAX_ANSWER} characters)."
                )
            extra = set(value) - {"answer", "cite"}
            if extra:
                raise InputError(f"pin-answer: unknown field {sorted(extra)[0]!r}.")
            cite = value.get("cite")
            if cite:
                self._require(Document, Document.doc_id, str(cite), "document")
            return {"answer": self.mask(answer), "cite": str(cite) if cite else None}
        field, model, column = {
            EXCLUDE_SOURCE: ("source", Source, Source.id),
            EXCLUDE_DOCUMENT: ("document", Document, Document.doc_id),
            PROVIDER_FALLBACK: ("provider", None, None),
        }[kind]
        name = str(value.get(field) or "").strip()
        if not name or set(value) != {field} or scoped:
            raise InputError(f"{kind} takes only a {field} (e.g. --{field} NAME).")
        if model is not None and column is not None:
            self._require(model, column, name, field)
        elif name not in self.provider_names():
            raise NotFoundError(
                f"Unknown provider {name[:60]!r}; choose from: {', '.join(self.provider_names())}."
            )
        return {field: name}

    def _require(self, model: Any, column: Any, name: str, what: str) -> None:
        with self.store.read() as s:
            if s.scalars(select(model).where(column == name).limit(1)).first() is None:
                raise NotFoundError(f"No {what} {name[:60]!r} in the store.")

    def provider_names(self) -> list[str]:
        if self._answerer is None:
            return ["extractive"]
        return sorted(providers_of(self._answerer()))

    def _event(self, kind: str, who: Principal, row: Switch, why: str) -> audit.AuditEvent:
        # Ids, scope and the masked words only; a pinned answer is recorded by its length.
        value = dict(row.value or {})
        if "answer" in value:
            value["answer"] = f"[{len(str(value['answer']))} characters]"
        payload = {
            "kind": row.kind,
            "center": row.center,
            "intent": row.intent,
            "pattern": self.mask(row.pattern) if row.pattern else None,
            "value": value,
        }
        return audit.AuditEvent(
            kind,
            actor=who.user_id,
            target=f"switch:{row.id}",
            payload=payload,
            reason=why,
            channel="cli" if who.via == "cli" else "service",
            groups=tuple(who.groups),
            center=row.center,
        )


def providers_of(answerer: Answerer) -> dict[str, Provider]:
    """The providers an answerer can write with, by name: the configured one, every model of
    a providers file, and the grounded extractive provider."""
    from steward.answering.providers.extractive import ExtractiveProvider
    from steward.answering.providers.router import Router

    out: dict[str, Provider] = {}
    provider = answerer.provider
    if isinstance(provider, Router):
        for routed in [*provider.routes.values(), *provider.fallback]:
            out[routed.name] = routed.provider
    else:
        out[str(provider.name)] = provider
    out.setdefault("extractive", ExtractiveProvider())
    return out


def _name(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 100 or any(c.isspace() for c in value):
        raise InputError(f"The {what} must be a name of 1 to 100 characters without spaces.")
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def describe(switches: Iterable[Active]) -> list[dict[str, Any]]:
    return [a.as_dict() for a in switches]


def intent_labels(rt: Runtime) -> list[str] | None:
    """The trained intent model's labels, for ``SwitchBoard.set`` (None: no model trained)."""
    model = rt.intents
    return None if model is None else [str(label) for label in model.labels]
