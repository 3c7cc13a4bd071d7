"""Browser sessions: an API key or an ID token becomes an HttpOnly, SameSite=Strict cookie whose
token is stored only as a digest; state changes by cookie need the session's CSRF token; a
session ends with its lifetime, idle time, sign-out, its user or its key. Real HTTP throughout."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from steward import audit
from steward.identity.auth import list_keys, revoke_key
from steward.identity.directory import deactivate_user
from steward.runtime import Runtime
from steward.store.models import WebSession
from steward.web.app import create_app
from tests.conftest import LiveServer
from tests.test_identity import AUDIENCE, ISSUER, jwks_file, keys, token  # noqa: F401

SEARCH = {"query": "monthly fee"}


OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def browser_like(server: LiveServer) -> httpx.Client:
    """A client with its own cookie jar, closed after the test."""
    client = httpx.Client(base_url=server.url, timeout=60)
    OPEN.append(client)
    return client


def sign_in(server: LiveServer, key: str) -> tuple[httpx.Client, dict]:
    """A client (its own cookie jar) signed in with ``key``; the session's body."""
    client = browser_like(server)
    r = client.post("/v1/session", json={"api_key": key})
    assert r.status_code == 201, r.text
    return client, r.json()


def cookie_header(r: httpx.Response) -> str:
    return next(v for k, v in r.headers.multi_items() if k.lower() == "set-cookie")


def events(rt: Runtime, kind: str) -> list[dict]:
    return [e for e in audit.export(rt.store) if e["kind"] == kind]


def test_sign_in_sets_a_strict_httponly_cookie_and_returns_who_and_the_csrf_token(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys_ = live_kb
    r = httpx.post(f"{server.url}/v1/session", json={"api_key": keys_["cara"]}, timeout=60)
    assert r.status_code == 201
    body = r.json()
    assert body["user_id"] == "cara" and body["display_name"] == "Cara Customer"
    assert body["access"] == "asker" and body["center"] == "north"
    assert len(body["csrf_token"]) >= 40
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC) + timedelta(hours=7)
    flags = [p.strip().lower() for p in cookie_header(r).split(";")]
    assert flags[0].startswith("steward_session=")
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http here; https or the setting adds it
    assert "max-age=28800" in flags


def test_the_cookie_is_secure_when_the_setting_forces_it(
    kb_home: Path, tmp_path: Path, make_runtime
) -> None:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    rt = make_runtime(home, session_secure_cookie=True)
    from steward.identity.auth import create_key

    key = create_key(rt.store, "cara")
    with LiveServer(create_app(rt)) as server:
        r = httpx.post(f"{server.url}/v1/session", json={"api_key": key}, timeout=60)
    assert r.status_code == 201
    assert "secure" in [p.strip().lower() for p in cookie_header(r).split(";")]


