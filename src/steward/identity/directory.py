"""Users, groups and centers: importing the directory file and looking people up.

The directory file is YAML (see docs/directory.md)::

    organization: Example Org          # optional
    centers: [north, south]            # ids, or mappings {id, name}
    groups:
      - {id: customers, name: Customers, external: true, description: ...}
    users:
      - {id: ana, display_name: Ana, groups: [customers], center: north, role: customer}

Import makes the file the truth: a user absent from it is deactivated (their API keys and
tokens are refused from the next request: authentication reads ``users.active`` every time), a
user who reappears is reactivated, ``access`` absent means ``asker`` (so removing ``access:
admin`` demotes), and a user's groups are replaced by the file's list. Groups and centers absent
from the file are kept: they grant nothing to a user who is not in them.

Single changes (a leaver, an identity provider over SCIM, see ``web/scim.py``) go through
:func:`create_user`, :func:`update_user`, :func:`deactivate_user`, :func:`save_group` and
:func:`delete_group`; each writes its audit event in the same transaction as the change. Events
name a user as ``user:<id>`` through :func:`~steward.identity.authz.safe_target`, so an id that
looks like an e-mail address enters the trail only as a digest.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from steward import audit
from steward.config.yamlfile import load_yaml
from steward.core.errors import InputError, NotFoundError
from steward.identity.authz import safe_target
from steward.store import Store
from steward.store.models import Center, Group, User, UserGroup

ACCESS_LEVELS = ("asker", "reviewer", "operator", "admin")


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(default="", max_length=200)
    external: bool = False
    description: str = ""

    @field_validator("name")
    @classmethod
    def _shown(cls, value: str) -> str:
        return _shown_text(value)


class CenterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = ""


def _shown_text(value: str) -> str:
    """A name shown to people: no control or invisible format characters (NUL, line and
    paragraph separators, zero-width space, bidirectional overrides), with which a name could
    pass for another on a page or in a log line, and not blank. The zero-width (non-)joiners
    stay: Persian and Indic names and emoji need them."""
    bad = [
        ch
        for ch in value
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch not in "\u200c\u200d"
    ]
    if bad:
        raise ValueError(f"must not contain control characters (found U+{ord(bad[0]):04X})")
    if value and not value.strip():
        raise ValueError("must not be blank")
    return value


class UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@:-]+$")
    display_name: str = Field(default="", max_length=200)
    groups: list[str] = Field(default_factory=list)
    center: str | None = None
    role: str | None = Field(default=None, max_length=64)
    access: Literal["asker", "reviewer", "operator", "admin"] | None = None

    @field_validator("display_name", "role")
    @classmethod
    def _shown(cls, value: str | None) -> str | None:
        return None if value is None else _shown_text(value)


class DirectorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization: str | None = None
    centers: list[CenterSpec] = Field(default_factory=list)
    groups: list[GroupSpec] = Field(default_factory=list)
    users: list[UserSpec] = Field(default_factory=list)

    @field_validator("centers", mode="before")
    @classmethod
    def _centers(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": c} if isinstance(c, str) else c for c in value]
        return value


@dataclass(frozen=True)
class ImportReport:
    centers: int
    groups: int
    users: int  # users in the file
    added: int = 0
    updated: int = 0  # existing users whose name, center, role, access, groups or state changed
    deactivated: int = 0  # active users absent from the file
    reactivated: int = 0  # inactive users back in the file (also counted in `updated`)


class DirectoryConflict(InputError):
    """A user or group id that already exists (SCIM answers 409 ``uniqueness``)."""

    status = 409
    code = "conflict"


def _load_spec(path: Path) -> DirectorySpec:
    spec = load_yaml(
        path, DirectorySpec, what="Directory file", error=InputError, shape="`groups` and `users`"
    )
    known = {g.id for g in spec.groups}
    centers = {c.id for c in spec.centers}
    for user in spec.users:
        missing = [g for g in user.groups if g not in known]
        if missing:
            raise InputError(
                f"Directory file {path}: user {user.id} names unknown group(s) "
                f"{', '.join(missing)}; declare them under `groups`."
            )
        if user.center is not None and user.center not in centers:
            raise InputError(
                f"Directory file {path}: user {user.id} names unknown center {user.center}; "
                "declare it under `centers`."
            )
    return spec


def import_directory(store: Store, path: Path, *, actor: str | None = None) -> ImportReport:
    """Load users, groups and centers from ``path`` (all or nothing).

    With ``actor`` (who imported it), the import is an audit event in the same transaction.
    Seeding a new store at set-up (the demo, a fresh data home) names no one and records
    nothing: there is no one to hold to account yet."""
    spec = _load_spec(path)
    added = updated = reactivated = 0
    with store.write() as (s, _events):
        for c in spec.centers:
            center = s.get(Center, c.id) or Center(id=c.id, name=c.name or c.id)
            center.name = c.name or c.id
            s.add(center)
        for g in spec.groups:
            group = s.get(Group, g.id) or Group(id=g.id)
            group.name, group.external, group.description = (
                g.name or g.id,
                g.external,
                g.description,
            )
            s.add(group)
        s.flush()
        for u in spec.users:
            existing = s.get(User, u.id)
            before = _state(existing) if existing is not None else None
            user = existing or User(id=u.id)
            user.display_name = u.display_name or u.id
            user.center_id = u.center
            user.role = u.role or ""
            user.access = u.access or "asker"  # the file is the truth: no access line, asker
            reactivated += existing is not None and not existing.active
            user.active = True
            s.add(user)
            s.flush()
            _set_groups(s, u.id, u.groups)
            if before is None:
                added += 1
            elif before != _state(user, u.groups):
                updated += 1
        listed = {u.id for u in spec.users}
        leavers = [
            u for u in s.scalars(select(User).where(User.active.is_(True))) if u.id not in listed
        ]
        for user in leavers:
            user.active = False
        report = ImportReport(
            len(spec.centers),
            len(spec.groups),
            len(spec.users),
            added=added,
            updated=updated,
            deactivated=len(leavers),
            reactivated=reactivated,
        )
        if actor is not None:
            audit.record(store, _imported(actor, path, report), session=s)
    return report


def _imported(actor: str, path: Path, report: ImportReport) -> audit.AuditEvent:
    # Counts and the file's name only: the directory's people stay out of the trail.
    return audit.AuditEvent(
        audit.Kind.DIRECTORY_IMPORTED,
        actor=actor,
        target="directory",
        payload={"file": path.name, **report.__dict__},
    )


# ------------------------------------------------------------------ single changes

# What update_user may change, and the column each name sets.
USER_FIELDS = {
    "display_name": "display_name",
    "center": "center_id",
    "role": "role",
    "access": "access",
    "active": "active",
}


def _state(user: User, groups: Iterable[str] | None = None) -> tuple[object, ...]:
    listed = sorted(groups) if groups is not None else sorted(g.id for g in user.groups)
    return (
        user.display_name,
        user.center_id,
        user.role,
        user.access,
        user.active,
        tuple(dict.fromkeys(listed)),
    )


def _set_groups(s: Session, user_id: str, groups: Iterable[str]) -> None:
    s.query(UserGroup).filter(UserGroup.user_id == user_id).delete()
    s.add_all(UserGroup(user_id=user_id, group_id=g) for g in dict.fromkeys(groups))


def _user_event(
    kind: audit.Kind, actor: str, user_id: str, channel: str, **payload: object
) -> audit.AuditEvent:
    # The id through safe_target (an e-mail-like id becomes a digest); field names, access
    # levels, group and center ids: never a display name.
    return audit.AuditEvent(
        kind, actor=actor, target=safe_target(f"user:{user_id}"), payload=payload, channel=channel
    )


def _check_refs(s: Session, center: str | None, groups: Iterable[str]) -> None:
    if center is not None and s.get(Center, center) is None:
        raise InputError(f"Unknown center {center!r}; centers come from the directory file.")
    missing = [g for g in groups if s.get(Group, g) is None]
    if missing:
        raise InputError(f"Unknown group(s) {', '.join(missing)}; create the group first.")


def create_user(
    store: Store, spec: UserSpec, *, actor: str, channel: str = "service", active: bool = True
) -> User:
    """Add one user (``access`` absent: asker). DirectoryConflict if the id exists, active or
    not: a returning user is reactivated with :func:`update_user`."""
    with store.write() as (s, _):
        if s.get(User, spec.id) is not None:
            raise DirectoryConflict(f"User {spec.id!r} already exists; update it instead.")
        _check_refs(s, spec.center, spec.groups)
        user = User(
            id=spec.id,
            display_name=spec.display_name or spec.id,
            center_id=spec.center,
            role=spec.role or "",
            access=spec.access or "asker",
            active=active,
        )
        s.add(user)
        s.flush()
        _set_groups(s, spec.id, spec.groups)
        event = _user_event(
            audit.Kind.USER_CREATED,
            actor,
            spec.id,
            channel,
            access=user.access,
            center=spec.center,
            groups=sorted(set(spec.groups)),
            active=active,
        )
        audit.record(store, event, session=s)
    return _reloaded(store, spec.id)


def update_user(
    store: Store,
    user_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    channel: str = "service",
) -> User:
    """Change some of a user's :data:`USER_FIELDS` (the others keep their value). One event:
    ``user-deactivated`` or ``user-reactivated`` when ``active`` flips, else ``user-updated``
    naming the changed fields; nothing is written when nothing changes."""
    unknown = sorted(set(changes) - set(USER_FIELDS))
    if unknown:
        raise InputError(f"Cannot change {', '.join(unknown)}; known: {', '.join(USER_FIELDS)}.")
    values = _valid_user_values(user_id, changes)
    with store.write() as (s, _):
        user = s.get(User, user_id)
        if user is None:
            raise NotFoundError(
                f"Unknown user {user_id[:64]!r}; `steward directory list` shows them."
            )
        if "center" in values:
            _check_refs(s, values["center"], ())
        was_active = user.active
        changed = sorted(k for k, v in values.items() if getattr(user, USER_FIELDS[k]) != v)
        for name in changed:
            setattr(user, USER_FIELDS[name], values[name])
        if changed:
            kind = audit.Kind.USER_UPDATED
            if user.active != was_active:
                kind = audit.Kind.USER_REACTIVATED if user.active else audit.Kind.USER_DEACTIVATED
            payload: dict[str, object] = {"changed": changed}
            payload.update({k: values[k] for k in ("access", "center") if k in changed})
            audit.record(store, _user_event(kind, actor, user_id, channel, **payload), session=s)
    return _reloaded(store, user_id)


def _valid_user_values(user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` checked by :class:`UserSpec`'s own rules (access levels, lengths)."""
    values = dict(changes)
    probe = {k: v for k, v in values.items() if k in ("display_name", "center", "role", "access")}
    try:
        UserSpec.model_validate({"id": user_id, **probe})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"Invalid user {where}: {first['msg']}.") from exc
    if "active" in values and not isinstance(values["active"], bool):
        raise InputError("`active` must be true or false.")
    if "access" in values:
        values["access"] = values["access"] or "asker"
    if "role" in values:
        values["role"] = values["role"] or ""
    if "display_name" in values:
        values["display_name"] = values["display_name"] or user_id
    return values


