"""Actions over real HTTP (uvicorn on 127.0.0.1), the `steward tools`/`steward actions` command
line as real processes, and the review queue's approval forms: role checks, a customer held to
their own actions, the Idempotency-Key replay executing once, confirmations and approvals bound
to the exact call, four eyes, bad input refused in the one error shape, and the public JWKS
that verifies the asker assertion a tool receives."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from steward.identity.auth import create_key
from steward.identity.directory import import_directory
from steward.models.embeddings import MiniLMEmbedder
from steward.runtime import Runtime
from steward.web.app import create_app
from tests import action_tools
from tests.conftest import LiveServer, run_cli, settings_for

DIRECTORY = """\
organization: Test Bank
centers: [north, south]
groups:
  - {id: customers, external: true}
  - {id: staff}
users:
  - {id: cust-a, groups: [customers], center: north, role: customer}
  - {id: cust-b, groups: [customers], center: north, role: customer}
  - {id: rep-1, groups: [staff], center: north, role: service_representative}
  - {id: rev-1, groups: [staff], center: north, role: supervisor, access: reviewer}
  - {id: rev-2, groups: [staff], center: north, role: supervisor, access: reviewer}
  - {id: rev-s, groups: [staff], center: south, role: supervisor, access: reviewer}
  - {id: ops-1, groups: [staff], center: null, role: operator, access: operator}
"""

TOOLS = """\
tools:
  - name: freeze_card
    description: Freeze a card.
    risk: low
    mode: auto
    subject: customer
    arguments:
      type: object
      properties: {customer: {type: string}, last4: {type: string, pattern: "^[0-9]{4}$"}}
      required: [customer, last4]
      additionalProperties: false
    executor: {python: "tests.action_tools:run"}
  - name: change_address
    description: Change the postal address.
    risk: low
    subject: customer
    summary: "Change the address of {customer} to {address}"
    arguments:
      type: object
      properties: {customer: {type: string}, address: {type: string, maxLength: 200}}
      required: [customer, address]
      additionalProperties: false
    executor: {python: "tests.action_tools:run"}
  - name: close_account
    description: Close an account.
    risk: high
    subject: customer
    summary: "Close account {account} of {customer}"
    arguments:
      type: object
      properties: {customer: {type: string}, account: {type: string, maxLength: 40}}
      required: [customer, account]
      additionalProperties: false
    executor: {python: "tests.action_tools:run"}
"""
USERS = ("cust-a", "cust-b", "rep-1", "rev-1", "rev-2", "rev-s", "ops-1")
IBAN = "DE89370400440532013000"
WRONG_HASH = "0" * 64


@dataclass
class Bank:
    server: LiveServer
    keys: dict[str, str]
    rt: Runtime
    home: Path
    tools_file: Path

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {self.keys[user]}"
        return httpx.request(
            method, f"{self.server.url}{path}", headers=headers, timeout=60, **kwargs
        )

    def propose(self, user: str, tool: str, arguments: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.call(
            user, "POST", "/v1/actions", json={"tool": tool, "arguments": arguments}, **kw
        )


@pytest.fixture(scope="module")
def bank(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, embedder: MiniLMEmbedder
) -> Iterator[Bank]:
    """One store with the directory above and the tools file, served over real HTTP."""
    root = tmp_path_factory.mktemp("actions-api")
    (root / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    tools_file = root / "tools.yaml"
    tools_file.write_text(TOOLS, encoding="utf-8")
    home = root / "home"
    rt = Runtime(settings_for(home, model_cache, tools_file=tools_file), embedder=embedder)
    import_directory(rt.store, root / "directory.yaml")
    keys = {u: create_key(rt.store, u) for u in USERS}
    with LiveServer(create_app(rt)) as server:
        yield Bank(server, keys, rt, home, tools_file)
    rt.close()


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    """The one JSON error shape, with the expected status."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"] and body["error"]["code"]
    return body["error"]  # type: ignore[no-any-return]


def _created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- tools and reading


def test_tools_are_listed_with_their_modes_per_center(bank: Bank) -> None:
    r = bank.call("cust-a", "GET", "/v1/tools")
    assert r.status_code == 200, r.text
    tools = {t["name"]: t for t in r.json()["tools"]}
    assert set(tools) == {"freeze_card", "change_address", "close_account"}
    assert tools["freeze_card"]["modes"]["north"] == "auto"
    assert tools["change_address"]["modes"]["north"] == "confirm"
    assert tools["close_account"]["modes"]["south"] == "propose"
    assert tools["close_account"]["dual_control"] is True
    assert bank.call(None, "GET", "/v1/tools").status_code == 401


