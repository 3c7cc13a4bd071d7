"""Identity lifecycle: the directory file is the truth, leavers lose access at once, every
directory change is an audit event; API keys expire and record their last use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from steward import audit
from steward.audit.events import Kind
from steward.core.errors import AuthError, InputError
from steward.identity.auth import LAST_USED_EVERY, authenticate, create_key, expiry_from
from steward.identity.directory import deactivate_user, find_user, import_directory
from steward.runtime import Runtime
from steward.store.models import ApiKey, AuditRecord
from tests.conftest import LiveServer, run_cli
from tests.kb import DIRECTORY

FIN_LINE = (
    "  - {id: fin, display_name: Fin Finance, groups: [all_staff, finance], center: null, "
    "role: analyst}\n"
)


def events(rt: Runtime, kind: Kind) -> list[AuditRecord]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.kind == str(kind))))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def search(server: LiveServer, key: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/search",
        json={"query": "marketing budget"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_leavers_key_is_refused_within_one_request_of_the_import(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime, tmp_path: Path
) -> None:
    server, keys = live_kb
    assert FIN_LINE in DIRECTORY
    assert search(server, keys["fin"]).status_code == 200
    report = import_directory(kb_rt.store, write(tmp_path, DIRECTORY.replace(FIN_LINE, "")))
    assert (report.added, report.deactivated) == (0, 1)
    refused = search(server, keys["fin"])  # the very next request
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert search(server, keys["sam"]).status_code == 200  # everyone else keeps access
    user = find_user(kb_rt.store, "fin")
    assert user is not None and not user.active  # kept for the trail, not deleted

    back = import_directory(kb_rt.store, write(tmp_path, DIRECTORY))
    assert (back.reactivated, back.deactivated) == (1, 0)
    assert search(server, keys["fin"]).status_code == 200


def test_removing_access_from_the_file_demotes(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime, tmp_path: Path
) -> None:
    server, keys = live_kb
    stats = f"{server.url}/v1/cache/stats"
    ops = {"Authorization": f"Bearer {keys['ops']}"}
    assert httpx.get(stats, headers=ops).status_code == 200
    demoted = DIRECTORY.replace("role: operator,\n     access: operator}", "role: operator}")
    assert demoted != DIRECTORY
    report = import_directory(kb_rt.store, write(tmp_path, demoted), actor="cli:admin")
    assert report.updated == 1
    r = httpx.get(stats, headers=ops)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    user = find_user(kb_rt.store, "ops")
    assert user is not None and user.access == "asker"


def test_an_import_event_counts_added_updated_and_deactivated_users(
    kb_rt: Runtime, tmp_path: Path
) -> None:
    changed = (
        DIRECTORY.replace(FIN_LINE, "").replace(
            "display_name: No Groups", "display_name: Still No Groups"
        )
        + "  - {id: newbie, display_name: New Hire, groups: [all_staff], center: north}\n"
    )
    import_directory(kb_rt.store, write(tmp_path, changed), actor="cli:admin")
    (event,) = events(kb_rt, Kind.DIRECTORY_IMPORTED)
    assert event.user_id == "cli:admin"
    assert event.payload is not None
    counts = {k: event.payload[k] for k in ("users", "added", "updated", "deactivated")}
    assert counts == {"users": 7, "added": 1, "updated": 1, "deactivated": 1}
    assert "Fin Finance" not in json.dumps(event.payload)  # counts, never people
    assert audit.verify(kb_rt.store).ok


def test_an_import_without_an_actor_writes_no_event(kb_rt: Runtime, tmp_path: Path) -> None:
    import_directory(kb_rt.store, write(tmp_path, DIRECTORY.replace(FIN_LINE, "")))
    assert events(kb_rt, Kind.DIRECTORY_IMPORTED) == []


def test_directory_deactivate_refuses_the_leaver_and_is_audited(
    kb_rt: Runtime, model_cache: Path
) -> None:
    key = create_key(kb_rt.store, "fin")
    assert authenticate(kb_rt.store, f"Bearer {key}").user_id == "fin"
    r = run_cli("directory", "deactivate", "fin", home=kb_rt.settings.home, model_cache=model_cache)
    assert r.returncode == 0, r.stderr
    assert "Deactivated fin" in r.stdout
    with pytest.raises(AuthError, match="no longer active"):
        authenticate(kb_rt.store, f"Bearer {key}")
    (event,) = events(kb_rt, Kind.USER_DEACTIVATED)
    assert event.user_id.startswith("cli:") and event.target == "user:fin"
    assert event.channel == "cli"
    listed = run_cli(
        "directory", "list", "--json", home=kb_rt.settings.home, model_cache=model_cache
    )
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows["fin"]["active"] is False and rows["sam"]["active"] is True
    missing = run_cli(
        "directory", "deactivate", "ghost", home=kb_rt.settings.home, model_cache=model_cache
    )
    assert missing.returncode == 2 and "Unknown user" in missing.stderr


def test_deactivation_is_one_event_and_idempotent(kb_rt: Runtime) -> None:
    deactivate_user(kb_rt.store, "sam", actor="ops")
    deactivate_user(kb_rt.store, "sam", actor="ops")  # already inactive: nothing changes
    assert len(events(kb_rt, Kind.USER_DEACTIVATED)) == 1


def test_keys_create_with_expiry_and_list_json_with_last_use(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime, model_cache: Path
) -> None:
    server, _ = live_kb
    home = kb_rt.settings.home
    created = run_cli(
        "keys", "create", "--user", "cara", "--expires", "30d", home=home, model_cache=model_cache
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    day = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
    dated = run_cli(
        "keys", "create", "--user", "cara", "--expires", day, home=home, model_cache=model_cache
    )
    assert dated.returncode == 0, dated.stderr
    assert search(server, secret).status_code == 200

    listed = run_cli("keys", "list", "--user", "cara", "--json", home=home, model_cache=model_cache)
    rows = json.loads(listed.stdout)
    cara = [r for r in rows if r["prefix"] == secret[:10]]
    assert len(cara) == 1
    (row,) = cara
    assert set(row) == {
        "id",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    expires = datetime.fromisoformat(row["expires_at"]).replace(tzinfo=UTC)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    used = datetime.fromisoformat(row["last_used_at"]).replace(tzinfo=UTC)
    assert datetime.now(UTC) - used < timedelta(minutes=5)
    assert row["revoked_at"] is None
    # A date is valid through that day: the key ends at the next midnight (UTC).
    ends = {r["expires_at"][:10] for r in rows if r["expires_at"]}
    assert (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat() in ends
    unused = [r for r in rows if r["prefix"] != secret[:10]]
    assert all(r["last_used_at"] is None for r in unused)

    bad = run_cli(
        "keys", "create", "--user", "cara", "--expires", "soon", home=home, model_cache=model_cache
    )
    assert bad.returncode == 2 and "30d" in bad.stderr


def last_used(rt: Runtime, user: str) -> datetime | None:
    with rt.store.read() as s:
        return s.scalars(select(ApiKey.last_used_at).where(ApiKey.user_id == user)).one()


def test_last_use_is_written_at_most_once_a_minute(kb_rt: Runtime) -> None:
    key = create_key(kb_rt.store, "nora")
    assert last_used(kb_rt, "nora") is None
    authenticate(kb_rt.store, f"Bearer {key}")
    first = last_used(kb_rt, "nora")
    assert first is not None
    for _ in range(5):
        authenticate(kb_rt.store, f"Bearer {key}")
    assert last_used(kb_rt, "nora") == first  # no write on the following requests
    earlier = datetime.now(UTC) - LAST_USED_EVERY - timedelta(seconds=1)
    with kb_rt.store.write() as (s, _):
        s.execute(update(ApiKey).where(ApiKey.user_id == "nora").values(last_used_at=earlier))
    authenticate(kb_rt.store, f"Bearer {key}")
    latest = last_used(kb_rt, "nora")
    assert latest is not None and latest.replace(tzinfo=UTC) > earlier + timedelta(seconds=1)


def test_expiry_reads_spans_and_dates() -> None:
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert expiry_from("30d", now) == now + timedelta(days=30)
    assert expiry_from("12h", now) == now + timedelta(hours=12)
    assert expiry_from("2027-01-31", now) == datetime(2027, 2, 1, tzinfo=UTC)
    assert expiry_from("2027-01-31T12:00:00+00:00", now) == datetime(2027, 1, 31, 12, tzinfo=UTC)
    for bad in ("soon", "2026-01-01", "-3d", ""):
        with pytest.raises(InputError):
            expiry_from(bad, now)
