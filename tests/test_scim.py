"""SCIM 2.0 provisioning over real HTTP: an identity provider creates, updates and deactivates
users and keeps group membership in sync; every change is an audit event; errors take the SCIM
shape; only a holder of the provision permission may call it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from steward import audit
from steward.audit.events import Kind
from steward.identity.auth import create_key
from steward.identity.directory import UserSpec, create_user
from steward.runtime import Runtime
from steward.store.models import AuditRecord
from tests.conftest import LiveServer

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
STEWARD = "urn:ietf:params:scim:schemas:extension:steward:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Idp:
    """An identity provider's SCIM client: scim+json bodies, one bearer key."""

    def __init__(self, server: LiveServer, key: str) -> None:
        self.base = f"{server.url}/scim/v2"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": SCIM}

    def call(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        content = None if body is None else httpx.Request("POST", "/", json=body).content
        return httpx.request(
            method, self.base + path, content=content, headers=self.headers, params=params
        )


@pytest.fixture
def idp(live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime) -> Idp:
    create_user(
        kb_rt.store, UserSpec(id="scim-bot", access="admin"), actor="cli:admin", channel="cli"
    )
    server, _ = live_kb
    return Idp(server, create_key(kb_rt.store, "scim-bot"))


def kinds(rt: Runtime) -> list[str]:
    with rt.store.read() as s:
        rows = s.scalars(select(AuditRecord).where(AuditRecord.user_id == "scim-bot"))
        return [r.kind for r in rows]


def asks(server: LiveServer, key: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/search",
        json={"query": "marketing budget"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_user_create_update_and_deactivate_round_trip(
    idp: Idp, live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, _ = live_kb
    created = idp.call(
        "POST",
        "/Users",
        {
            "schemas": [USER],
            "userName": "dana@example.com",
            "name": {"givenName": "Dana", "familyName": "Diaz"},
            "emails": [{"value": "dana@example.com", "primary": True}],  # accepted, not kept
            "title": "analyst",
            STEWARD: {"center": "north"},
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith(SCIM)
    body = created.json()
    assert (body["id"], body["displayName"], body["active"]) == (
        "dana@example.com",
        "Dana Diaz",
        True,
    )
    assert body[STEWARD] == {"center": "north", "access": "asker"}
    assert created.headers["location"].endswith("/scim/v2/Users/dana@example.com")
    key = create_key(kb_rt.store, "dana@example.com")
    assert asks(server, key).status_code == 200

    found = idp.call("GET", "/Users", filter='userName eq "dana@example.com"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == "dana@example.com"
    assert idp.call("GET", "/Users", filter='userName eq "nobody-here"').json()["totalResults"] == 0
    everyone = idp.call("GET", "/Users", count="2", startIndex="3").json()
    assert (everyone["totalResults"], everyone["itemsPerPage"], everyone["startIndex"]) == (
        9,
        2,
        3,
    )

    replaced = idp.call(
        "PUT",
        "/Users/dana@example.com",
        {
            "schemas": [USER],
            "userName": "dana@example.com",
            "displayName": "Dana D.",
            STEWARD: {"access": "reviewer"},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()[STEWARD] == {"center": None, "access": "reviewer"}
    assert replaced.json()["title"] == ""  # PUT replaces: what is absent is cleared

    patch = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    off = idp.call("PATCH", "/Users/dana@example.com", patch)
    assert off.status_code == 200 and off.json()["active"] is False
    assert asks(server, key).status_code == 401  # the next request is refused

    on = idp.call(
        "PATCH",
        "/Users/dana@example.com",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "value": {"active": True, "displayName": "Dana Diaz"}}
            ],
        },
    )
    assert on.json()["active"] is True and on.json()["displayName"] == "Dana Diaz"
    assert asks(server, key).status_code == 200

    gone = idp.call("DELETE", "/Users/dana@example.com")
    assert gone.status_code == 204
    assert asks(server, key).status_code == 401
    assert idp.call("GET", "/Users/dana@example.com").json()["active"] is False

    assert kinds(kb_rt) == [
        Kind.USER_CREATED,
        Kind.USER_UPDATED,
        Kind.USER_DEACTIVATED,
        Kind.USER_REACTIVATED,
        Kind.USER_DEACTIVATED,
    ]
    with kb_rt.store.read() as s:
        targets = set(
            s.scalars(select(AuditRecord.target).where(AuditRecord.user_id == "scim-bot"))
        )
    assert len(targets) == 1 and "dana" not in next(iter(targets))  # an e-mail id is a digest
    assert audit.verify(kb_rt.store).ok


def test_group_membership_is_kept_in_sync(
    idp: Idp, live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys = live_kb
    budget = {"question": "What is the marketing budget for next year?"}
    fin = {"Authorization": f"Bearer {keys['fin']}"}
    assert (
        "7.3 million"
        in httpx.post(f"{server.url}/v1/ask", json=budget, headers=fin, timeout=60).text
    )
    removed = idp.call(
        "PATCH",
        "/Groups/finance",
        {"schemas": [PATCH], "Operations": [{"op": "remove", "path": 'members[value eq "fin"]'}]},
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["members"] == []
    after = httpx.post(f"{server.url}/v1/ask", json=budget, headers=fin, timeout=60).json()
    assert after["action"] == "abstain" and "7.3" not in after["answer"]

    created = idp.call(
        "POST", "/Groups", {"displayName": "auditors", "members": [{"value": "sam"}]}
    )
    assert created.status_code == 201, created.text
    added = idp.call(
        "PATCH",
        "/Groups/auditors",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "nora"}, {"value": "solo"}]}
            ],
        },
    )
    assert sorted(m["value"] for m in added.json()["members"]) == ["nora", "sam", "solo"]
    put = idp.call(
        "PUT", "/Groups/auditors", {"displayName": "Auditors", "members": [{"value": "sam"}]}
    )
    assert put.json()["displayName"] == "Auditors"
    assert [m["value"] for m in put.json()["members"]] == ["sam"]
    sam = idp.call("GET", "/Users/sam").json()
    assert {g["value"] for g in sam["groups"]} == {"all_staff", "auditors"}
    listed = idp.call(
        "GET", "/Groups", filter='displayName eq "Auditors"', excludedAttributes="members"
    ).json()
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    assert idp.call("DELETE", "/Groups/auditors").status_code == 204
    assert idp.call("GET", "/Groups/auditors").status_code == 404
    assert kinds(kb_rt) == [
        Kind.GROUP_UPDATED,
        Kind.GROUP_CREATED,
        Kind.GROUP_UPDATED,
        Kind.GROUP_UPDATED,
        Kind.GROUP_DELETED,
    ]


def scim_error(r: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(SCIM)
    body = r.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type and body["detail"]


def test_bad_input_is_refused_in_the_scim_error_shape(idp: Idp, kb_rt: Runtime) -> None:
    bad_json = httpx.post(idp.base + "/Users", content=b"{nope", headers=idp.headers)
    scim_error(bad_json, 400, "invalidSyntax")
    scim_error(idp.call("POST", "/Users", {"displayName": "No user name"}), 400, "invalidValue")
    scim_error(idp.call("POST", "/Users", {"userName": "bad name!"}), 400, "invalidValue")
    scim_error(
        idp.call("POST", "/Users", {"userName": "x", STEWARD: {"access": "root"}}),
        400,
        "invalidValue",
    )
    scim_error(idp.call("POST", "/Users", {"userName": "sam"}), 409, "uniqueness")
    scim_error(idp.call("GET", "/Users", filter='emails co "x"'), 400, "invalidFilter")
    scim_error(idp.call("GET", "/Users/ghost"), 404)
    bad_op = {"schemas": [PATCH], "Operations": [{"op": "move", "path": "active", "value": False}]}
    scim_error(idp.call("PATCH", "/Users/sam", bad_op), 400, "invalidValue")
    bad_active = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "active", "value": "maybe"}],
    }
    scim_error(idp.call("PATCH", "/Users/sam", bad_active), 400, "invalidValue")
    rename = {"schemas": [USER], "userName": "samuel"}
    scim_error(idp.call("PUT", "/Users/sam", rename), 400, "mutability")
    bad_path = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "owners", "value": []}]}
    scim_error(idp.call("PATCH", "/Groups/finance", bad_path), 400, "invalidPath")
    ghost = {
        "schemas": [PATCH],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": "ghost"}]}],
    }
    scim_error(idp.call("PATCH", "/Groups/finance", ghost), 400, "invalidValue")
    scim_error(httpx.get(idp.base + "/Users"), 401)
    assert kinds(kb_rt) == []  # nothing was changed, so nothing was recorded