def test_a_customer_sees_only_their_own_actions(bank: Bank) -> None:
    mine = _created(bank.propose("cust-a", "change_address", {"address": "1 Elm Street"}))
    # A customer acts for themselves: the subject is filled in, never taken from elsewhere.
    assert mine["subject"] == "cust-a" and mine["status"] == "awaiting-confirmation"
    other = _created(bank.propose("cust-b", "change_address", {"address": "2 Oak Street"}))

    listed = bank.call("cust-a", "GET", "/v1/actions").json()["actions"]
    assert mine["id"] in [a["id"] for a in listed]
    # Their own, and what staff did for them: nothing of another customer's.
    assert all("cust-a" in (a["requested_by"], a["subject"]) for a in listed)
    assert other["id"] not in [a["id"] for a in listed]
    # Another customer's action is not found (not "forbidden": its existence stays hidden).
    for method, path, body in (
        ("GET", f"/v1/actions/{other['id']}", None),
        ("POST", f"/v1/actions/{other['id']}/confirm", {"call_hash": other["call_hash"]}),
        ("POST", f"/v1/actions/{other['id']}/reject", {"reason": "not mine"}),
    ):
        _error(bank.call("cust-a", method, path, json=body), 404)
    assert bank.call("cust-b", "GET", f"/v1/actions/{other['id']}").json()["status"] == (
        "awaiting-confirmation"
    )
    assert action_tools.executions(other["id"]) == []


def test_a_customer_cannot_act_on_another_customers_account(bank: Bank) -> None:
    forged = _created(
        bank.propose("cust-a", "freeze_card", {"customer": "cust-b", "last4": "4321"})
    )
    assert forged["status"] == "denied"
    assert "customers-act-only-for-themselves" in forged["rule"]
    assert action_tools.executions(forged["id"]) == []
    # Not shown to the customer it named: it was never done for them.
    _error(bank.call("cust-b", "GET", f"/v1/actions/{forged['id']}"), 404)
    listed = bank.call("cust-b", "GET", "/v1/actions").json()["actions"]
    assert forged["id"] not in [a["id"] for a in listed]


def test_a_reviewer_sees_their_centers_actions_and_no_other(bank: Bank) -> None:
    north = _created(
        bank.propose("rep-1", "close_account", {"customer": "cust-a", "account": IBAN})
    )
    assert north["status"] == "awaiting-approval" and north["approvals_needed"] == 2
    # Stored and shown masked to everyone but the asker, whose summary is their own words.
    assert IBAN not in str(north["arguments"]) and IBAN in north["summary"]
    as_reviewer = bank.call("rev-2", "GET", f"/v1/actions/{north['id']}")
    assert as_reviewer.status_code == 200
    assert IBAN not in as_reviewer.text and "<IBAN_" in as_reviewer.json()["summary"]
    seen = bank.call("rev-2", "GET", "/v1/actions?status=awaiting-approval").json()["actions"]
    assert north["id"] in [a["id"] for a in seen]
    assert {a["status"] for a in seen} == {"awaiting-approval"}
    # A reviewer of another center neither lists, reads nor approves it.
    south = bank.call("rev-s", "GET", "/v1/actions").json()["actions"]
    assert north["id"] not in [a["id"] for a in south]
    _error(bank.call("rev-s", "GET", f"/v1/actions/{north['id']}"), 404)
    approve = {"call_hash": north["call_hash"]}
    _error(bank.call("rev-s", "POST", f"/v1/actions/{north['id']}/approve", json=approve), 404)
    # Operators see every center's.
    everyone = bank.call("ops-1", "GET", "/v1/actions?limit=500").json()["actions"]
    assert north["id"] in [a["id"] for a in everyone]


# ---------------------------------------------------------------------------- changing


