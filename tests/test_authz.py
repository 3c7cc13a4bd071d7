"""One authorize(): the role table is data, roles are cumulative, and anything unknown is denied
(and the denial audited)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from steward import audit
from steward.core.errors import ConfigError, ForbiddenError
from steward.identity.auth import Principal
from steward.identity.authz import GRANTS, ROLES, Authorizer, Permission, highest_role, role_table
from steward.store import Store, open_store


def who(access: str, user: str = "u1") -> Principal:
    return Principal(user, "Someone", frozenset({"all_staff"}), "north", access, False, "cli")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'authz.db'}")
    yield s
    s.dispose()


def test_role_table_is_the_documented_data() -> None:
    table = role_table()
    assert ROLES == ("asker", "reviewer", "operator", "admin")
    assert table["asker"] == {Permission.ASK, Permission.SEARCH, Permission.USE_TOOLS}
    assert table["reviewer"] == table["asker"] | {
        Permission.WORK_TICKETS,
        Permission.READ_PROFILES,
        Permission.APPROVE_PROFILES,
        Permission.APPROVE_ACTIONS,
    }
    assert Permission.MANAGE_ACTIONS in table["operator"]
    assert Permission.MANAGE_ACTIONS not in table["reviewer"]
    assert Permission.SEE_ALL_CENTERS in table["operator"]
    assert Permission.RESOLVE_ANY_TICKET in table["operator"]
    assert Permission.READ_AUDIT in table["operator"]
    assert Permission.RELEASE_QUARANTINE in table["operator"]
    for admin_only in (
        Permission.ERASE_SUBJECT,
        Permission.REVEAL_OTHERS,
        Permission.MANAGE_KEYS,
        Permission.MANAGE_DIRECTORY,
        Permission.EXPORT_AUDIT,
        Permission.PRUNE_AUDIT,
    ):
        assert admin_only in table["admin"] and admin_only not in table["operator"]


def test_roles_are_cumulative() -> None:
    table = role_table()
    for lower, higher in pairwise(ROLES):
        assert table[lower] < table[higher], (lower, higher)


def test_every_permission_is_granted_to_admin_and_named_once_in_the_grants() -> None:
    assert role_table()["admin"] == set(Permission)
    named = [p for grants in GRANTS.values() for p in grants]
    assert sorted(named) == sorted(Permission)


def test_reveal_access_setting_moves_only_the_reveal_permission() -> None:
    base, loose = role_table("admin"), role_table("reviewer")
    assert Permission.REVEAL_OTHERS in loose["reviewer"]
    assert Permission.REVEAL_OTHERS not in loose["asker"]
    assert Permission.REVEAL_OTHERS not in base["operator"]
    for role in ROLES:
        assert base[role] - {Permission.REVEAL_OTHERS} == loose[role] - {Permission.REVEAL_OTHERS}
    with pytest.raises(ConfigError):
        role_table("root")


def test_unknown_role_is_denied_everything(store: Store) -> None:
    authz = Authorizer(store)
    ghost = who("superuser")
    assert not any(authz.permits(ghost, p) for p in Permission)
    with pytest.raises(ForbiddenError):
        authz.authorize(ghost, Permission.ASK, "ask")


def test_unknown_permission_is_denied_even_to_admin(store: Store) -> None:
    authz = Authorizer(store)
    assert not authz.permits(who("admin"), "launch-rockets")
    with pytest.raises(ForbiddenError, match="no role holds"):
        authz.authorize(who("admin"), "launch-rockets", "rockets")


def test_allowed_check_writes_nothing_and_a_denial_writes_one_event(store: Store) -> None:
    authz = Authorizer(store)
    authz.authorize(who("operator"), Permission.READ_AUDIT, "audit:1")
    assert audit.count(store) == 0
    with pytest.raises(ForbiddenError, match="This needs operator access; u2 has reviewer"):
        authz.authorize(who("reviewer", "u2"), Permission.READ_AUDIT, "audit:1")
    (row,) = list(audit.export(store))
    assert (row["kind"], row["user_id"], row["target"], row["action"]) == (
        "access-denied",
        "u2",
        "audit:1",
        "denied",
    )
    assert row["payload"]["permission"] == "read-audit"
    assert audit.verify(store).ok


def test_highest_role_ignores_unknown_names() -> None:
    assert highest_role(["reviewer", "root", "operator"]) == "operator"
    assert highest_role(["root"]) == "asker"
    assert highest_role([]) == "asker"
