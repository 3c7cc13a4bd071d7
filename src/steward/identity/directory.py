"""Users, groups and centers: importing the directory file and looking people up.

The directory file is YAML (see docs/directory.md)::

    organization: Example Org          # optional
    centers: [north, south]            # ids, or mappings {id, name}
    groups:
      - {id: customers, name: Customers, external: true, description: ...}
    users:
      - {id: ana, display_name: Ana, groups: [customers], center: north, role: customer}

Import is an upsert: users and groups not in the file are deactivated or kept, never silently
given new rights; a user's groups are replaced by the file's list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from steward import audit
from steward.config.yamlfile import load_yaml
from steward.core.errors import InputError, NotFoundError
from steward.store import Store
from steward.store.models import Center, Group, User, UserGroup

ACCESS_LEVELS = ("asker", "reviewer", "operator", "admin")


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = ""
    external: bool = False
    description: str = ""


class CenterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = ""


class UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@:-]+$")
    display_name: str = ""
    groups: list[str] = Field(default_factory=list)
    center: str | None = None
    role: str | None = None
    access: Literal["asker", "reviewer", "operator", "admin"] | None = None


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
    users: int


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
            user = s.get(User, u.id) or User(id=u.id)
            user.display_name = u.display_name or u.id
            user.center_id = u.center
            user.role = u.role or ""
            if u.access is not None or not user.access:
                user.access = u.access or "asker"
            user.active = True
            s.add(user)
            s.flush()
            s.query(UserGroup).filter(UserGroup.user_id == u.id).delete()
            s.add_all(UserGroup(user_id=u.id, group_id=g) for g in dict.fromkeys(u.groups))
        report = ImportReport(len(spec.centers), len(spec.groups), len(spec.users))
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