def test_confirmation_is_bound_to_the_exact_call(bank: Bank) -> None:
    a = _created(bank.propose("cust-a", "change_address", {"address": "7 Birch Road"}))
    # The asker's own summary shows their own values: it is what they confirm.
    assert a["summary"] == "Change the address of cust-a to 7 Birch Road"
    path = f"/v1/actions/{a['id']}/confirm"
    _error(bank.call("cust-a", "POST", path, json={"call_hash": WRONG_HASH}), 409)
    assert bank.call("cust-a", "GET", f"/v1/actions/{a['id']}").json()["status"] == (
        "awaiting-confirmation"
    )
    assert action_tools.executions(a["id"]) == []
    # Only the asker confirms, even a reviewer who can read it.
    staff = _created(
        bank.propose("rep-1", "change_address", {"customer": "cust-b", "address": "3 Ash Lane"})
    )
    _error(
        bank.call(
            "rev-1",
            "POST",
            f"/v1/actions/{staff['id']}/confirm",
            json={"call_hash": staff["call_hash"]},
        ),
        403,
    )
    done = bank.call("cust-a", "POST", path, json={"call_hash": a["call_hash"]})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "executed"
    assert len(action_tools.executions(a["id"])) == 1
    # Confirming again changes nothing and runs nothing.
    _error(bank.call("cust-a", "POST", path, json={"call_hash": a["call_hash"]}), 409)
    assert len(action_tools.executions(a["id"])) == 1


def test_approval_needs_two_other_reviewers_bound_to_the_call(bank: Bank) -> None:
    a = _created(bank.propose("rev-1", "close_account", {"customer": "cust-b", "account": IBAN}))
    assert a["status"] == "awaiting-approval" and a["approvals_needed"] == 2
    path = f"/v1/actions/{a['id']}/approve"
    good = {"call_hash": a["call_hash"], "note": "checked"}
    # Customers and agents hold no approval right; the proposer may not approve their own.
    for user in ("cust-b", "rep-1"):
        _error(bank.call(user, "POST", path, json=good), 403)
    assert "Four eyes" in _error(bank.call("rev-1", "POST", path, json=good), 403)["message"]
    # An approval for another call does not apply.
    _error(bank.call("rev-2", "POST", path, json={"call_hash": WRONG_HASH}), 409)
    first = bank.call("rev-2", "POST", path, json=good)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "awaiting-approval"
    assert [x["approver"] for x in first.json()["approvals"]] == ["rev-2"]
    # The same person twice is not two approvers.
    _error(bank.call("rev-2", "POST", path, json=good), 409)
    assert action_tools.executions(a["id"]) == []
    second = bank.call("ops-1", "POST", path, json=good)
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "executed"
    runs = action_tools.executions(a["id"])
    assert len(runs) == 1 and runs[0].arguments == {"customer": "cust-b", "account": IBAN}
    # The customer acted on reads it too: where it stands, not who approved or their notes.
    theirs = bank.call("cust-b", "GET", f"/v1/actions/{a['id']}")
    assert theirs.status_code == 200, theirs.text
    assert [x["approver"] for x in theirs.json()["approvals"]] == [None, None]
    assert theirs.json()["requested_by"] == "staff" and theirs.json()["decision"] == {}
    listed = bank.call("cust-b", "GET", "/v1/actions")
    assert listed.status_code == 200 and a["id"] in [x["id"] for x in listed.json()["actions"]]


