"""Sign-in at the identity provider by the authorization code flow with PKCE, state and nonce,
against a real provider on loopback (tests/idp.py): it signs the right person in, and a code
sent by someone else (login CSRF), an injected or misaddressed ID token, a refusal, a dead
provider, a stale sign-in and an open redirect all start nothing. Real HTTP throughout."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from steward import audit
from steward.config.settings import Settings
from steward.guard import load_or_create_key
from steward.identity import oidc
from steward.identity.directory import deactivate_user
from steward.identity.sessions import COOKIE
from steward.runtime import Runtime
from steward.web.app import create_app
from tests.conftest import LiveServer
from tests.idp import CLIENT_ID, CLIENT_SECRET, ISSUER, Provider
from tests.test_identity import jwks_file, keys  # noqa: F401

Site = tuple[LiveServer, Provider, Runtime]


@pytest.fixture
def site(
    kb_home: Path,
    tmp_path: Path,
    make_runtime: object,
    keys: dict,  # noqa: F811
    jwks_file: Path,  # noqa: F811
) -> Iterator[Site]:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    idp = Provider(keys["good"])
    with LiveServer(idp.app()) as provider:
        rt: Runtime = make_runtime(  # type: ignore[operator]
            home,
            oidc_jwks_file=jwks_file,
            oidc_issuer=ISSUER,
            oidc_audience=CLIENT_ID,
            oidc_authorize_url=f"{provider.url}/authorize",
            oidc_token_url=f"{provider.url}/token",
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
        )
        with LiveServer(create_app(rt)) as server:
            yield server, idp, rt


def browser() -> httpx.Client:
    return httpx.Client(timeout=60, follow_redirects=False)


def to_provider(client: httpx.Client, server: LiveServer, next_path: str | None = None) -> str:
    """Start a sign-in; returns where the provider sends the browser back (the callback URL)."""
    params = {"next": next_path} if next_path is not None else {}
    r = client.get(f"{server.url}/console/oidc/start", params=params)
    assert r.status_code == 303, r.text
    back = client.get(r.headers["location"])
    assert back.status_code == 302, back.text
    return back.headers["location"]


def landed(r: httpx.Response) -> str:
    """Where the signed-in page's refresh goes."""
    m = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', r.text)
    assert m, r.text[:500]
    return m.group(1)


def sessions_started(rt: Runtime) -> list[dict]:
    return [e for e in audit.export(rt.store) if e["kind"] == "session-started"]


def test_the_code_flow_signs_in_with_pkce_state_and_nonce(site: Site) -> None:
    server, idp, rt = site
    with browser() as client:
        callback = to_provider(client, server)
        (asked,) = idp.authorize_requests
        assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
        assert asked["code_challenge_method"] == "S256" and "openid" in asked["scope"].split()
        assert asked["redirect_uri"] == f"{server.url}/console/oidc/callback"
        assert len(asked["state"]) >= 40 and len(asked["nonce"]) >= 40
        assert callback.startswith(asked["redirect_uri"] + "?")
        r = client.get(callback)
        assert r.status_code == 200, r.text
        assert landed(r) == "/console"  # an operator lands on the dashboard
        assert r.cookies.get(COOKIE)
        # The code went back with the verifier whose S256 hash was the challenge, and the
        # client's secret by HTTP Basic; the provider checked both (else no ID token).
        (sent,) = idp.token_requests
        digest = hashlib.sha256(sent["code_verifier"].encode()).digest()
        assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == asked["code_challenge"]
        assert sent["authorization"].startswith("Basic ")
        assert CLIENT_SECRET not in callback and CLIENT_SECRET not in r.text
        page = client.get(f"{server.url}/console")
        assert page.status_code == 200 and "Op Erator" in page.text
        who = client.get(f"{server.url}/v1/session").json()
        assert who["user_id"] == "ops" and who["access"] == "operator"
        # The pending sign-in is gone from the browser: the same answer cannot be used again.
        again = client.get(callback)
        assert again.status_code == 400
        # Signing in again as the same person keeps the session (a page elsewhere that
        # starts a sign-in cannot end it or its CSRF token).
        csrf = who["csrf_token"]
        assert client.get(to_provider(client, server)).status_code == 200
        assert client.get(f"{server.url}/v1/session").json()["csrf_token"] == csrf
        (started,) = sessions_started(rt)
        assert started["payload"]["via"] == "oidc"
        # The directory still decides: deactivating the user ends the session at once.
        deactivate_user(rt.store, "ops", actor="test")
        assert client.get(f"{server.url}/v1/session").status_code == 401