def deactivate_user(store: Store, user_id: str, *, actor: str, channel: str = "service") -> User:
    """A leaver: the user stays (the audit trail names them) but authenticates no more: every
    API key and bearer token of theirs is refused from the next request. Their keys are kept
    (suspended, not revoked), so a mistaken deactivation is undone by reactivating."""
    return update_user(store, user_id, {"active": False}, actor=actor, channel=channel)


def _reloaded(store: Store, user_id: str) -> User:
    with store.read() as s:
        user = s.get(User, user_id)
        assert user is not None
        _ = user.groups
        return user


def find_user(store: Store, user_id: str) -> User | None:
    """A user, active or not (provisioning sees leavers too), with groups loaded."""
    with store.read() as s:
        user = s.get(User, user_id)
        if user is not None:
            _ = user.groups
        return user


@dataclass(frozen=True)
class GroupChange:
    """What :func:`save_group` does to a group: ``members`` replaces the member list; ``add``
    and ``remove`` change it (after ``members``, when both are given)."""

    name: str | None = None
    members: tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


def save_group(
    store: Store,
    group_id: str,
    change: GroupChange,
    *,
    actor: str,
    channel: str = "service",
    create: bool = False,
) -> Group:
    """Create (``create=True``; DirectoryConflict if it exists) or change a group and its
    members in one transaction with one event. Members must be known users."""
    try:
        GroupSpec.model_validate({"id": group_id, "name": change.name or ""})
    except ValidationError as exc:
        raise InputError(f"Invalid group id {group_id[:64]!r}: {exc.errors()[0]['msg']}.") from exc
    with store.write() as (s, _):
        group = s.get(Group, group_id)
        if create and group is not None:
            raise DirectoryConflict(f"Group {group_id!r} already exists; update it instead.")
        if not create and group is None:
            raise NotFoundError(f"Unknown group {group_id[:64]!r}.")
        if group is None:
            group = Group(id=group_id, name=change.name or group_id, external=False, description="")
            s.add(group)
            s.flush()
        elif change.name:
            group.name = change.name
        current = set(s.scalars(select(UserGroup.user_id).where(UserGroup.group_id == group_id)))
        wanted = set(change.members) if change.members is not None else set(current)
        wanted = (wanted | set(change.add)) - set(change.remove)
        unknown = sorted(u for u in wanted - current if s.get(User, u) is None)
        if unknown:
            raise InputError(f"Unknown user(s) {', '.join(unknown)[:200]}; create them first.")
        gone, new = current - wanted, wanted - current
        if gone:
            s.query(UserGroup).filter(
                UserGroup.group_id == group_id, UserGroup.user_id.in_(gone)
            ).delete(synchronize_session=False)
        s.add_all(UserGroup(user_id=u, group_id=group_id) for u in sorted(new))
        kind = audit.Kind.GROUP_CREATED if create else audit.Kind.GROUP_UPDATED
        # Counts, not member ids: the members are people.
        event = audit.AuditEvent(
            kind,
            actor=actor,
            target=safe_target(f"group:{group_id}"),
            payload={"added": len(new), "removed": len(gone), "members": len(wanted)},
            channel=channel,
        )
        audit.record(store, event, session=s)
    return group