def test_a_reviewer_rejects_and_nothing_runs(bank: Bank) -> None:
    a = _created(bank.propose("rep-1", "close_account", {"customer": "cust-a", "account": "x1"}))
    path = f"/v1/actions/{a['id']}/reject"
    _error(bank.call("cust-a", "POST", path, json={"reason": "no"}), 403)
    r = bank.call("rev-1", "POST", path, json={"reason": "the customer called back"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    approve = {"call_hash": a["call_hash"]}
    _error(bank.call("rev-2", "POST", f"/v1/actions/{a['id']}/approve", json=approve), 409)
    assert action_tools.executions(a["id"]) == []


def test_only_operators_resume(bank: Bank) -> None:
    for user in ("cust-a", "rep-1", "rev-1"):
        _error(bank.call(user, "POST", "/v1/actions/resume"), 403)
    r = bank.call("ops-1", "POST", "/v1/actions/resume")
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"ran", "retried", "handed_to_person", "compensated"}


def test_the_same_idempotency_key_executes_once(bank: Bank) -> None:
    args = {"last4": "1234"}
    first = bank.propose("cust-a", "freeze_card", args, headers={"Idempotency-Key": "freeze:1"})
    a = _created(first)
    assert a["status"] == "executed" and a["replayed"] is False
    again = bank.propose("cust-a", "freeze_card", args, headers={"Idempotency-Key": "freeze:1"})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == a["id"] and again.json()["replayed"] is True
    # The same key with another call is a client's mistake, not a replay: 409, nothing runs.
    other = bank.propose(
        "cust-a", "freeze_card", {"last4": "9999"}, headers={"Idempotency-Key": "freeze:1"}
    )
    assert other.status_code == 409 and "another call" in other.json()["error"]["message"]
    assert len(action_tools.executions(a["id"])) == 1
    # A key is the asker's own: another customer's same key is their own new call, never a
    # way to read the first customer's action.
    theirs = _created(
        bank.propose("cust-b", "freeze_card", args, headers={"Idempotency-Key": "freeze:1"})
    )
    assert theirs["id"] != a["id"] and theirs["requested_by"] == "cust-b"
    # Without a key, each request is a new call.
    b = _created(bank.propose("cust-a", "freeze_card", args))
    c = _created(bank.propose("cust-a", "freeze_card", args))
    assert len({a["id"], b["id"], c["id"]}) == 3


# ---------------------------------------------------------------------------- bad input

SOME_ID = "01JAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/v1/actions", {"tool": "freeze_card", "arguments": {}, "extra": 1}, {}, 422),
        ("POST", "/v1/actions", {"tool": "freeze_card", "arguments": ["x"]}, {}, 422),
        ("POST", "/v1/actions", {"tool": 7, "arguments": {}}, {}, 422),
        ("POST", "/v1/actions", {"tool": "Freeze Card!", "arguments": {}}, {}, 422),
        ("POST", "/v1/actions", {"tool": "freeze_card", "source": "document"}, {}, 422),
        ("POST", "/v1/actions", {"tool": "freeze_card", "arguments": {"a": "x" * 17_000}}, {}, 422),
        ("POST", "/v1/actions", {"tool": "freeze_card", "arguments": {"last4": "12ab"}}, {}, 400),
        ("POST", "/v1/actions", {"tool": "no_such_tool", "arguments": {}}, {}, 404),
        ("POST", "/v1/actions", {"tool": "freeze_card"}, {"Idempotency-Key": "has space"}, 400),
        ("POST", "/v1/actions", {"tool": "freeze_card"}, {"Idempotency-Key": "k" * 129}, 400),
        ("GET", "/v1/actions/not-a-ulid", None, {}, 422),
        ("GET", "/v1/actions/01jaaaaaaaaaaaaaaaaaaaaaaa", None, {}, 422),
        ("GET", "/v1/actions/81JAAAAAAAAAAAAAAAAAAAAAAA", None, {}, 422),
        ("GET", f"/v1/actions/{SOME_ID}", None, {}, 404),
        ("GET", "/v1/actions?status=done", None, {}, 422),
        ("GET", "/v1/actions?limit=0", None, {}, 422),
        ("POST", f"/v1/actions/{SOME_ID}/confirm", {"call_hash": "abc"}, {}, 422),
        ("POST", f"/v1/actions/{SOME_ID}/confirm", {"call_hash": "A" * 64}, {}, 422),
        ("POST", f"/v1/actions/{SOME_ID}/confirm", {}, {}, 422),
        ("POST", f"/v1/actions/{SOME_ID}/reject", {"reason": "   "}, {}, 422),
        ("POST", f"/v1/actions/{SOME_ID}/reject", {"reason": "x", "force": True}, {}, 422),
    ],
)
def test_bad_input_is_refused_in_the_error_shape(
    bank: Bank,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    status: int,
) -> None:
    before = len(action_tools.CALLS)
    _error(bank.call("rev-1", method, path, json=body, headers=headers), status)
    assert len(action_tools.CALLS) == before


def test_a_huge_body_is_refused_before_it_is_read(bank: Bank) -> None:
    huge = {"tool": "freeze_card", "arguments": {"a": "x" * 2_000_000}}
    _error(bank.call("cust-a", "POST", "/v1/actions", json=huge), 413)


