"""The registry of assistant profile versions: write, publish, approve, activate, roll back.

The rules (docs/profiles.md):

- A version is a body (profiles/body.py) over the deployment's configuration. A draft may be
  replaced; once published it never changes (its digest and snapshot are kept with it).
- Version 1 is the configuration as it was when the registry first opened the store (an empty
  body, its snapshot recorded), active everywhere: an upgrade loses nothing and changes no
  answer.
- Activating a version in a scope (a center, or ``*`` for every center without its own) needs
  a passing gate run of it (evals/gate.py) and the approval of a second person (reviewer or
  above, not its author), given for that scope after the gate; each approval is used once. An
  admin may activate without them, with a reason on the record.
- Rollback puts the scope's previous version back in one step, without a gate (it is the
  version that answered before).
- Every replica sees a change within ``refresh_s`` seconds: each re-reads one meta key.
- Every change is one method here that authorizes it and records its audit event in the same
  transaction.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from ulid import ULID

from steward import audit
from steward.core.errors import (
    ConfigError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
)
from steward.identity.authz import Permission
from steward.profiles import body as bodies
from steward.store import Store
from steward.store.models import (
    Center,
    EvalRun,
    ProfileActivation,
    ProfileApproval,
    ProfileVersion,
)

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

EVERYWHERE = "*"
MAX_CANARY = 50  # percent: past half, activate it
REV_KEY = "profiles_rev"  # meta key moved by every activation, rollback and canary change
# What a derived runtime builds for itself: everything the profile's settings shape.
PROFILE_BOUND = frozenset(
    {"provider", "judge", "answerer", "_search", "sentence_reranker", "policies", "injection"}
    | {"risk", "intents"}
)
# What it shares with the deployment's runtime (built there first, so built once).
SHARED = (
    "store", "embedder", "index", "chunks", "masker", "authz", "vault", "conversations",
    "sessions", "switches", "handoff", "review", "feedback", "cache", "alerts", "verifier",
    "budgets", "rollout", "speller",
)  # fmt: skip


@dataclass(frozen=True)
class Info:
    """One version as listed: what it is and where it answers."""

    version: int
    label: str
    status: str
    source: str
    author: str
    digest: str
    created_at: datetime
    published_at: datetime | None
    active_in: tuple[str, ...]
    canary_in: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "label": self.label,
            "status": self.status,
            "source": self.source,
            "author": self.author,
            "digest": self.digest,
            "created_at": self.created_at.isoformat(),
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "active_in": list(self.active_in),
            "canary_in": list(self.canary_in),
        }


@dataclass(frozen=True)
class Scope:
    """One scope's activation as this worker last read it."""

    version: int
    previous: int | None
    canary_version: int | None
    canary_percent: int


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