def delete_group(store: Store, group_id: str, *, actor: str, channel: str = "service") -> None:
    """Remove a group and every membership in it: documents whose access list names only
    this group are then readable by no one (deny by default)."""
    with store.write() as (s, _):
        group = s.get(Group, group_id)
        if group is None:
            raise NotFoundError(f"Unknown group {group_id[:64]!r}.")
        members = s.query(UserGroup).filter(UserGroup.group_id == group_id).delete()
        s.delete(group)
        event = audit.AuditEvent(
            audit.Kind.GROUP_DELETED,
            actor=actor,
            target=safe_target(f"group:{group_id}"),
            payload={"members": members},
            channel=channel,
        )
        audit.record(store, event, session=s)


def group_members(store: Store, group_id: str) -> list[User]:
    with store.read() as s:
        q = select(User).join(UserGroup, UserGroup.user_id == User.id)
        return list(s.scalars(q.where(UserGroup.group_id == group_id).order_by(User.id)))


def list_groups(store: Store) -> list[Group]:
    with store.read() as s:
        return list(s.scalars(select(Group).order_by(Group.id)))


def find_group(store: Store, group_id: str) -> Group | None:
    with store.read() as s:
        return s.get(Group, group_id)


def get_user(store: Store, user_id: str) -> User:
    """The active user ``user_id`` or NotFoundError with a hint."""
    with store.read() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            raise NotFoundError(
                f"Unknown user {user_id!r} — import a directory with "
                "`steward directory import FILE` or check the id.",
                user=user_id,
            )
        _ = user.groups
        return user


def list_users(store: Store) -> list[User]:
    with store.read() as s:
        return list(s.scalars(select(User).order_by(User.id)))


def external_groups(store: Store) -> frozenset[str]:
    with store.read() as s:
        return frozenset(s.scalars(select(Group.id).where(Group.external.is_(True))))


def center_ids(store: Store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(Center.id).order_by(Center.id)))