# ---------------------------------------------------------------------------- the public key


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jwks_is_public_and_verifies_the_assertion_a_tool_receives(bank: Bank) -> None:
    r = bank.call(None, "GET", "/v1/actions/jwks.json")
    assert r.status_code == 200, r.text
    (key,) = r.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    public = Ed25519PublicKey.from_public_bytes(_b64(key["x"]))  # 32 bytes, or it raises
    # Only the key is public: actions still need credentials.
    _error(bank.call(None, "GET", "/v1/actions"), 401)
    a = _created(bank.propose("cust-a", "freeze_card", {"last4": "5555"}))
    (received,) = action_tools.executions(a["id"])
    assert jwt.get_unverified_header(received.token)["kid"] == key["kid"]
    claims = jwt.decode(received.token, public, algorithms=["EdDSA"], audience="steward-python")
    assert (claims["sub"], claims["jti"], claims["call"]) == ("cust-a", a["id"], a["call_hash"])
    assert claims["customer"] == "cust-a" and claims["act"] == {"sub": "steward"}
    # A token signed by any other key does not verify against it.
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, public, algorithms=["EdDSA"], audience="steward-python")


# ---------------------------------------------------------------------------- the command line


def _cli(bank: Bank, *args: str, model_cache: Path, key: str | None = None) -> Any:
    env = {"STEWARD_TOOLS_FILE": str(bank.tools_file)}
    if key is not None:
        env["STEWARD_ACTOR_KEY"] = key
    return run_cli(*args, home=bank.home, model_cache=model_cache, extra_env=env)


def test_cli_lists_tools_and_actions_as_json(bank: Bank, model_cache: Path) -> None:
    mine = _created(bank.propose("cust-b", "change_address", {"address": "9 Pine Road"}))
    staff = _created(
        bank.propose("rep-1", "change_address", {"customer": "cust-a", "address": "4 Fir Road"})
    )
    tools = _cli(bank, "tools", "list", "--json", model_cache=model_cache)
    assert tools.returncode == 0, tools.stderr
    listed = {t["name"]: t for t in json.loads(tools.stdout)["tools"]}
    assert listed["close_account"]["modes"]["north"] == "propose"
    # Acting as a customer (STEWARD_ACTOR_KEY): their own actions only, masked as over HTTP.
    own = _cli(bank, "actions", "list", "--json", model_cache=model_cache, key=bank.keys["cust-b"])
    assert own.returncode == 0, own.stderr
    actions = json.loads(own.stdout)["actions"]
    assert mine["id"] in [a["id"] for a in actions]
    assert all("cust-b" in (a["requested_by"], a["subject"]) for a in actions)
    assert staff["id"] not in [a["id"] for a in actions]
    # The local operator sees every action.
    every = _cli(
        bank,
        "actions",
        "list",
        "--json",
        "--status",
        "awaiting-confirmation",
        model_cache=model_cache,
    )
    assert every.returncode == 0, every.stderr
    shown = json.loads(every.stdout)["actions"]
    assert {mine["id"], staff["id"]} <= {a["id"] for a in shown}
    assert {a["status"] for a in shown} == {"awaiting-confirmation"}


