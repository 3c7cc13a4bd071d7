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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read directory file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"Directory file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InputError(f"Directory file {path} must be a mapping with `groups` and `users`.")
    try:
        spec = DirectorySpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"Directory file {path}: {where}: {first['msg']}") from exc
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


def import_directory(store: Store, path: Path) -> ImportReport:
    """Load users, groups and centers from ``path`` (all or nothing)."""
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
    return ImportReport(len(spec.centers), len(spec.groups), len(spec.users))


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
