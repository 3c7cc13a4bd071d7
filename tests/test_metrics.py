"""`GET /metrics`: every family an operator's dashboards and alerts read, parsed by
prometheus-client's own parser after traffic full of personal data; no label ever holds what
an asker typed or who they are; operators only; exact counts across several workers."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from steward.observability import metrics
from tests.conftest import LiveServer
from tests.test_serve import _key, _serve, _stop, _workers_ready

FAMILIES = {
    "steward_http_requests",
    "steward_http_request_duration_seconds",
    "steward_question_duration_seconds",
    "steward_stage_duration_seconds",
    "steward_decisions",
    "steward_cache_requests",
    "steward_provider_calls",
    "steward_provider_tokens",
    "steward_provider_call_duration_seconds",
    "steward_ingest_runs",
    "steward_ingest_items",
    "steward_ingest_lag_seconds",
    "steward_review_queue_depth",
    "steward_review_queue_oldest_age_seconds",
    "steward_alerts_firing",
    "steward_switches_active",
}

CARD = "4111 1111 1111 1111"
EMAIL = "lena.park@example.com"
NAME = "Lena Park"
SSN = "123-45-6789"
PHONE = "+1-206-555-0142"
QUESTIONS = [
    f"My card {CARD} was charged twice, can you refund it?",
    f"Please send the claim form to {EMAIL}",
    f"I am {NAME}, how do I file a claim for water damage?",
    f"My SSN is {SSN}; is my policy still active?",
    f"Call me at {PHONE} about my deductible, user cust-lena",
    "How do I file a claim?",  # twice: the second comes from the answer cache
    "How do I file a claim?",
]
PERSONAL = [CARD, CARD.replace(" ", ""), EMAIL, NAME, "Lena", "Park", SSN, "6789", PHONE, "0142"]
USERS = ["cust-lena", "cust-omar", "agent-rita", "ops-admin"]


def _scrape(url: str, key: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        # Without the `_created` timestamps of single-process counters: values here count.
        f.name: [
            ({**s.labels, "__name__": s.name}, s.value)
            for s in f.samples
            if not s.name.endswith("_created")
        ]
        for f in text_string_to_metric_families(r.text)
    }


def _traffic(url: str, keys: dict[str, str]) -> None:
    """Questions full of personal values, paths and headers carrying them too."""
    for i, q in enumerate(QUESTIONS):
        who = ("cust-lena", "cust-omar", "agent-rita")[i % 3] if i < 5 else "cust-omar"
        r = httpx.post(
            f"{url}/v1/ask",
            json={"question": q},
            headers={"Authorization": f"Bearer {keys[who]}", "X-Request-ID": f"{SSN} {EMAIL}"},
            timeout=120,
        )
        assert r.status_code == 200, r.text
    lena = {"Authorization": f"Bearer {keys['cust-lena']}"}
    # Paths someone typed: an unknown one, and a real route with a card number as its id.
    assert httpx.get(f"{url}/{EMAIL}/{CARD}", headers=lena, timeout=30).status_code == 404
    httpx.get(f"{url}/v1/tickets/{CARD.replace(' ', '')}", headers=lena, timeout=30)
    httpx.get(f"{url}/v1/ask?q={NAME}", headers=lena, timeout=30)  # a method not allowed
    httpx.post(f"{url}/v1/ask", json={"question": ""}, headers=lena, timeout=30)  # bad input


def test_every_family_is_there_and_no_label_holds_personal_data(
    live_demo: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_demo
    _traffic(server.url, keys)
    families = _scrape(server.url, keys["ops-admin"])
    assert set(families) >= FAMILIES, FAMILIES - set(families)

    values = {v for samples in families.values() for labels, _ in samples for v in labels.values()}
    for value in values:
        for secret in [*PERSONAL, *USERS]:
            assert secret.lower() not in value.lower(), (secret, value)
        assert value not in QUESTIONS, value
    # Unmatched paths are one label, matched ones their template, never the typed segment.
    routes = {labels["route"] for labels, _ in families["steward_http_requests"]}
    assert "other" in routes and "/v1/ask" in routes
    assert all(r == "other" or (r.startswith("/") and "@" not in r) for r in routes), routes

    def total(family: str, **want: str) -> float:
        return sum(
            v for labels, v in families[family] if all(labels.get(k) == w for k, w in want.items())
        )

    assert total("steward_decisions") >= len(QUESTIONS)
    # Centers are directory ids (this process's counters also hold the other test stores':
    # north and south, and the Meridian corpus's east), never anything the askers typed.
    assert {labels["center"] for labels, _ in families["steward_decisions"]} <= {
        "seattle",
        "tampa",
        "north",
        "south",
        "east",
        "none",
        "other",
    }
    assert total("steward_cache_requests", result="exact") >= 1
    assert total("steward_provider_calls", provider="extractive", outcome="ok") >= 1
    count = "steward_question_duration_seconds_count"
    assert total("steward_question_duration_seconds", __name__=count, channel="api") >= len(
        QUESTIONS
    )
    stages = {labels["stage"] for labels, _ in families["steward_stage_duration_seconds"]}
    assert {"guard", "understand", "retrieve", "answer", "verify", "audit"} <= stages
    # The store's gauges: the demo's sources were synced, nothing waits in the empty queues.
    assert total("steward_ingest_runs", status="ok") >= 1
    assert total("steward_review_queue_depth", queue="review") == 0
    assert {labels["queue"] for labels, _ in families["steward_review_queue_depth"]} == {
        "tickets",
        "review",
    }


def test_metrics_are_for_operators(live_demo: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = live_demo
    r = httpx.get(f"{server.url}/metrics", timeout=30)
    assert r.status_code == 401
    assert r.json()["error"]["code"]
    for asker in ("cust-lena", "agent-rita"):
        r = httpx.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {keys[asker]}"}, timeout=30
        )
        assert r.status_code == 403, asker
    bad = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer stw_nope"})
    assert bad.status_code == 401


def test_a_label_is_never_free_text() -> None:
    """The helpers map whatever they are given onto their bounded sets."""
    assert metrics.word("answer") == "answer"
    assert metrics.word(f"card {CARD}") == "other"
    assert metrics.word(EMAIL) == "other"
    assert metrics.name(None) == "none"
    assert metrics.name(f"{NAME}") == "other"  # a space: not a configured name
    assert metrics.decision_reason("policy:north@7:threshold", None) == "threshold"
    assert metrics.decision_reason("cache.exact+streamed", None) == "cache.exact"
    assert metrics.decision_reason("x", "fraud") == "fraud"
    assert metrics.decision_reason("x", f"fraud {SSN}") == "other"
    assert metrics.decision_reason(f"policy:p@1:{EMAIL}", None) == "other"


def test_several_workers_count_every_request_once(
    kb_home: Path, tmp_path: Path, model_cache: Path, embedder: object
) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    asker = _key(home, model_cache, embedder, "cara")
    operator = _key(home, model_cache, embedder, "ops")
    stale = home / "metrics"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"\0" * 64)  # an earlier run's file: wiped at start
    proc, port = _serve(home, model_cache, "--workers", "2")
    try:
        assert proc.stdout is not None
        assert "2 workers" in proc.stdout.readline()
        printed = _workers_ready(proc, 2)
        url = f"http://127.0.0.1:{port}"
        n = 9
        for _ in range(n):
            try:
                r = httpx.post(
                    f"{url}/v1/ask",
                    json={"question": "How much does an international wire cost?"},
                    headers={"Authorization": f"Bearer {asker}"},
                    timeout=120,
                )
            except httpx.ConnectError:
                pytest.fail(f"exit {proc.poll()}; the server printed:\n" + "".join(printed))
            assert r.status_code == 200, r.text
        # A new connection each time: the kernel hands it to either worker.
        for _ in range(6):
            families = _scrape(url, operator)
            asks = [
                v
                for labels, v in families["steward_http_requests"]
                if labels["route"] == "/v1/ask" and labels["method"] == "POST"
            ]
            assert asks == [n]
            assert sum(v for _, v in families["steward_decisions"]) == n
        # The workers counted into files of their own (multiprocess mode), in a fresh directory.
        files = {p.name for p in (home / "metrics").glob("*.db")}
        assert files and "counter_1.db" not in files
    finally:
        _stop(proc)


def test_metrics_bind_serves_the_scrape_without_credentials(kb_rt: object) -> None:
    from steward.runtime import Runtime
    from steward.web.metrics import serve_unauthenticated, url_of

    rt: Runtime = kb_rt  # type: ignore[assignment]
    server = serve_unauthenticated("127.0.0.1:0", rt.store)
    try:
        r = httpx.get(url_of(server), timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert r.status_code == 200
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"steward_ingest_runs", "steward_http_requests", "steward_review_queue_depth"} <= names