@pytest.mark.parametrize(
    "args",
    [
        ("actions", "show", "not-an-id"),
        ("actions", "approve", SOME_ID, "--call-hash", "nothex"),
        ("actions", "list", "--status", "done"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    bank: Bank, model_cache: Path, args: tuple[str, ...]
) -> None:
    r = _cli(bank, *args, model_cache=model_cache, key=bank.keys["rev-1"])
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout


# ---------------------------------------------------------------------------- the review queue


@contextmanager
def _console(bank: Bank, user: str) -> Iterator[tuple[httpx.Client, str]]:
    """A browser-like client holding ``user``'s console session, and its CSRF token."""
    with httpx.Client(base_url=bank.server.url, timeout=60) as client:
        started = client.post("/v1/session", json={"api_key": bank.keys[user]})
        assert started.status_code == 201, started.text
        yield client, started.json()["csrf_token"]


def test_review_queue_lists_pending_actions_and_approves_them(bank: Bank) -> None:
    a = _created(bank.propose("rep-1", "close_account", {"customer": "cust-b", "account": IBAN}))
    with _console(bank, "rev-2") as (client, csrf):
        page = client.get("/console/review")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert f'id="action-{a["id"]}"' in text
        assert "Actions awaiting approval" in text and "0 of 2 approvals" in text
        assert "<IBAN_" in text and IBAN not in text  # the summary is masked
        assert a["call_hash"][:12] in text
        form = f"/console/review/actions/{a['id']}/approve"
        assert f'action="{form}"' in text
        # Without the session's CSRF token the form changes nothing.
        refused = client.post(form, data={"call_hash": a["call_hash"]})
        assert refused.status_code == 403
        assert bank.call("rev-2", "GET", f"/v1/actions/{a['id']}").json()["approvals"] == []
        # A form for another call is refused (the hash binds the approval).
        other = client.post(form, data={"csrf_token": csrf, "call_hash": WRONG_HASH})
        assert other.status_code == 409
        done = client.post(
            form, data={"csrf_token": csrf, "call_hash": a["call_hash"], "note": "looked fine"}
        )
        assert done.status_code == 303
        after = bank.call("rev-2", "GET", f"/v1/actions/{a['id']}").json()
        assert [(x["approver"], x["verdict"]) for x in after["approvals"]] == [("rev-2", "approve")]
        again = html.unescape(client.get("/console/review").text)
        assert "1 of 2 approvals" in again and "Approved so far by rev-2" in again
        assert f'action="{form}"' not in again  # one approval per person
    # The proposer's own page offers no approval; a customer gets no queue at all.
    with _console(bank, "rev-1") as (client, own_csrf):
        mine = _created(
            bank.propose("rev-1", "close_account", {"customer": "cust-a", "account": "x2"})
        )
        text = client.get("/console/review").text
        assert f'id="action-{mine["id"]}"' in text
        assert f'action="/console/review/actions/{mine["id"]}/approve"' not in text
        # But they may withdraw it from the queue.
        withdrawn = client.post(
            f"/console/review/actions/{mine['id']}/reject",
            data={"csrf_token": own_csrf, "reason": "asked by mistake"},
        )
        assert withdrawn.status_code == 303
        assert bank.call("rev-1", "GET", f"/v1/actions/{mine['id']}").json()["status"] == "rejected"
    with _console(bank, "cust-a") as (client, csrf):
        assert client.get("/console/review").status_code == 403
        posted = client.post(form, data={"csrf_token": csrf, "call_hash": a["call_hash"]})
        assert posted.status_code == 403
    assert len(bank.call("ops-1", "GET", f"/v1/actions/{a['id']}").json()["approvals"]) == 1


def test_hidden_characters_are_refused_and_never_reach_an_operators_terminal(
    bank: Bank, model_cache: Path
) -> None:
    """Text that would drive a terminal or reorder what a reviewer reads: refused in a call's
    arguments (400); stored text elsewhere is printed escaped by the CLI."""
    for address in ("\x1b[2K\rOK approved by rev-1", "9 Pine\u202eRoad", "9 Pine\x00Road"):
        r = bank.propose("cust-a", "change_address", {"address": address})
        assert r.status_code == 400 and "error" in r.json(), r.text
    from steward import audit

    row = audit.record(
        bank.rt.store,
        audit.AuditEvent(audit.Kind.ACCESS_DENIED, actor="cust-a", target="v1/actions",
                         decision="denied", reason="\x1b[2K\x1b[32mOK approved\x1b[0m"),
    )  # fmt: skip
    shown = _cli(bank, "audit", "show", row, model_cache=model_cache, key=bank.keys["ops-1"])
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\\x1b[2K" in shown.stdout


def test_a_field_name_the_client_chose_is_never_echoed(bank: Bank) -> None:
    """An e-mail address or an SSN sent as a field name: 4xx, and the name is not repeated."""
    for body in (
        {"tool": "freeze_card", "arguments": {"last4": "1234"}, "536-22-8471": 1},
        {"tool": "freeze_card", "arguments": {"last4": "1234", "lena.park@example.com": 1}},
    ):
        r = bank.call("cust-a", "POST", "/v1/actions", json=body)
        assert 400 <= r.status_code < 500, r.text
        assert "536-22" not in r.text and "lena.park" not in r.text, r.text


def test_a_newline_in_an_argument_forges_no_line_in_the_cli(bank: Bank, model_cache: Path) -> None:
    forged = "9 Pine Road\nstatus: executed\napprovals: 2 of 2 needed"
    a = _created(bank.propose("cust-a", "change_address", {"address": forged}))
    shown = _cli(bank, "actions", "show", a["id"], model_cache=model_cache,
                 key=bank.keys["cust-a"])  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert not any(line.startswith("status: executed") for line in shown.stdout.splitlines())
    assert "\\nstatus: executed" in shown.stdout