class Profiles:
    """The profile registry of one runtime (the deployment's, never a derived one)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rt = rt
        self.store: Store = rt.store
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.RLock()
        self._rev: str | None = None
        self._next_check = float("-inf")
        self._scopes: dict[str, Scope] = {}
        self._runtimes: dict[int, Runtime] = {}
        self._ready = False

    # ------------------------------------------------------------------ reading

    def ensure_first(self) -> None:
        """Version 1 from the configuration, active everywhere, if the store has none yet."""
        if self._ready:
            return
        with self.store.read() as s:
            have = s.scalar(select(func.count()).select_from(ProfileVersion))
        if not have:
            self._write_first()
        self._ready = True

    def _write_first(self) -> None:
        now = datetime.now(UTC)
        snap = bodies.snapshot(self.rt.settings)
        row = ProfileVersion(
            version=1, label="configuration at upgrade", body={}, snapshot=snap,
            digest=bodies.digest({}), source="configuration", parent=None, author="system",
            note="", status="published", created_at=now, published_at=now,
        )  # fmt: skip
        try:
            with self.store.write() as (s, _):
                s.add(row)
                s.add(
                    ProfileActivation(
                        scope=EVERYWHERE, version=1, previous=None, canary_version=None,
                        canary_percent=0, activated_by="system", activated_at=now,
                        reason="the configuration as deployed",
                    )
                )  # fmt: skip
                s.flush()
                # No audit event: like a schema migration, writing down what the configuration
                # already was changes nothing anyone asked for (its row says who and when).
                self.store.set_meta(s, REV_KEY, str(ULID()))
        except IntegrityError:
            pass  # another worker wrote it first: the same version 1

    def _refresh(self) -> dict[str, Scope]:
        now = self.clock()
        if now < self._next_check:
            return self._scopes
        with self._lock:
            if now < self._next_check:
                return self._scopes
            self.ensure_first()
            rev = self.store.get_meta(REV_KEY)
            if rev != self._rev:
                with self.store.read() as s:
                    self._scopes = {
                        a.scope: Scope(a.version, a.previous, a.canary_version, a.canary_percent)
                        for a in s.scalars(select(ProfileActivation))
                    }
                self._rev = rev
            self._next_check = now + self.refresh_s
            return self._scopes

    def _changed(self) -> None:
        self._next_check = float("-inf")  # this worker sees it at once

    def scope_of(self, center: str | None) -> str:
        """The scope whose activation governs ``center``."""
        scopes = self._refresh()
        return center if center is not None and center in scopes else EVERYWHERE

    def active_version(self, center: str | None) -> int:
        """The version that answers for ``center`` (its own activation, else ``*``)."""
        return self._refresh()[self.scope_of(center)].version

    def version_for(self, center: str | None, sticky: str) -> int:
        """The version that answers this request: the scope's canary for its share of
        ``sticky`` keys (a conversation id, else the asker), else the active one."""
        scope = self._refresh()[self.scope_of(center)]
        if scope.canary_version is not None and scope.canary_percent > 0:
            bucket = int(hashlib.sha256(f"{sticky}".encode()).hexdigest()[:8], 16) % 100
            if bucket < scope.canary_percent:
                return scope.canary_version
        return scope.version

    def runtime_for(self, version: int) -> Runtime:
        """A runtime that answers exactly as ``version``: the deployment's components, with
        its own provider, policies and ranking built from the version's settings."""
        with self._lock:
            built = self._runtimes.get(version)
            if built is not None:
                return built
            row = self._row(version)
            # Checked again on every load: a model server or folder the deployment has stopped
            # allowing since the version was written is not used.
            try:
                bodies.check_places(self.rt.settings, row.body, self._endpoints())
            except InputError as exc:
                raise ConflictError(f"Profile version {version} cannot run: {exc.message}") from exc
            settings = bodies.apply(self.rt.settings, row.body)
            built = _derive(self.rt, settings, version)
            now = bodies.snapshot(settings)
            changed = bodies.drift(row.snapshot or {}, now)
            if changed and row.status == "published":
                log.warning(
                    "profile version differs from its snapshot",
                    extra={"version": version, "changes": len(changed)},
                )
            self._runtimes[version] = built
            return built

    def for_request(self, who: Principal, conversation_id: str | None) -> Runtime:
        """The runtime that answers this asker now (canary by conversation, sticky)."""
        sticky = conversation_id or f"user:{who.user_id}"
        return self.runtime_for(self.version_for(who.center, sticky))

    def _row(self, version: int) -> ProfileVersion:
        self.ensure_first()
        with self.store.read() as s:
            row = s.get(ProfileVersion, version)
            if row is None:
                raise NotFoundError(
                    f"No profile version {version}; `steward profile list` shows them."
                )
            s.expunge(row)
            return row

    def versions(self, who: Principal) -> list[Info]:
        self.rt.authz.authorize(who, Permission.READ_PROFILES, "profiles")
        self.ensure_first()
        with self.store.read() as s:
            rows = list(s.scalars(select(ProfileVersion).order_by(ProfileVersion.version)))
            acts = list(s.scalars(select(ProfileActivation)))
        return [_info_of(r, acts) for r in rows]

    def show(self, who: Principal, version: int) -> dict[str, Any]:
        """One version: its body, snapshot, and what differs today from its snapshot."""
        self.rt.authz.authorize(who, Permission.READ_PROFILES, f"profile:{version}")
        row = self._row(version)
        today = bodies.snapshot(bodies.apply(self.rt.settings, row.body))
        return {
            "version": row.version,
            "label": row.label,
            "status": row.status,
            "source": row.source,
            "parent": row.parent,
            "author": row.author,
            "note": row.note,
            "digest": row.digest,
            "body": row.body,
            "snapshot": row.snapshot,
            "drift": bodies.drift(row.snapshot or {}, today),
            "created_at": (_utc(row.created_at) or row.created_at).isoformat(),
            "published_at": p.isoformat() if (p := _utc(row.published_at)) else None,
        }

    def diff(self, who: Principal, a: int, b: int) -> list[dict[str, Any]]:
        """Each setting whose effective value differs between versions ``a`` and ``b`` (as
        recorded when each was made), and each file whose content differs."""
        self.rt.authz.authorize(who, Permission.READ_PROFILES, f"profile:{a}..{b}")
        ra, rb = self._row(a), self._row(b)
        sa, sb = ra.snapshot or {}, rb.snapshot or {}
        out: list[dict[str, Any]] = []
        va, vb = sa.get("settings", {}), sb.get("settings", {})
        for name in sorted(set(va) | set(vb)):
            if va.get(name) != vb.get(name):
                out.append({"setting": name, str(a): va.get(name), str(b): vb.get(name)})
        fa, fb = sa.get("files", {}), sb.get("files", {})
        for name in sorted(set(fa) | set(fb)):
            if fa.get(name) != fb.get(name):
                out.append({"file": name, str(a): fa.get(name), str(b): fb.get(name)})
        return out

    def scopes(self, who: Principal) -> dict[str, dict[str, Any]]:
        self.rt.authz.authorize(who, Permission.READ_PROFILES, "profiles")
        return {
            scope: {
                "version": sc.version,
                "previous": sc.previous,
                "canary_version": sc.canary_version,
                "canary_percent": sc.canary_percent,
            }
            for scope, sc in sorted(self._refresh().items())
        }

    # ------------------------------------------------------------------ changing

    def create(
        self,
        who: Principal,
        raw: Mapping[str, Any],
        *,
        parent: int | None = None,
        source: str = "file",
    ) -> Info:
        """A new draft version from a profile file's content (validated by applying it)."""
        self.rt.authz.authorize(who, Permission.MANAGE_PROFILES, "profiles")
        self.ensure_first()
        body, meta = bodies.normalise(raw)
        answering = body.get("answering")
        if isinstance(answering, dict) and answering.get("prompt_instructions"):
            # Free text a person wrote: masked like a note (it is stored and sent to models).
            text = str(answering["prompt_instructions"])
            answering["prompt_instructions"] = self.rt.masker.mask(text).text
        settings = bodies.apply(self.rt.settings, body)  # refuses what is not valid
        bodies.check_places(self.rt.settings, body, self._endpoints())
        _loads(self.rt, settings, names_files=bool(bodies.PATH_LEAVES & set(bodies.flat(body))))
        snap = bodies.snapshot(settings)
        # Masked before any write transaction: the masker keeps its tokens in the store, and a
        # write inside another would wait on itself.
        label = self.rt.masker.mask(meta.get("label", "")).text[:120]
        note = self.rt.masker.mask(meta.get("note", "")).text
        if parent is not None:
            self._row(parent)
        for _attempt in range(5):
            try:
                with self.store.write() as (s, _):
                    version = int(s.scalar(select(func.max(ProfileVersion.version))) or 0) + 1
                    row = ProfileVersion(
                        version=version, label=label, body=body,
                        snapshot=snap, digest=bodies.digest(body), source=source,
                        parent=parent, author=who.user_id,
                        note=note, status="draft",
                        created_at=datetime.now(UTC), published_at=None,
                    )  # fmt: skip
                    s.add(row)
                    s.flush()
                    event = self._event(
                        audit.Kind.PROFILE_CREATED, who, version,
                        {"digest": row.digest, "source": source, "parent": parent},
                    )  # fmt: skip
                    audit.record(self.store, event, session=s)
                return self._info(version)
            except IntegrityError:
                continue  # another writer took that number: take the next
        raise ConflictError("Could not number the new version; try again.")

    def publish(self, who: Principal, version: int) -> Info:
        """Make a draft immutable: from now on it can be gated, approved and activated."""
        self.rt.authz.authorize(who, Permission.MANAGE_PROFILES, f"profile:{version}")
        with self.store.write() as (s, _):
            row = self._locked(s, version)
            if row.status == "published":
                raise ConflictError(f"Profile version {version} is already published.")
            row.status = "published"
            row.published_at = datetime.now(UTC)
            event = self._event(audit.Kind.PROFILE_PUBLISHED, who, version, {"digest": row.digest})
            audit.record(self.store, event, session=s)
        return self._info(version)

    def approve(
        self, who: Principal, version: int, *, scope: str = EVERYWHERE, note: str = ""
    ) -> str:
        """A second person's approval to put ``version`` before askers in ``scope`` (activate
        it, or start a canary of it): not its author, only after a passing gate of it against a
        run of the version it would replace there, and one at a time. Returns its id."""
        self.rt.authz.authorize(who, Permission.APPROVE_PROFILES, f"profile:{version}")
        scope = self._scope(scope)
        row = self._row(version)
        if row.status != "published":
            raise ConflictError(f"Profile version {version} is a draft: publish it first.")
        if row.author == who.user_id:
            raise ForbiddenError(
                f"Four eyes: {who.user_id} wrote profile version {version} and cannot approve "
                "it; another reviewer must."
            )
        replaced = self.active_version(None if scope == EVERYWHERE else scope)
        if replaced == version:
            raise ConflictError(f"Profile version {version} already answers in {scope}.")
        gate = self._passing_gate(version, replaced)
        if gate is None:
            raise ConflictError(
                f"Profile version {version} has no passing gate run against a run of version "
                f"{replaced}, which answers in {scope} now: run `steward eval run` (version "
                f"{replaced}), then `steward eval gate --baseline RUN --candidate {version}`."
            )
        masked = self.rt.masker.mask(note[:2000]).text
        now = datetime.now(UTC)
        approval = ProfileApproval(
            id=str(ULID()), version=version, scope=scope, approver=who.user_id,
            gate_run_id=gate, note=masked, created_at=now, used_at=None,
        )  # fmt: skip
        with self.store.write() as (s, _):
            waiting = s.scalars(
                select(ProfileApproval.id).where(
                    ProfileApproval.version == version,
                    ProfileApproval.scope == scope,
                    ProfileApproval.used_at.is_(None),
                )
            ).first()
            if waiting is not None:
                raise ConflictError(
                    f"Profile version {version} already has an approval for {scope} waiting "
                    f"to be used ({waiting})."
                )
            s.add(approval)
            event = self._event(
                audit.Kind.PROFILE_APPROVED, who, version,
                {"scope": scope, "gate_run_id": gate, "approval": approval.id,
                 "replaces": replaced},
            )  # fmt: skip
            audit.record(self.store, event, session=s)
        return approval.id

    def _use_approval(
        self, s: Any, version: int, scope: str, author: str, now: datetime
    ) -> ProfileApproval:
        """The unused approval of ``version`` for ``scope``, marked used (ConflictError
        without one)."""
        approval = s.scalars(
            select(ProfileApproval)
            .where(
                ProfileApproval.version == version,
                ProfileApproval.scope == scope,
                ProfileApproval.used_at.is_(None),
                ProfileApproval.approver != author,
            )
            .order_by(ProfileApproval.created_at.desc())
        ).first()
        if approval is None:
            raise ConflictError(
                f"Profile version {version} has no approval for {scope}: a reviewer other than "
                f"its author must run `steward profile approve {version}"
                + ("" if scope == EVERYWHERE else f" --center {scope}")
                + "` after a passing gate."
            )
        # The approval was for replacing the version its gate ran against: if another answers
        # there now (an override, a rollback since), it no longer says anything.
        own = s.get(ProfileActivation, scope)
        everywhere = s.get(ProfileActivation, EVERYWHERE)
        answering = (own or everywhere).version if (own or everywhere) else None
        gate = s.get(EvalRun, approval.gate_run_id) if approval.gate_run_id else None
        baseline = (gate.comparison or {}).get("baseline_profile_version") if gate else None
        if baseline != answering:
            raise ConflictError(
                f"The approval of version {version} for {scope} was given on a gate against "
                f"version {baseline}; version {answering} answers there now. Gate it again "
                "against a run of that version and ask for a new approval."
            )
        approval.used_at = now
        return approval  # type: ignore[no-any-return]

    def activate(
        self,
        who: Principal,
        version: int,
        *,
        scope: str = EVERYWHERE,
        override: str | None = None,
    ) -> Scope:
        """``version`` answers in ``scope`` from now on (every replica within seconds). Needs
        an unused approval for it there, given by someone other than its author after a
        passing gate; ``override`` (admins only) is the reason to go without."""
        self.rt.authz.authorize(who, Permission.MANAGE_PROFILES, f"profile:{version}")
        scope = self._scope(scope)
        reason = self._override(who, version, override)
        row = self._row(version)
        if row.status != "published":
            raise ConflictError(f"Profile version {version} is a draft: publish it first.")
        now = datetime.now(UTC)
        masked = self.rt.masker.mask(reason).text if reason else ""
        answering = self.active_version(None if scope == EVERYWHERE else scope)
        with self.store.write() as (s, _):
            current = s.get(ProfileActivation, scope)
            if current is not None and current.version == version:
                raise ConflictError(f"Profile version {version} already answers in {scope}.")
            approval = None if reason else self._use_approval(s, version, scope, row.author, now)
            # A center without a version of its own was answered by `*`'s: that is what a
            # rollback there puts back.
            previous = current.version if current is not None else answering
            if current is None:
                current = ProfileActivation(scope=scope, canary_percent=0)
                s.add(current)
            current.previous = previous
            current.version = version
            if current.canary_version == version:
                current.canary_version, current.canary_percent = None, 0
            current.activated_by = who.user_id
            current.activated_at = now
            current.reason = masked
            s.flush()
            self.store.set_meta(s, REV_KEY, str(ULID()))
            payload: dict[str, Any] = {"scope": scope, "version": version, "previous": previous}
            if approval is not None:
                payload |= {"approval": approval.id, "approver": approval.approver}
                payload["gate_run_id"] = approval.gate_run_id
            else:
                payload["override"] = True
            event = self._event(
                audit.Kind.PROFILE_ACTIVATED, who, version, payload,
                reason=current.reason or "approved",
            )  # fmt: skip
            audit.record(self.store, event, session=s)
            result = Scope(version, previous, current.canary_version, current.canary_percent)
        self._changed()
        log.info("profile activated", extra={"version": version, "scope": scope})
        return result

    def rollback(self, who: Principal, *, scope: str = EVERYWHERE, reason: str) -> Scope:
        """Put back the version that answered in ``scope`` before the current one."""
        self.rt.authz.authorize(who, Permission.MANAGE_PROFILES, "profiles")
        scope = self._scope(scope)
        if not reason.strip():
            raise InputError("A rollback needs a reason.")
        masked = self.rt.masker.mask(reason.strip()[:2000]).text
        with self.store.write() as (s, _):
            current = s.get(ProfileActivation, scope)
            if current is None or current.previous is None:
                raise ConflictError(f"There is no earlier version to roll {scope} back to.")
            was = current.version
            # Not a toggle: the version rolled back from needs a new approval to return.
            current.version, current.previous = current.previous, None
            current.canary_version, current.canary_percent = None, 0
            current.activated_by = who.user_id
            current.activated_at = datetime.now(UTC)
            current.reason = masked
            # Approvals given for the version rolled back from no longer count here: it
            # returns only with a new one.
            for stale in s.scalars(
                select(ProfileApproval).where(
                    ProfileApproval.version == was,
                    ProfileApproval.scope == scope,
                    ProfileApproval.used_at.is_(None),
                )
            ):
                stale.used_at = current.activated_at
            s.flush()
            self.store.set_meta(s, REV_KEY, str(ULID()))
            event = self._event(
                audit.Kind.PROFILE_ROLLED_BACK, who, current.version,
                {"scope": scope, "version": current.version, "from": was},
                reason=current.reason,
            )  # fmt: skip
            audit.record(self.store, event, session=s)
            result = Scope(current.version, None, None, 0)
        self._changed()
        log.info("profile rolled back", extra={"version": result.version, "scope": scope})
        return result

    def set_canary(
        self,
        who: Principal,
        version: int,
        *,
        scope: str = EVERYWHERE,
        percent: int,
        override: str | None = None,
    ) -> Scope:
        """Route ``percent`` (1-50) of the scope's conversations to ``version`` (sticky per
        conversation), beside the active version; needs a passing gate of it, or an admin's
        ``override`` with its reason. ``percent`` 0 ends the canary."""
        self.rt.authz.authorize(who, Permission.MANAGE_PROFILES, f"profile:{version}")
        scope = self._scope(scope)
        if not 0 <= percent <= MAX_CANARY:
            raise InputError(f"A canary takes 1 to {MAX_CANARY} percent (0 ends it).")
        reason = self._override(who, version, override)
        row = self._row(version)
        if percent and row.status != "published":
            raise ConflictError(f"Profile version {version} is a draft: publish it first.")
        masked = self.rt.masker.mask(reason).text if reason else ""
        with self.store.write() as (s, _):
            current = s.get(ProfileActivation, scope)
            if current is None:
                # A center without a version of its own gets one: the version that answers
                # it now (every center's), so that the canary is this center's alone.
                everywhere = s.get(ProfileActivation, EVERYWHERE)
                assert everywhere is not None  # written with version 1
                current = ProfileActivation(
                    scope=scope, version=everywhere.version, previous=None, canary_percent=0,
                    activated_by=who.user_id, activated_at=datetime.now(UTC),
                    reason="the version every center had, for a canary here",
                )  # fmt: skip
                s.add(current)
            if percent and current.version == version:
                raise ConflictError(f"Profile version {version} already answers all of {scope}.")
            # A canary puts the version before real askers: the same approval as activating
            # it (used by the canary; activating it fully afterwards needs another).
            approval = (
                self._use_approval(s, version, scope, row.author, datetime.now(UTC))
                if percent and not reason
                else None
            )
            gate = approval.gate_run_id if approval is not None else None
            current.canary_version = version if percent else None
            current.canary_percent = percent
            current.canary_since = datetime.now(UTC) if percent else None
            s.flush()
            self.store.set_meta(s, REV_KEY, str(ULID()))
            payload: dict[str, Any] = {
                "scope": scope, "version": version, "percent": percent, "gate_run_id": gate,
                "approval": approval.id if approval is not None else None,
            }  # fmt: skip
            if reason:
                payload["override"] = True
            event = self._event(
                audit.Kind.CANARY_SET, who, version, payload,
                reason=masked,
            )  # fmt: skip
            audit.record(self.store, event, session=s)
            result = Scope(
                current.version, current.previous, current.canary_version, current.canary_percent
            )
        self._changed()
        return result

    def stop_canary(self, scope: str, version: int, why: dict[str, Any]) -> bool:
        """The guard's automatic rollback: end ``scope``'s canary of ``version`` (if it is
        still the one running), recorded as the system's act with the figures that crossed."""
        with self.store.write() as (s, _):
            current = s.get(ProfileActivation, scope)
            if current is None or current.canary_version != version:
                return False  # ended already (another replica, or an operator)
            current.canary_version, current.canary_percent, current.canary_since = None, 0, None
            s.flush()
            self.store.set_meta(s, REV_KEY, str(ULID()))
            event = audit.AuditEvent(
                audit.Kind.CANARY_ROLLED_BACK, actor="system", target=f"profile:{version}",
                payload={"scope": scope, "version": version, **why},
                reason="a guard metric crossed its limit",
            )  # fmt: skip
            audit.record(self.store, event, session=s)
        self._changed()
        log.error("canary rolled back", extra={"version": version, "scope": scope})
        return True

    # ------------------------------------------------------------------ helpers

    def _endpoints(self) -> list[str]:
        return [e.strip() for e in (self.rt.settings.control.profile_endpoints or "").split(",")]

    def _override(self, who: Principal, version: int, override: str | None) -> str:
        """The reason of an admin's override ('' without one); refused for non-admins and
        for a blank reason."""
        if override is None:
            return ""
        reason = override.strip()
        if not reason:
            raise InputError("An override needs a reason.")
        self.rt.authz.authorize(who, Permission.OVERRIDE_PROMOTION, f"profile:{version}")
        return reason

    def _scope(self, scope: str | None) -> str:
        scope = (scope or EVERYWHERE).strip()
        if scope == EVERYWHERE:
            return scope
        with self.store.read() as s:
            if s.get(Center, scope) is None:
                known = ", ".join(sorted(s.scalars(select(Center.id)))) or "none"
                raise NotFoundError(f"Unknown center {scope[:64]!r}; the centers: {known}.")
        return scope

    def _locked(self, s: Any, version: int) -> ProfileVersion:
        row = s.get(ProfileVersion, version)
        if row is None:
            raise NotFoundError(f"No profile version {version}; `steward profile list`.")
        return row  # type: ignore[no-any-return]

    def _info(self, version: int) -> Info:
        with self.store.read() as s:
            r = self._locked(s, version)
            acts = list(s.scalars(select(ProfileActivation)))
            return _info_of(r, acts)

    def _passing_gate(self, version: int, baseline: int) -> str | None:
        """The newest passing gate run of ``version`` whose baseline was a run of
        ``baseline`` (a gate against the candidate itself, or another version, proves
        nothing about replacing the one that answers)."""
        with self.store.read() as s:
            runs = s.scalars(
                select(EvalRun)
                .where(
                    EvalRun.kind == "gate",
                    EvalRun.profile_version == version,
                    EvalRun.verdict == "pass",
                )
                .order_by(EvalRun.created_at.desc())
                .limit(200)
            )
            for run in runs:
                if (run.comparison or {}).get("baseline_profile_version") == baseline:
                    return str(run.id)
        return None

    @staticmethod
    def _event(
        kind: audit.Kind,
        who: Principal,
        version: int,
        payload: dict[str, Any],
        *,
        reason: str = "",
    ) -> audit.AuditEvent:
        return audit.AuditEvent(
            kind,
            actor=who.user_id,
            target=f"profile:{version}",
            payload=payload,
            reason=reason,
            channel="cli" if who.via == "cli" else "service",
            groups=tuple(sorted(who.groups)),
            center=who.center,
        )


