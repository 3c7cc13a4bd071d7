"""The outside review's Low findings (issue #16), each over the real edge that showed it: HTTP on
a socket, the CLI as a process."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from steward.guard.vault import new_vault_key_file
from steward.identity.auth import create_key
from steward.runtime import Runtime
from steward.store.models import Ticket, User
from steward.web.app import create_app
from tests.conftest import LiveServer, run_cli

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    return str(body["error"]["message"])


# ------------------------------------------------------------------ the ticket queue


def test_ticket_queue_checks_status_honours_limit_and_lists_open_work_first(live_kb, kb_rt) -> None:
    server, keys = live_kb
    with kb_rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == "nora").values(access="reviewer"))
    questions = [
        "My attorney will sue you over these fees.",  # legal, p2
        "Someone used my card for purchases I never made!",  # fraud, p1
        "My lawyer is preparing a lawsuit about my account.",  # legal, p2
    ]
    ids = [
        httpx.post(
            f"{server.url}/v1/ask", json={"question": q}, headers=auth(keys["cara"]), timeout=60
        ).json()["ticket_id"]
        for q in questions
    ]
    assert all(ids)
    with kb_rt.store.write() as (s, _):  # the most urgent one is done
        s.execute(update(Ticket).where(Ticket.id == ids[1]).values(status="resolved"))
    url = f"{server.url}/v1/tickets"
    bogus = httpx.get(url, params={"status": "bogus"}, headers=auth(keys["nora"]))
    assert "status" in assert_error(bogus, 422)
    for bad in ("0", "100000", "x"):
        assert_error(httpx.get(url, params={"limit": bad}, headers=auth(keys["nora"])), 422)
    listed = httpx.get(url, headers=auth(keys["nora"])).json()
    assert [t["id"] for t in listed] == [ids[0], ids[2], ids[1]]  # open first, resolved last
    two = httpx.get(url, params={"limit": 2}, headers=auth(keys["nora"])).json()
    assert [t["id"] for t in two] == [ids[0], ids[2]]
    done = httpx.get(url, params={"status": "resolved"}, headers=auth(keys["nora"])).json()
    assert [t["id"] for t in done] == [ids[1]]


# ------------------------------------------------------------------ reveal is no oracle


@pytest.fixture
def vault_server(kb_home: Path, tmp_path: Path, make_runtime):
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    key = tmp_path / "vault.key"
    new_vault_key_file(key)
    rt: Runtime = make_runtime(home, vault_key_file=key)
    keys = {u: create_key(rt.store, u) for u in ("cara", "sam")}
    with LiveServer(create_app(rt)) as server:
        yield server, keys, rt


def test_reveal_of_someone_elses_token_answers_like_a_missing_one(vault_server) -> None:
    from steward import audit

    server, keys, rt = vault_server
    asked = httpx.post(
        f"{server.url}/v1/ask",
        json={"question": "Call me on +1-206-555-0188 about the fee"},
        headers=auth(keys["cara"]),
        timeout=60,
    ).json()
    token = next(
        t for t in audit.get(rt.store, asked["audit_id"]).question.split() if "<PHONE_" in t
    )
    missing = "<PHONE_999999>"

    def reveal(tok: str) -> httpx.Response:
        return httpx.post(
            f"{server.url}/v1/reveal", json={"token": tok}, headers=auth(keys["sam"]), timeout=30
        )

    theirs, absent = reveal(token), reveal(missing)
    assert theirs.status_code == absent.status_code == 403
    a, b = theirs.json()["error"], absent.json()["error"]
    assert (a["code"], a["message"].replace(token, "T")) == (
        b["code"],
        b["message"].replace(missing, "T"),
    )
    assert "0188" not in theirs.text


# ------------------------------------------------------------------ the CLI


def test_audit_export_to_a_missing_folder_is_one_line_and_status_2(
    kb_home: Path, tmp_path: Path, model_cache: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    r = run_cli(
        "audit",
        "export",
        str(tmp_path / "missing-dir" / "x.jsonl"),
        home=home,
        model_cache=model_cache,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing-dir" in lines[0]
    assert "Error:" not in lines[0] and "FileNotFoundError" not in lines[0]


def test_policy_show_for_an_unknown_center_names_the_known_ones(
    kb_home: Path, tmp_path: Path, model_cache: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    r = run_cli("policy", "show", "--center", "nowhere", home=home, model_cache=model_cache)
    assert r.returncode == 2
    assert "nowhere" in r.stderr and "north, south" in r.stderr
    ok = run_cli("policy", "show", "--center", "north", home=home, model_cache=model_cache)
    assert ok.returncode == 0, ok.stderr
    # Read as an operator reads it: lists comma-separated, "none" for nothing; no Python
    # tuples, empty brackets or None.
    reasons = next(line for line in ok.stdout.splitlines() if "escalation_reasons" in line)
    assert "fraud, " in reasons and "(" not in reasons and "'" not in reasons
    assert "None" not in ok.stdout and "()" not in ok.stdout and "{}" not in ok.stdout


def test_a_misspelled_policy_file_name_is_an_error(
    kb_home: Path, tmp_path: Path, model_cache: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "default.yaml").write_text("answer_threshold: 0.5\n")
    (policies / "nroth.yaml").write_text("answer_threshold: 0.9\n")  # meant north
    env = {"STEWARD_POLICY_DIR": str(policies)}
    r = run_cli("policy", "show", home=home, model_cache=model_cache, extra_env=env)
    assert r.returncode == 2
    assert "nroth.yaml" in r.stderr and "north, south" in r.stderr
    (policies / "nroth.yaml").rename(policies / "north.yaml")
    ok = run_cli(
        "policy", "show", "--center", "north", home=home, model_cache=model_cache, extra_env=env
    )
    assert ok.returncode == 0 and "0.9" in ok.stdout


# ------------------------------------------------------------------ HTTP edge


def test_openapi_declares_the_bearer_scheme_and_401_keeps_the_error_shape(live_kb) -> None:
    server, _ = live_kb
    spec = httpx.get(f"{server.url}/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    (name,) = schemes
    ask_op = spec["paths"]["/v1/ask"]["post"]
    assert {name: []} in ask_op["security"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    r = httpx.post(f"{server.url}/v1/ask", json={"question": "fees?"})
    assert_error(r, 401)
    assert r.headers["WWW-Authenticate"] == "Bearer"
    basic = httpx.post(
        f"{server.url}/v1/ask", json={"question": "fees?"}, headers={"Authorization": "Basic eDp5"}
    )
    assert_error(basic, 401)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/healthz"),
        ("post", "/v1/ask"),
        ("get", "/nowhere"),
        ("get", "/static/chat.js"),
        ("get", "/openapi.json"),
    ],
)
def test_every_response_carries_the_security_headers(live_kb, method: str, path: str) -> None:
    server, _ = live_kb
    r = httpx.request(method, f"{server.url}{path}", json={} if method == "post" else None)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (path, name)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_the_chat_page_runs_no_inline_code(live_kb) -> None:
    server, _ = live_kb
    page = httpx.get(f"{server.url}/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text and "<style>" not in page.text
    js = httpx.get(f"{server.url}/static/chat.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert_error(httpx.get(f"{server.url}/static/secret.key"), 404)


def test_invalid_json_says_where_it_breaks(live_kb) -> None:
    server, keys = live_kb
    r = httpx.post(
        f"{server.url}/v1/ask",
        content=b'{"question": "fee?",}',
        headers={**auth(keys["cara"]), "Content-Type": "application/json"},
    )
    message = assert_error(r, 422)
    assert message == "The request body is not valid JSON (line 1, column 21)."
    assert "decode" not in message
    # The fifth outside review: bytes that are not UTF-8, and JSON nested 50,000 deep, were a
    # 400 "There was an error parsing the body".
    for body in (b'{"question": "\xff\xfe fee?"}', b"[" * 50_000 + b"]" * 50_000):
        r = httpx.post(
            f"{server.url}/v1/ask",
            content=body,
            headers={**auth(keys["cara"]), "Content-Type": "application/json"},
        )
        assert assert_error(r, 422).startswith("The request body is not valid JSON")


def test_errors_echo_only_a_short_prefix_of_what_was_sent(live_kb) -> None:
    server, keys = live_kb
    long_id = "X" * 100_000
    conv = httpx.post(
        f"{server.url}/v1/ask",
        json={"question": "fees?", "conversation_id": long_id},
        headers=auth(keys["cara"]),
        timeout=60,
    )
    assert conv.status_code in (404, 422) and len(conv.text) < 500
    for path in (f"/v1/conversations/{long_id[:5000]}", f"/v1/tickets/{long_id[:5000]}"):
        r = httpx.get(f"{server.url}{path}", headers=auth(keys["ops"]))
        assert r.status_code in (403, 404) and len(r.text) < 500, path


def test_a_customer_never_sees_a_masked_values_number(live_kb, kb_rt) -> None:
    """Found by the outside review: token numbers are store-wide, so a customer who typed
    someone else's card saw an existing number (<CARD_6>) where a new card gets a new one:
    an oracle for "this card is known here". Customers see the kind; staff keep the number."""
    server, keys = live_kb
    card = "4539 1488 0343 6541"
    staff = httpx.post(
        f"{server.url}/v1/ask",
        json={"question": f"Customer says card {card} was declined, why?"},
        headers=auth(keys["sam"]),
        timeout=60,
    ).json()
    asked = httpx.post(
        f"{server.url}/v1/ask",
        json={"question": f"Is my card {card} covered by the travel insurance?"},
        headers=auth(keys["cara"]),
        timeout=60,
    ).json()
    conv = httpx.get(
        f"{server.url}/v1/conversations/{asked['conversation_id']}", headers=auth(keys["cara"])
    ).json()
    seen = " ".join(t["text"] for t in conv["turns"]) + asked["answer"]
    assert "<CARD>" in seen and "<CARD_" not in seen and "6541" not in seen
    staff_conv = httpx.get(
        f"{server.url}/v1/conversations/{staff['conversation_id']}", headers=auth(keys["sam"])
    ).json()
    assert "<CARD_" in staff_conv["turns"][0]["text"]  # staff follow one card by its number


def test_a_body_that_repeats_a_key_is_refused(live_kb) -> None:
    """The eighth outside review: '{"question": "late fee?", "question": "x"}' was answered,
    the last value silently winning. Refused before any question is asked or audited; a key
    that is not a field name is not echoed; one key each is answered as before."""
    server, keys = live_kb
    headers = {**auth(keys["cara"]), "Content-Type": "application/json"}
    r = httpx.post(
        f"{server.url}/v1/ask",
        content=b'{"question": "How much is the monthly maintenance fee?", "question": "x"}',
        headers=headers,
    )
    assert assert_error(r, 422) == (
        "The request body repeats 'question' in one object; send each key once."
    )
    nested = b'{"question": "fee?", "x": {"4111 1111 1111 1111": 1, "4111 1111 1111 1111": 2}}'
    r = httpx.post(f"{server.url}/v1/ask", content=nested, headers=headers)
    message = assert_error(r, 422)
    assert "4111" not in message and "a key" in message
    ok = httpx.post(
        f"{server.url}/v1/ask",
        content=b'{"question": "How much is the monthly maintenance fee on my account?"}',
        headers=headers,
    )
    assert ok.status_code == 200 and "$12" in ok.json()["answer"]
