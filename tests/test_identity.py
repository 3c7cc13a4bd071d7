"""Identity: OIDC/JWT validated offline against a JWKS file, API keys with rotation, roles,
anonymous access only to what is explicitly public. Every case is a real HTTP request."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from steward.identity.auth import create_key, list_keys, rotate_key
from steward.web.app import create_app
from tests.conftest import LiveServer

ISSUER = "https://idp.test/realms/bank"
AUDIENCE = "steward"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {"good": _rsa(), "rogue": _rsa()}


@pytest.fixture
def jwks_file(tmp_path: Path, keys) -> Path:
    jwk = json.loads(RSAAlgorithm.to_jwk(keys["good"].public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


def token(key, kid: str = "k1", **claims: object) -> str:
    """A signed RS256 token; a claim given as None is left out."""
    now = int(time.time())
    body: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "cara",
        "iat": now,
        "exp": now + 300,
        "groups": ["customers"],
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def oidc_server(
    kb_home: Path, tmp_path: Path, make_runtime, jwks_file: Path
) -> Iterator[LiveServer]:
    home = tmp_path / "h"
    shutil.copytree(kb_home, home)
    rt = make_runtime(
        home,
        oidc_jwks_file=jwks_file,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_roles_claim="roles",
        oidc_group_map={"cn=finance,ou=groups": "finance"},
    )
    with LiveServer(create_app(rt)) as server:
        yield server


def ask(server: LiveServer, credential: str | None, question: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return httpx.post(
        f"{server.url}/v1/ask", json={"question": question}, headers=headers, timeout=60
    )


BUDGET = "What is the marketing budget for next year?"


def test_valid_token_groups_decide_what_is_seen(oidc_server, keys) -> None:
    staff = token(keys["good"], sub="visitor-7", groups=["all_staff"])
    r = ask(oidc_server, staff, BUDGET)
    assert r.status_code == 200 and r.json()["action"] == "abstain"
    fin = token(keys["good"], sub="visitor-8", groups=["all_staff", "cn=finance,ou=groups"])
    r = ask(oidc_server, fin, BUDGET)
    assert r.status_code == 200 and "$7.3 million" in r.json()["answer"]


def test_token_groups_unknown_to_the_directory_grant_nothing(oidc_server, keys) -> None:
    r = ask(oidc_server, token(keys["good"], sub="x", groups=["finance-admins", "root"]), BUDGET)
    body = r.json()
    del body["latency_ms"]  # a number, which may well contain "7.3" itself
    assert body["action"] == "abstain" and "7.3" not in json.dumps(body)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"aud": "another-service"}, "audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"exp": None}, "rejected"),
        ({"sub": None}, "rejected"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
    ],
)
def test_bad_tokens_are_refused(oidc_server, keys, claims, message) -> None:
    r = ask(oidc_server, token(keys["good"], **claims), BUDGET)
    assert r.status_code == 401 and message in r.json()["error"]["message"]


def test_forged_and_unsigned_tokens_are_refused(oidc_server, keys) -> None:
    forged = token(keys["rogue"], groups=["finance"])
    r = ask(oidc_server, forged, BUDGET)
    assert r.status_code == 401
    unsigned = jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "fin",
            "iat": 1,
            "exp": int(time.time()) + 60,
            "groups": ["finance"],
        },
        key=None,
        algorithm="none",
        headers={"kid": "k1"},
    )
    assert ask(oidc_server, unsigned, BUDGET).status_code == 401
    hs = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "fin", "iat": 1, "exp": int(time.time()) + 60},
        "s" * 32,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    assert ask(oidc_server, hs, BUDGET).status_code == 401
    other_kid = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "fin", "iat": 1, "exp": int(time.time()) + 60},
        keys["good"],
        algorithm="RS256",
        headers={"kid": "k9"},
    )
    assert "unknown key" in ask(oidc_server, other_kid, BUDGET).json()["error"]["message"]


def test_clock_skew_is_allowed_within_the_leeway(oidc_server, keys) -> None:
    just_expired = token(keys["good"], exp=int(time.time()) - 5)
    assert ask(oidc_server, just_expired, "How much is the monthly fee?").status_code == 200


def test_inactive_directory_user_is_refused_even_with_a_valid_token(
    oidc_server, keys, tmp_path
) -> None:
    from sqlalchemy import update

    from steward.store.models import User

    rt = oidc_server.server.config.app.state.runtime
    with rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == "cara").values(active=False))
    r = ask(oidc_server, token(keys["good"], sub="cara"), "How much is the monthly fee?")
    assert r.status_code == 401 and "no longer active" in r.json()["error"]["message"]


def test_token_role_claim_gives_operator_access_only_when_claimed(oidc_server, keys) -> None:
    asked = ask(oidc_server, token(keys["good"]), "How much is the monthly fee?").json()
    url = f"{oidc_server.url}/v1/audit/{asked['audit_id']}"
    plain = token(keys["good"], sub="someone")
    assert httpx.get(url, headers={"Authorization": f"Bearer {plain}"}).status_code == 403
    op = token(keys["good"], sub="auditor-1", roles=["operator"])
    assert httpx.get(url, headers={"Authorization": f"Bearer {op}"}).status_code == 200


def test_jwt_without_oidc_configured_is_refused(live_kb, keys) -> None:
    server, _ = live_kb
    r = ask(server, token(keys["good"]), BUDGET)
    assert r.status_code == 401 and "no OIDC issuer" in r.json()["error"]["message"]


def test_rotated_key_keeps_working_only_through_its_grace(live_kb, kb_rt) -> None:
    from datetime import timedelta

    server, keys_by_user = live_kb
    old = keys_by_user["cara"]
    key_id = list_keys(kb_rt.store, "cara")[0].id
    new = rotate_key(kb_rt.store, key_id, timedelta(hours=1))
    assert ask(server, old, "How much is the monthly fee?").status_code == 200
    assert ask(server, new, "How much is the monthly fee?").status_code == 200
    newer = rotate_key(kb_rt.store, list_keys(kb_rt.store, "cara")[1].id)  # no grace
    assert ask(server, new, "monthly fee?").status_code == 401
    assert ask(server, newer, "monthly fee?").status_code == 200


def test_expired_key_is_refused(kb_rt) -> None:
    from datetime import UTC, datetime, timedelta

    from steward.core.errors import AuthError
    from steward.identity.auth import authenticate

    key = create_key(kb_rt.store, "cara", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(AuthError, match="expired"):
        authenticate(kb_rt.store, f"Bearer {key}")


def test_anonymous_reads_only_what_is_explicitly_public(tmp_path, make_runtime) -> None:
    from steward.identity.directory import import_directory
    from steward.knowledge.pipeline import sync
    from steward.knowledge.sources import load_sources
    from tests.kb import DOCS, write_kb

    docs = dict(DOCS)
    docs["pub-hours.md"] = (
        "---\nid: pub-hours\ntitle: Opening hours\nacl: [public]\n---\n"
        "Branches open at 9 AM on weekdays.\n"
    )
    sources = write_kb(tmp_path / "kb", docs)
    (tmp_path / "kb" / "directory.yaml").write_text(
        (tmp_path / "kb" / "directory.yaml")
        .read_text()
        .replace("groups:\n", "groups:\n  - {id: public, name: Public, external: true}\n", 1)
    )
    rt = make_runtime(tmp_path / "home", anonymous_group="public")
    import_directory(rt.store, tmp_path / "kb" / "directory.yaml")
    sync(rt, load_sources(sources))
    with LiveServer(create_app(rt)) as server:
        hours = ask(server, None, "When do branches open on weekdays?").json()
        assert hours["action"] == "answer" and "9 AM" in hours["answer"]
        fee = ask(server, None, "How much is the monthly maintenance fee?").json()
        assert fee["action"] == "abstain" and "$12" not in fee["answer"]
        r = httpx.get(f"{server.url}/v1/audit/{hours['audit_id']}")
        assert r.status_code == 403