def _loads(base: Runtime, settings: Any, *, names_files: bool) -> None:
    """Refuse a version whose provider, policies or detectors would not load (InputError),
    before it is stored rather than on its first question. Where the body names files, the
    reason leaves out what the loader said: it could quote the file."""
    trial = _derive(base, settings, 0)
    for name in ("provider", "policies", "risk", "intents", "injection"):
        try:
            getattr(trial, name)
        except (ConfigError, InputError, OSError, ValueError) as exc:
            said = getattr(exc, "message", None) or str(exc)
            why = f"its {name} is not valid ({type(exc).__name__})" if names_files else said
            raise InputError(f"This profile would not load: {why}.") from exc


def _info_of(r: ProfileVersion, acts: list[ProfileActivation]) -> Info:
    return Info(
        version=r.version,
        label=r.label,
        status=r.status,
        source=r.source,
        author=r.author,
        digest=r.digest,
        created_at=_utc(r.created_at) or r.created_at,
        published_at=_utc(r.published_at),
        active_in=tuple(sorted(a.scope for a in acts if a.version == r.version)),
        canary_in=tuple(sorted(a.scope for a in acts if a.canary_version == r.version)),
    )


def _derive(base: Runtime, settings: Any, version: int) -> Runtime:
    """A runtime for one profile version: the deployment's shared components, its own
    settings-shaped ones (built on first use from ``settings``). A version whose settings are
    the deployment's shares everything."""
    from steward.runtime import Runtime

    for name in SHARED:
        getattr(base, name)  # built once, on the deployment's runtime
    derived = Runtime.__new__(Runtime)
    same = settings == base.settings
    derived.__dict__.update(
        {k: v for k, v in base.__dict__.items() if same or k not in PROFILE_BOUND}
    )
    derived.settings = settings
    derived.profile_version = version
    return derived
