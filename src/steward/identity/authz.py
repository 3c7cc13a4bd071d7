"""Authorization: one function decides whether a principal may do something.

What each role may do is data (:data:`GRANTS`), not comparisons spread over the code. Roles are
cumulative, ``asker < reviewer < operator < admin``: each holds its own grants and every lower
role's. The least role that may reveal another person's vault value is a setting
(``STEWARD_REIDENTIFY_ACCESS``), so :func:`role_table` moves that one permission.

Deny by default: an unknown role, or a permission the table does not name, is refused. Every
refusal is an ``access-denied`` audit event written in its own transaction, so it is kept even
though the denied operation's own transaction never commits.

>>> authz = Authorizer(store)
>>> authz.authorize(principal, Permission.READ_AUDIT, "audit:01J...")  # ForbiddenError or None
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, NoReturn

from steward import audit
from steward.core.errors import ConfigError, ForbiddenError, StewardError
from steward.store import Store

if TYPE_CHECKING:
    from steward.identity.auth import Principal


_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a ULID: ticket, key and audit ids


# Route and kind names (v1, audit, ticket) and small row numbers (chunk 71); not 9+ digits,
# which could be an SSN, a phone or a card number.
_WORD = re.compile(r"[a-z][a-z0-9_-]{0,39}|[0-9]{1,8}")


def safe_target(resource: str) -> str:
    """The resource as an audit target: route words and ULIDs stay; any other segment (an id
    an attacker typed into a URL could be a card number or an e-mail address) becomes a
    digest, so denial events never hold raw personal data."""
    parts = re.split(r"([/:])", resource)
    return "".join(
        p
        if p in ("/", ":", "") or _ID.fullmatch(p) or _WORD.fullmatch(p)
        else "sha256-" + hashlib.sha256(p.encode()).hexdigest()[:12]
        for p in parts
    )[:200]


class Permission(StrEnum):
    """Everything the code checks before acting (kebab-case, as denials name them)."""

    ASK = "ask"
    SEARCH = "search"
    WORK_TICKETS = "work-tickets"  # see, claim, answer and resolve tickets of one's center
    RESOLVE_ANY_TICKET = "resolve-any-ticket"  # resolve a ticket someone else claimed
    SEE_ALL_CENTERS = "see-all-centers"  # tickets of every center, not only one's own
    READ_AUDIT = "read-audit"  # one record and its sources
    VERIFY_AUDIT = "verify-audit"
    EXPORT_AUDIT = "export-audit"
    PRUNE_AUDIT = "prune-audit"
    VIEW_CACHE_STATS = "view-cache-stats"
    RELEASE_QUARANTINE = "release-quarantine"
    RELOAD_POLICY = "reload-policy"
    MANAGE_SOURCES = "manage-sources"  # unregister a source (its documents leave the store)
    MANAGE_KEYS = "manage-keys"
    MANAGE_DIRECTORY = "manage-directory"
    PROVISION = "provision"  # SCIM 2.0: an identity provider keeping the directory in sync
    ERASE_SUBJECT = "erase-subject"
    REVEAL_OTHERS = "reveal-others"  # a vault value another asker gave
    READ_METRICS = "read-metrics"  # GET /metrics (Prometheus scrapes with an operator's token)
    MANAGE_SWITCHES = "manage-switches"  # kill switches and overrides (operations/switches.py)
    VIEW_ALERTS = "view-alerts"  # alert rules, states and events; evaluate them now
    SYNC_SOURCES = "sync-sources"  # see sources' freshness and start a sync now (console)
    VIEW_REPORTS = "view-reports"  # the six metrics of every center (report, dashboard)
    # Change control (issue 20): see profile versions, evaluation runs and gates; approve a
    # version someone else wrote (four eyes); write, publish, gate, activate and roll back
    # versions and run evaluations; activate without the gate or approval (admin, with reason).
    READ_PROFILES = "read-profiles"
    APPROVE_PROFILES = "approve-profiles"
    MANAGE_PROFILES = "manage-profiles"
    OVERRIDE_PROMOTION = "override-promotion"
    VIEW_COSTS = "view-costs"  # spend against the monthly budgets
    # Actions (issue 21): ask the assistant to act for oneself (what the Cedar policy then
    # allows); approve or reject others' actions; see every center's actions and resume them.
    USE_TOOLS = "use-tools"
    APPROVE_ACTIONS = "approve-actions"
    MANAGE_ACTIONS = "manage-actions"
    # The sponsor's view (issue 22): use-case scores, rollout gates, ROI and TCO, data readiness
    # (figures only, never personal data); open and close rollout waves; resolve the conflicts
    # between sources that federated records raise. Operators hold all three; members of the
    # directory group STEWARD_SPONSOR_GROUP hold VIEW_SPONSOR whatever their role.
    VIEW_SPONSOR = "view-sponsor"
    MANAGE_ROLLOUT = "manage-rollout"
    MANAGE_RECORDS = "manage-records"
    # Break-glass: audit rows' answer text and cited titles even where the reader may not read
    # the cited documents. Admins hold it (they may export the trail whole anyway), and members
    # of the directory group STEWARD_AUDITOR_GROUP names (:func:`group_grants`), whatever their
    # role; each use that shows something is a ``break-glass`` audit event.
    AUDITOR = "auditor"


ROLES: tuple[str, ...] = ("asker", "reviewer", "operator", "admin")

# What each role adds to the role below it.
GRANTS: Mapping[str, frozenset[Permission]] = {
    "asker": frozenset({Permission.ASK, Permission.SEARCH, Permission.USE_TOOLS}),
    "reviewer": frozenset(
        {
            Permission.WORK_TICKETS,
            Permission.READ_PROFILES,
            Permission.APPROVE_PROFILES,
            Permission.APPROVE_ACTIONS,
        }
    ),
    "operator": frozenset(
        {
            Permission.RESOLVE_ANY_TICKET,
            Permission.SEE_ALL_CENTERS,
            Permission.READ_AUDIT,
            Permission.VERIFY_AUDIT,
            Permission.VIEW_CACHE_STATS,
            Permission.RELEASE_QUARANTINE,
            Permission.RELOAD_POLICY,
            Permission.READ_METRICS,
            Permission.MANAGE_SWITCHES,
            Permission.VIEW_ALERTS,
            Permission.SYNC_SOURCES,
            Permission.VIEW_REPORTS,
            Permission.MANAGE_SOURCES,
            Permission.MANAGE_PROFILES,
            Permission.VIEW_COSTS,
            Permission.MANAGE_ACTIONS,
            Permission.VIEW_SPONSOR,
            Permission.MANAGE_ROLLOUT,
            Permission.MANAGE_RECORDS,
        }
    ),
    "admin": frozenset(
        {
            Permission.OVERRIDE_PROMOTION,
            Permission.EXPORT_AUDIT,
            Permission.PRUNE_AUDIT,
            Permission.MANAGE_KEYS,
            Permission.MANAGE_DIRECTORY,
            Permission.PROVISION,
            Permission.ERASE_SUBJECT,
            Permission.REVEAL_OTHERS,
            Permission.AUDITOR,
        }
    ),
}


def role_table(reveal_access: str = "admin") -> dict[str, frozenset[Permission]]:
    """Every role's permissions: its own grants plus every lower role's, with
    :attr:`Permission.REVEAL_OTHERS` granted from ``reveal_access`` up."""
    if reveal_access not in ROLES:
        raise ConfigError(f"Unknown access level {reveal_access!r}: use one of {', '.join(ROLES)}.")
    table: dict[str, frozenset[Permission]] = {}
    held: frozenset[Permission] = frozenset()
    for role in ROLES:
        held = held | (GRANTS[role] - {Permission.REVEAL_OTHERS})
        if ROLES.index(role) >= ROLES.index(reveal_access):
            held = held | {Permission.REVEAL_OTHERS}
        table[role] = held
    return table


def group_grants(
    auditor_group: str | None, sponsor_group: str | None = None
) -> dict[str, frozenset[Permission]]:
    """Permissions that membership of a directory group grants, whatever the role: the
    ``auditor`` grant to the group ``STEWARD_AUDITOR_GROUP`` names, the sponsor's view to the
    group ``STEWARD_SPONSOR_GROUP`` names."""
    out: dict[str, frozenset[Permission]] = {}
    if sponsor_group:
        out[sponsor_group] = frozenset({Permission.VIEW_SPONSOR})
    if auditor_group:
        out[auditor_group] = out.get(auditor_group, frozenset()) | {Permission.AUDITOR}
    return out


def highest_role(roles: Iterable[str]) -> str:
    """The strongest known role among ``roles`` (unknown names ignored), else ``asker``."""
    known = [r for r in roles if r in ROLES]
    return max(known, key=ROLES.index, default="asker")


class Authorizer:
    """Answers "may this principal do this?" from a role table, and audits every refusal."""

    def __init__(
        self,
        store: Store,
        table: Mapping[str, frozenset[Permission]] | None = None,
        groups: Mapping[str, frozenset[Permission]] | None = None,
    ):
        self.store = store
        self.table: Mapping[str, frozenset[Permission]] = table or role_table()
        self.groups: Mapping[str, frozenset[Permission]] = groups or {}

    def permits(self, principal: Principal, permission: Permission | str) -> bool:
        """The table lookup alone, with no audit: for scoping what a listing shows (a reviewer
        sees their own center's tickets), where not seeing the rest is no denied attempt."""
        if permission in self.table.get(principal.access, frozenset()):
            return True
        return any(permission in self.groups.get(g, frozenset()) for g in principal.groups)

    def least_role(self, permission: Permission) -> str | None:
        """The lowest role holding ``permission`` (for error messages that say how to fix it)."""
        return next((r for r in ROLES if permission in self.table.get(r, frozenset())), None)

    def authorize(
        self,
        principal: Principal,
        permission: Permission | str,
        resource: str,
        *,
        message: str | None = None,
    ) -> None:
        """Return if ``principal`` holds ``permission``; otherwise record an ``access-denied``
        event naming the permission and ``resource`` and raise :class:`ForbiddenError`
        (``message`` replaces the default text where a caller knows a better hint).

        Never call it inside a ``store.write()`` block: the denial is written in its own
        transaction, which must not wait on (or roll back with) the caller's."""
        if self.permits(principal, permission):
            return
        self._record_denial(
            principal,
            resource,
            {"permission": str(permission)},
            f"authz: {principal.access} lacks {permission}",
        )
        raise ForbiddenError(
            message or self._denied(principal, permission),
            user=principal.user_id,
            permission=str(permission),
        )

    def deny(self, principal: Principal, rule: str, resource: str, error: StewardError) -> NoReturn:
        """Record an ``access-denied`` event for a refusal that a rule of the resource decided
        (a ticket claimed by someone else, one of another center) and raise ``error``, which
        may be a 404 where saying "forbidden" would confirm that the resource exists. Same
        rule as :meth:`authorize`: never inside a ``store.write()`` block."""
        self._record_denial(principal, resource, {"rule": rule}, f"authz: {rule}")
        raise error

    def _record_denial(
        self, principal: Principal, resource: str, payload: dict[str, str], reason: str
    ) -> None:
        """The ``access-denied`` event of a refusal, in its own transaction."""
        audit.record(
            self.store,
            audit.AuditEvent(
                audit.Kind.ACCESS_DENIED,
                actor=principal.user_id,
                target=safe_target(resource),
                decision="denied",
                payload={**payload, "role": principal.access},
                reason=reason,
                groups=tuple(principal.groups),
                center=principal.center,
            ),
        )

    def _denied(self, principal: Principal, permission: Permission | str) -> str:
        try:
            least = self.least_role(Permission(permission))
        except ValueError:  # a name the enum does not know: deny by default
            least = None
        if least is None:
            return f"{principal.user_id} may not {permission}: no role holds that permission."
        return f"This needs {least} access; {principal.user_id} has {principal.access}."