def test_a_non_admin_is_refused_and_the_attempt_is_audited(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> None:
    server, keys = live_kb
    operator = Idp(server, keys["ops"])
    r = operator.call("POST", "/Users", {"userName": "mallory", STEWARD: {"access": "admin"}})
    scim_error(r, 403)
    scim_error(operator.call("GET", "/Users"), 403)
    with kb_rt.store.read() as s:
        denied = list(
            s.scalars(select(AuditRecord).where(AuditRecord.kind == str(Kind.ACCESS_DENIED)))
        )
    assert [(d.user_id, d.target) for d in denied] == [
        ("ops", "/scim/v2/users"),
        ("ops", "/scim/v2/users"),
    ]
    assert all(d.payload and d.payload["permission"] == "provision" for d in denied)
    with kb_rt.store.read() as s:
        assert s.scalars(select(AuditRecord).where(AuditRecord.kind == "user-created")).all() == []


@pytest.mark.parametrize(
    "name", ["Ana\u202eziuR", "Line\nBreak", "Nul\x00Name", "Zero\u200bWidth", "Par\u2029a", "   "]
)
def test_a_display_name_with_control_characters_is_refused(idp: Idp, name: str) -> None:
    """The sixth outside review: a right-to-left override or a line break lets one name pass
    for another on a page or in a log line."""
    created = idp.call(
        "POST", "/Users", {"schemas": [USER], "userName": "spoof", "displayName": name}
    )
    assert created.status_code == 400 and created.json()["schemas"] == [ERROR]
    detail = created.json()["detail"]
    assert "control characters" in detail or "blank" in detail
    assert idp.call("GET", "/Users/spoof").status_code == 404


def test_a_group_name_with_control_characters_is_refused(idp: Idp) -> None:
    created = idp.call("POST", "/Groups", {"displayName": "grp\u202e\nx"})
    assert created.status_code == 400 and created.json()["schemas"] == [ERROR]


def test_a_persian_name_with_its_joiner_is_kept(idp: Idp) -> None:
    name = "Ma\u200cryam Zare\u200ci"  # the zero-width non-joiner Persian writing needs
    created = idp.call(
        "POST", "/Users", {"schemas": [USER], "userName": "maryam", "displayName": name}
    )
    assert created.status_code == 201 and created.json()["displayName"] == name
