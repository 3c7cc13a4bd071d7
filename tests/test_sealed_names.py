"""Directory display names are personal data shown back as given: encrypted at rest
(store/sealed.py), readable through Steward, never in plain text in the database."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import text

from steward.evals.runner import plaintext_found
from steward.guard.sandbox import export_masked
from steward.identity.auth import Principal, principal_for
from steward.identity.directory import UserSpec, create_user, update_user
from steward.identity.sessions import Sessions
from steward.runtime import Runtime
from steward.store.sealed import PREFIX, UNREADABLE

NAMES = ["Cara Customer", "Sam Staff", "Fin Finance", "Op Erator"]


def _raw(rt: Runtime, sql: str) -> dict[str, str]:
    with rt.store.engine.connect() as conn:
        return {str(k): str(v) for k, v in conn.execute(text(sql))}


def test_names_are_sealed_at_rest_and_read_back_on_each_engine(engine_rt: Runtime) -> None:
    raw = _raw(engine_rt, "SELECT id, display_name FROM users")
    assert raw["cara"].startswith(PREFIX) and "Cara" not in raw["cara"]
    assert principal_for(engine_rt.store, "cara").display_name == "Cara Customer"
    # Nowhere in the data home or in any column of the store (read as stored).
    home = engine_rt.settings.home
    assert plaintext_found(home, NAMES, engine_rt.store) == set()
    # The directory's 200-character limit holds for a sealed name too (PostgreSQL's column
    # was 200 characters before 0017; a sealed 200-character name is longer).
    long_name = "Zoë Ångström-Þórsdóttir " * 8 + "Ünal"
    assert len(long_name) <= 200
    update_user(engine_rt.store, "cara", {"display_name": long_name}, actor="ops")
    assert principal_for(engine_rt.store, "cara").display_name == long_name
    # Fragments base64 cannot hold by chance (a two-letter one, "Zo", sometimes appeared in
    # the ciphertext at random).
    stored = _raw(engine_rt, "SELECT id, display_name FROM users")["cara"]
    assert stored.startswith(PREFIX) and "Zoë" not in stored and "Ångström" not in stored


def test_plain_names_from_before_are_sealed_on_the_next_start(
    kb_home: Path, tmp_path: Path, make_runtime
) -> None:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    rt: Runtime = make_runtime(home)
    with rt.store.engine.begin() as conn:  # as a store written before sealing holds it
        conn.execute(text("UPDATE users SET display_name = 'Sam Staff' WHERE id = 'sam'"))
    assert principal_for(rt.store, "sam").display_name == "Sam Staff"  # plain still reads
    again: Runtime = make_runtime(home)
    assert _raw(again, "SELECT id, display_name FROM users")["sam"].startswith(PREFIX)
    assert principal_for(again.store, "sam").display_name == "Sam Staff"


def test_without_the_key_a_name_reads_as_sealed_never_as_ciphertext(
    kb_home: Path, tmp_path: Path, make_runtime
) -> None:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    make_runtime(home)
    other = tmp_path / "other.key"
    other.write_text("ab" * 32)
    stranger: Runtime = make_runtime(
        tmp_path / "elsewhere",
        database_url=f"sqlite:///{home / 'steward.db'}",
        secret_key_file=other,
    )
    assert principal_for(stranger.store, "cara").display_name == UNREADABLE


def test_an_identity_providers_name_in_a_session_is_sealed(kb_rt: Runtime) -> None:
    """An OIDC session keeps the token's name for a user the directory lacks: sealed too."""
    book = Sessions(kb_rt.store, kb_rt.settings.session)
    who = Principal(
        "ext-erin", "Erin Outsider", frozenset({"customers"}), None, "asker", True, "oidc"
    )
    started = book.start(who)
    raw = _raw(kb_rt, "SELECT id, snapshot FROM web_sessions")
    assert raw and not any("Erin" in v for v in raw.values())
    assert started.token is not None
    assert book.resolve(started.token).principal.display_name == "Erin Outsider"


def test_a_masked_export_names_users_by_their_id(
    kb_rt: Runtime, tmp_path: Path, make_runtime
) -> None:
    dest = tmp_path / "sandbox"
    export_masked(kb_rt, dest)
    copy: Runtime = make_runtime(dest)
    assert principal_for(copy.store, "cara").display_name == "cara"
    assert plaintext_found(dest, NAMES, copy.store) == set()


def test_a_user_created_one_by_one_is_sealed_too(kb_rt: Runtime) -> None:
    """The path SCIM and `steward directory` take (one user at a time)."""
    create_user(kb_rt.store, UserSpec(id="newbie", display_name="Nadia Newhire"), actor="ops")
    assert "Nadia" not in _raw(kb_rt, "SELECT id, display_name FROM users")["newbie"]
    assert principal_for(kb_rt.store, "newbie").display_name == "Nadia Newhire"


def test_a_damaged_sealed_name_reads_as_sealed_and_breaks_no_listing(kb_rt: Runtime) -> None:
    """The sixth outside review: one malformed value made every directory listing fail."""
    from steward.identity.directory import list_users

    with kb_rt.store.engine.begin() as conn:
        conn.execute(text("UPDATE users SET display_name = 's1:garbage' WHERE id = 'sam'"))
    assert principal_for(kb_rt.store, "sam").display_name == UNREADABLE
    names = {u.id: u.display_name for u in list_users(kb_rt.store)}
    assert names["sam"] == UNREADABLE and names["cara"] == "Cara Customer"


def test_a_sealed_names_length_tells_little_of_the_name(kb_rt: Runtime) -> None:
    update_user(kb_rt.store, "cara", {"display_name": "Al"}, actor="ops")
    update_user(kb_rt.store, "sam", {"display_name": "Maximilian Oyelaran"}, actor="ops")
    raw = _raw(kb_rt, "SELECT id, display_name FROM users")
    assert len(raw["cara"]) == len(raw["sam"])
    assert principal_for(kb_rt.store, "sam").display_name == "Maximilian Oyelaran"