def test_a_next_page_on_this_server_is_kept_and_any_other_is_ignored(site: Site) -> None:
    server, idp, _rt = site
    idp.user = "cara"  # a customer: the chat page is hers
    for asked, expected in (
        ("/", "/"),
        ("//evil.example/x", "/console"),
        ("https://evil.example/", "/console"),
        ("/\\evil.example", "/console"),
    ):
        with browser() as client:
            r = client.get(to_provider(client, server, asked))
            assert r.status_code == 200, r.text
            assert landed(r) == expected, asked


def test_a_code_sent_by_someone_else_signs_no_one_in_and_cancels_nothing(site: Site) -> None:
    """Login CSRF: the attacker signs in at the provider as themselves and sends the victim
    the callback link; the victim's browser never started that sign-in. Nor can such a link
    (or a forged `?error=`) cancel the sign-in the victim has under way."""
    server, idp, rt = site
    idp.user = "fin"
    with browser() as attacker:
        link = to_provider(attacker, server)
    with browser() as victim:
        r = victim.get(link)  # no sign-in of its own
        assert r.status_code == 400 and COOKIE not in r.cookies
        assert "not started in this browser" in r.text
        idp.user = "cara"
        own = to_provider(victim, server)  # its own sign-in, then the attacker's answer
        assert victim.get(link).status_code == 400
        forged = f"{server.url}/console/oidc/callback?error=access_denied&state=made-up"
        assert victim.get(forged).status_code == 400
        assert victim.get(f"{server.url}/v1/session").status_code == 401
        r = victim.get(own)  # still completes
        assert r.status_code == 200 and landed(r) == "/console"
        assert victim.get(f"{server.url}/v1/session").json()["user_id"] == "cara"
    assert [e["user_id"] for e in sessions_started(rt)] == ["cara"]


def test_two_tabs_signing_in_at_once_both_finish(site: Site) -> None:
    server, _idp, _rt = site
    with browser() as client:
        first = to_provider(client, server, "/")
        second = to_provider(client, server, "/console/audit")
        assert landed(client.get(second)) == "/console/audit"
        assert landed(client.get(first)) == "/"


def test_failed_sign_ins_are_counted_and_throttled(
    site: Site,
    make_runtime: object,
    jwks_file: Path,  # noqa: F811
) -> None:
    _server, idp, rt = site
    idp.nonce = "from-another-sign-in"
    with LiveServer(create_app(_with(rt, make_runtime, jwks_file, auth_failures_max=2))) as tight:
        statuses = []
        for _ in range(4):
            with browser() as client:
                statuses.append(client.get(to_provider(client, tight)).status_code)
    assert statuses == [401, 401, 429, 429]


def _with(rt: Runtime, make_runtime: object, jwks: Path, **overrides: object) -> Runtime:
    """Another runtime on the same store and provider, with ``overrides``."""
    s = rt.settings.session
    options: dict[str, object] = {
        "oidc_jwks_file": jwks, "oidc_issuer": ISSUER, "oidc_audience": CLIENT_ID,
        "oidc_authorize_url": s.oidc_authorize_url, "oidc_token_url": s.oidc_token_url,
        "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
    }  # fmt: skip
    return make_runtime(rt.settings.home, **{**options, **overrides})  # type: ignore[operator, no-any-return]


