"""HTTP on a real socket: identity from the bearer key, roles, one error shape, OpenAPI."""

from __future__ import annotations

import httpx

from steward import audit


def post_ask(server, key: str | None, body: object, **headers: str) -> httpx.Response:
    h = {"Authorization": f"Bearer {key}"} if key else {}
    h.update(headers)
    return httpx.post(f"{server.url}/v1/ask", json=body, headers=h, timeout=60)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == resp.headers["X-Request-ID"]
    return body["error"]


def test_ask_answers_with_citations_for_the_keys_user(live_kb) -> None:
    server, keys = live_kb
    r = post_ask(server, keys["cara"], {"question": "How much is the monthly maintenance fee?"})
    assert r.status_code == 200
    body = r.json()
    assert body["action"] == "answer"
    assert "$12" in body["answer"]
    assert body["citations"][0]["doc_id"] == "pub-fees"
    assert set(body) == {
        "action",
        "answer",
        "citations",
        "confidence",
        "escalation_reason",
        "reason",
        "audit_id",
        "latency_ms",
        "conversation_id",
        "ticket_id",
    }


def test_the_key_decides_what_can_be_seen(live_kb) -> None:
    server, keys = live_kb
    q = {"question": "What is the marketing budget for next year?"}
    assert "$7.3 million" in post_ask(server, keys["fin"], q).json()["answer"]
    denied = post_ask(server, keys["sam"], q).json()
    assert denied["action"] == "abstain"
    assert "7.3" not in denied["answer"]


def test_missing_malformed_and_invalid_keys_are_401(live_kb) -> None:
    server, _ = live_kb
    q = {"question": "How much is the monthly fee?"}
    assert_error(post_ask(server, None, q), 401, "unauthorized")
    assert_error(post_ask(server, None, q, Authorization="Basic abc"), 401, "unauthorized")
    err = assert_error(post_ask(server, "stw_not-a-real-key", q), 401, "unauthorized")
    assert err["message"] == "Invalid API key."
    assert post_ask(server, None, q).headers["WWW-Authenticate"] == "Bearer"


def test_revoked_key_stops_working_at_once(live_kb, kb_rt) -> None:
    from steward.identity.auth import list_keys, revoke_key

    server, keys = live_kb
    q = {"question": "How much is the monthly fee?"}
    assert post_ask(server, keys["cara"], q).status_code == 200
    key_id = list_keys(kb_rt.store, "cara")[0].id
    revoke_key(kb_rt.store, key_id)
    err = assert_error(post_ask(server, keys["cara"], q), 401, "unauthorized")
    assert "revoked" in err["message"]


def test_bad_questions_are_4xx_and_write_nothing(live_kb, kb_rt) -> None:
    server, keys = live_kb
    before = audit.count(kb_rt.store)
    assert_error(post_ask(server, keys["cara"], {"question": ""}), 422, "invalid_request")
    assert_error(
        post_ask(server, keys["cara"], {"question": "x" * 100_000}), 422, "invalid_request"
    )
    assert_error(post_ask(server, keys["cara"], {"question": "   "}), 422, "invalid_request")
    # Characters that print as nothing are no question either (they were read as a hidden
    # instruction and refused with 200).
    for blank in ("\u200b\u200c\u2060", "\ufeff\u00a0\u3164", "\u034f\u115f", "\u00ad\u180e"):
        refused = post_ask(server, keys["cara"], {"question": blank})
        assert_error(refused, 422, "invalid_request")
        assert "no visible characters" in refused.json()["error"]["message"]
    assert_error(post_ask(server, keys["cara"], {"q": "typo"}), 422, "invalid_request")
    assert_error(post_ask(server, keys["cara"], {"question": 42}), 422, "invalid_request")
    raw = httpx.post(
        f"{server.url}/v1/ask",
        content=b"{not json",
        headers={"Authorization": f"Bearer {keys['cara']}", "Content-Type": "application/json"},
    )
    assert_error(raw, 422, "invalid_request")
    assert audit.count(kb_rt.store) == before


def test_audit_record_is_for_operators_only(live_kb) -> None:
    server, keys = live_kb
    asked = post_ask(server, keys["cara"], {"question": "How much is the monthly fee?"}).json()
    url = f"{server.url}/v1/audit/{asked['audit_id']}"
    assert_error(
        httpx.get(url, headers={"Authorization": f"Bearer {keys['cara']}"}), 403, "forbidden"
    )
    assert_error(httpx.get(url), 401, "unauthorized")
    ok = httpx.get(url, headers={"Authorization": f"Bearer {keys['ops']}"})
    assert ok.status_code == 200
    row = ok.json()
    assert row["id"] == asked["audit_id"]
    assert row["user_id"] == "cara"
    assert row["action"] == asked["action"]
    assert row["citations"][0]["doc_id"] == "pub-fees"
    missing = httpx.get(
        f"{server.url}/v1/audit/01NOTANID", headers={"Authorization": f"Bearer {keys['ops']}"}
    )
    assert_error(missing, 404, "not_found")


def test_health_and_openapi(live_kb) -> None:
    server, _ = live_kb
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["status"] == "ok"
    assert health["kb_version"] >= 1
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/ask", "/v1/audit/{audit_id}", "/healthz"} <= set(spec["paths"])
    schema = spec["paths"]["/v1/ask"]["post"]["responses"]["200"]["content"]
    assert "AskResponse" in str(schema)


def test_unknown_route_uses_the_error_shape(live_kb) -> None:
    server, _ = live_kb
    assert_error(httpx.get(f"{server.url}/v1/nothing-here"), 404, "not_found")