def test_token_is_stored_only_as_its_digest_and_never_reaches_the_audit_trail(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys_ = live_kb
    client, body = sign_in(server, keys_["cara"])
    token_ = client.cookies["steward_session"]
    with kb_rt.store.read() as s:
        rows = list(s.scalars(select(WebSession)))
    assert [r.id for r in rows] == [hashlib.sha256(token_.encode()).hexdigest()]
    stored = json.dumps([{c: str(getattr(r, c)) for c in ("id", "csrf", "snapshot")} for r in rows])
    assert token_ not in stored
    trail = json.dumps(list(audit.export(kb_rt.store)))
    assert token_ not in trail and body["csrf_token"] not in trail
    started = events(kb_rt, "session-started")
    assert len(started) == 1 and started[0]["user_id"] == "cara"
    assert started[0]["payload"]["via"] == "api-key"


def test_state_change_by_cookie_needs_the_sessions_csrf_token(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys_ = live_kb
    client, body = sign_in(server, keys_["cara"])
    assert client.get("/v1/session").json()["csrf_token"] == body["csrf_token"]
    missing = client.post("/v1/search", json=SEARCH)
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/v1/search", json=SEARCH, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf_failed"
    # A form field counts too (the console's forms), but only the right value.
    form = {"content-type": "application/x-www-form-urlencoded"}
    bad_form = client.post("/v1/search", content="csrf_token=nope", headers=form)
    assert bad_form.status_code == 403
    ok = client.post("/v1/search", json=SEARCH, headers={"X-CSRF-Token": body["csrf_token"]})
    assert ok.status_code == 200, ok.text
    # A GET needs no token; the bearer header path is untouched by the cookie rules.
    assert client.get("/v1/session").status_code == 200
    bearer = httpx.post(
        f"{server.url}/v1/search",
        json=SEARCH,
        headers={"Authorization": f"Bearer {keys_['cara']}"},
        cookies={"steward_session": client.cookies["steward_session"]},
        timeout=60,
    )
    assert bearer.status_code == 200


def test_another_users_csrf_token_does_not_pass_with_my_cookie(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys_ = live_kb
    cara, _ = sign_in(server, keys_["cara"])
    _, sam = sign_in(server, keys_["sam"])
    crossed = cara.post("/v1/search", json=SEARCH, headers={"X-CSRF-Token": sam["csrf_token"]})
    assert crossed.status_code == 403 and crossed.json()["error"]["code"] == "csrf_failed"
    assert cara.get("/v1/session").json()["user_id"] == "cara"


def test_expired_and_idle_sessions_are_refused(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys_ = live_kb
    old, _ = sign_in(server, keys_["cara"])
    idle, _ = sign_in(server, keys_["sam"])
    past = datetime.now(UTC) - timedelta(seconds=1)
    long_ago = datetime.now(UTC) - timedelta(seconds=kb_rt.settings.session.idle_s + 5)
    with kb_rt.store.write() as (s, _):
        s.execute(update(WebSession).where(WebSession.user_id == "cara").values(expires_at=past))
        s.execute(
            update(WebSession).where(WebSession.user_id == "sam").values(last_seen_at=long_ago)
        )
    expired = old.get("/v1/session")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    gone = idle.get("/v1/session")
    assert gone.status_code == 401 and "without use" in gone.json()["error"]["message"]
    assert old.get("/v1/conversations/01JAAAAAAAAAAAAAAAAAAAAAAA").status_code == 401


def test_deactivated_user_and_revoked_key_end_their_sessions(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys_ = live_kb
    cara, _ = sign_in(server, keys_["cara"])
    sam, _ = sign_in(server, keys_["sam"])
    assert cara.get("/v1/session").status_code == 200
    deactivate_user(kb_rt.store, "cara", actor="test")
    assert cara.get("/v1/session").status_code == 401
    (sam_key,) = list_keys(kb_rt.store, "sam")
    revoke_key(kb_rt.store, sam_key.id)
    refused = sam.get("/v1/session")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


def test_sign_out_needs_csrf_and_ends_the_session_for_good(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys_ = live_kb
    client, body = sign_in(server, keys_["cara"])
    token_ = client.cookies["steward_session"]
    forged = client.delete("/v1/session")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    assert client.get("/v1/session").status_code == 200
    out = client.delete("/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
    assert "steward_session=" in cookie_header(out) and "max-age=0" in cookie_header(out).lower()
    replay = httpx.get(f"{server.url}/v1/session", cookies={"steward_session": token_}, timeout=60)
    assert replay.status_code == 401
    ended = events(kb_rt, "session-ended")
    assert len(ended) == 1 and ended[0]["user_id"] == "cara"


def test_bad_sign_ins_are_refused_and_counted_like_bearer_failures(
    kb_home: Path, tmp_path: Path, make_runtime
) -> None:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    rt = make_runtime(home, auth_failures_max=2)
    with LiveServer(create_app(rt)) as server:
        url = f"{server.url}/v1/session"
        statuses = [
            httpx.post(url, json={"api_key": f"stw_wrong{i}"}, timeout=60).status_code
            for i in range(3)
        ]
        # A forged cookie counts against the same address too, and is refused.
        cookie = httpx.get(
            f"{server.url}/v1/session", cookies={"steward_session": "f" * 43}, timeout=60
        )
        no_oidc = httpx.post(url, json={"id_token": "a.b.c"}, timeout=60)
        both = httpx.post(url, json={"api_key": "stw_x", "id_token": "a.b.c"}, timeout=60)
    assert statuses == [401, 401, 429]
    assert cookie.status_code == 429
    assert no_oidc.status_code == 422 and both.status_code == 422  # keys only


def test_a_key_is_never_taken_as_a_session_cookie(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys_ = live_kb
    r = httpx.get(f"{server.url}/v1/session", cookies={"steward_session": keys_["ops"]}, timeout=60)
    assert r.status_code == 401


@pytest.fixture
def oidc_live(
    kb_home: Path,
    tmp_path: Path,
    make_runtime,
    jwks_file: Path,  # noqa: F811
) -> Iterator[tuple[LiveServer, Runtime]]:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    rt = make_runtime(home, oidc_jwks_file=jwks_file, oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    with LiveServer(create_app(rt)) as server:
        yield server, rt


def test_an_id_token_never_becomes_a_session_even_a_valid_one(
    oidc_live: tuple[LiveServer, Runtime],
    keys,  # noqa: F811
) -> None:
    """A leaked ID token would otherwise buy a session that outlives it (an outside review
    found one token turned into three 8-hour sessions): sessions come from keys and from the
    code flow (tests/test_oidc_signin.py) only. The token still works as a bearer credential
    until it expires."""
    server, rt = oidc_live
    good = token(keys["good"], sub="sam")
    r = httpx.post(f"{server.url}/v1/session", json={"id_token": good}, timeout=60)
    assert r.status_code == 422 and "steward_session" not in r.headers.get("set-cookie", "")
    assert events(rt, "session-started") == []
    bearer = httpx.post(
        f"{server.url}/v1/search",
        json=SEARCH,
        headers={"Authorization": f"Bearer {good}"},
        timeout=60,
    )
    assert bearer.status_code == 200


def test_session_lifecycle_on_each_engine(engine_rt: Runtime) -> None:
    """Start, resolve, idle-refresh and end through the service, on SQLite and PostgreSQL."""
    from steward.core.errors import AuthError
    from steward.identity.auth import create_key, principal_for
    from steward.identity.sessions import Sessions

    now = [datetime.now(UTC)]
    book = Sessions(engine_rt.store, engine_rt.settings.session, clock=lambda: now[0])
    key = create_key(engine_rt.store, "sam")
    started = book.start(principal_for(engine_rt.store, "sam", via="api-key"), api_key=key)
    assert started.token is not None
    # Used every 20 minutes, it outlives the 30-minute idle limit...
    for _ in range(3):
        now[0] += timedelta(minutes=20)
        assert book.resolve(started.token).principal.user_id == "sam"
    # ...but not 31 minutes without use, nor its lifetime.
    now[0] += timedelta(minutes=31)
    with pytest.raises(AuthError, match="without use"):
        book.resolve(started.token)
    other = book.start(principal_for(engine_rt.store, "sam"), api_key=key)
    assert other.token is not None
    now[0] += timedelta(hours=8, minutes=1)
    with pytest.raises(AuthError, match="expired"):
        book.resolve(other.token)
    last = book.start(principal_for(engine_rt.store, "sam"), api_key=key)
    assert last.token is not None
    book.end(book.resolve(last.token))
    with pytest.raises(AuthError, match="signed out"):
        book.resolve(last.token)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame elsewhere
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
    ],
)
def test_a_sign_in_from_another_sites_page_is_refused(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime, headers: dict[str, str]
) -> None:
    """Login CSRF: another site's page must not sign this browser in (as the attacker)."""
    server, keys_ = live_kb
    api = httpx.post(
        f"{server.url}/v1/session", json={"api_key": keys_["cara"]}, headers=headers, timeout=60
    )
    assert api.status_code == 403 and api.json()["error"]["code"] == "csrf_failed"
    assert "set-cookie" not in api.headers
    page = httpx.post(
        f"{server.url}/console/sign-in", data={"api_key": keys_["ops"]}, headers=headers, timeout=60
    )
    assert page.status_code == 403 and "another site" in page.text
    assert "set-cookie" not in page.headers
    assert events(kb_rt, "session-started") == []


def test_a_sign_in_from_this_servers_own_page_is_taken(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys_ = live_kb
    # Our pages send Referrer-Policy: no-referrer, so Chromium's own-page posts say Origin: null.
    for own in ({"Origin": server.url, "Sec-Fetch-Site": "same-origin"}, {"Origin": "null"}):
        _signs_in(server, keys_, own)


def _signs_in(server: LiveServer, keys_: dict[str, str], own: dict[str, str]) -> None:
    api = httpx.post(
        f"{server.url}/v1/session", json={"api_key": keys_["cara"]}, headers=own, timeout=60
    )
    assert api.status_code == 201, api.text
    page = httpx.post(
        f"{server.url}/console/sign-in", data={"api_key": keys_["ops"]}, headers=own, timeout=60
    )
    assert page.status_code == 303, page.text


def test_signing_in_again_ends_the_earlier_session(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys_ = live_kb
    client, _ = sign_in(server, keys_["cara"])
    first = client.cookies["steward_session"]
    again = client.post("/v1/session", json={"api_key": keys_["sam"]})
    assert again.status_code == 201 and again.json()["user_id"] == "sam"
    old = httpx.get(f"{server.url}/v1/session", cookies={"steward_session": first}, timeout=60)
    assert old.status_code == 401
    console = browser_like(server)
    console.cookies.set("steward_session", client.cookies["steward_session"])
    second = console.cookies["steward_session"]
    assert console.post("/console/sign-in", data={"api_key": keys_["ops"]}).status_code == 303
    gone = httpx.get(f"{server.url}/v1/session", cookies={"steward_session": second}, timeout=60)
    assert gone.status_code == 401
    assert [e["user_id"] for e in events(kb_rt, "session-ended")] == ["cara", "sam"]