def test_a_user_id_no_directory_could_hold_is_refused(site: Site) -> None:
    server, idp, rt = site
    for odd in ("cust-lena ", "cara\u200b", " cara", "cara\n"):
        idp.user = odd
        with browser() as client:
            r = client.get(to_provider(client, server))
            assert r.status_code == 401 and "not a valid user id" in r.text, repr(odd)
    assert sessions_started(rt) == []


def test_off_loopback_the_callback_address_is_never_taken_from_the_host_header(
    site: Site,
) -> None:
    server, idp, _rt = site
    r = httpx.get(f"{server.url}/console/oidc/start", headers={"Host": "evil.example"}, timeout=60)
    assert r.status_code == 500 and "STEWARD_OIDC_REDIRECT_URL" in r.text
    assert "location" not in r.headers and idp.authorize_requests == []


@pytest.mark.parametrize(
    ("change", "status", "said"),
    [
        ({"nonce": "a-nonce-from-another-sign-in"}, 401, "nonce"),
        ({"audience": "another-client"}, 401, "audience"),
        ({"refuse": "access_denied"}, 401, "did not sign you in (access_denied)"),
    ],
)
def test_an_injected_misaddressed_or_refused_sign_in_starts_nothing(
    site: Site, change: dict, status: int, said: str
) -> None:
    server, idp, rt = site
    for k, v in change.items():
        setattr(idp, k, v)
    with browser() as client:
        r = client.get(to_provider(client, server))
        assert r.status_code == status and said in r.text, r.text[:400]
        assert COOKIE not in r.cookies
    assert sessions_started(rt) == []


def test_a_deactivated_user_a_dead_provider_and_a_stale_sign_in_are_refused(
    site: Site,
    make_runtime: object,
    jwks_file: Path,  # noqa: F811
) -> None:
    server, idp, rt = site
    deactivate_user(rt.store, "ops", actor="test")
    with browser() as client:
        r = client.get(to_provider(client, server))
        assert r.status_code == 401 and "no longer active" in r.text
    # A sign-in cookie older than ten minutes (signed with the server's key, as the server
    # would have), and one whose content the browser changed.
    with browser() as client:
        callback = to_provider(client, server)
        (name,) = [c for c in client.cookies if c.startswith("steward_oidc_")]
        raw = client.cookies[name]
        body = raw.rpartition(".")[0]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        key = oidc.pending_key(load_or_create_key(rt.settings.key_file))
        stale = oidc.Pending(**{**data, "started": int(time.time()) - 601}).encode(key)
        client.cookies.set(name, stale)
        r = client.get(callback)
        assert r.status_code == 400 and "longer than ten minutes" in r.text
        later = oidc.Pending(**{**data, "started": int(time.time()) + 10**7})
        client.cookies.set(name, later.encode(b"not the server's key"))
        r = client.get(callback)
        assert r.status_code == 400 and "damaged" in r.text
    # The token endpoint does not answer: 502 and a clear page, not a 500.
    dead = LiveServer(idp.app())  # bound, never started: the connection is refused
    dead.sock.close()
    rt2 = _with(rt, make_runtime, jwks_file, oidc_token_url=f"{dead.url}/token")
    with LiveServer(create_app(rt2)) as other, browser() as client:
        r = client.get(to_provider(client, other))
        assert r.status_code == 502 and "did not answer" in r.text
    assert sessions_started(rt) == []


def test_without_a_provider_configured_there_is_no_such_sign_in(
    live_kb: tuple[LiveServer, dict[str, str]],
) -> None:
    server, _keys = live_kb
    r = httpx.get(f"{server.url}/console/oidc/start", timeout=60)
    assert r.status_code == 404 and "not configured" in r.text
    page = httpx.get(f"{server.url}/console/sign-in", timeout=60).text
    assert "identity provider" not in page.lower().replace("sign in to the console", "")
    options = httpx.get(f"{server.url}/v1/sign-in-options", timeout=60).json()
    assert options == {"identity_provider_url": None}


@pytest.mark.parametrize(
    "url", ["http://idp.example.com/authorize", "ftp://idp/x", "https://idp/x#frag", "idp"]
)
def test_an_endpoint_that_is_not_https_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(oidc_authorize_url=url)
