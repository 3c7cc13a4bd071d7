"""Limits (#16, point 4): body size before reading and before authentication, chat size, rate
limits per key, user and center shared by replicas, failed logins counted, logged and throttled.
All over real HTTP on loopback, except the engine test of the counters themselves."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from steward.cli.core import proxy_options
from steward.config.settings import LimitsSettings
from steward.core.errors import RateLimited
from steward.identity.auth import Principal, create_key
from steward.identity.limits import RateLimiter
from steward.runtime import Runtime
from steward.store import open_store
from steward.web.app import create_app
from tests.conftest import LiveServer

MB = 1024 * 1024
HOUR, DAY = 3600, 86_400
WINDOW_START = (time.time() // DAY) * DAY + 1.0  # a second into today (UTC)


class Deployment:
    """The test knowledge base (a private copy), a key per user, and replicas served over
    HTTP with the given settings; every replica shares the one store."""

    def __init__(self, home: Path, make_runtime: Any, stack: ExitStack) -> None:
        self.home, self._make, self._stack = home, make_runtime, stack
        self.keys: dict[str, str] = {}

    def __call__(
        self, server_options: dict[str, Any] | None = None, **overrides: object
    ) -> tuple[LiveServer, dict[str, str]]:
        rt: Runtime = self._make(self.home, **overrides)
        if not self.keys:
            self.keys.update({u: create_key(rt.store, u) for u in ("cara", "sam", "nora", "solo")})
        app = create_app(rt)
        # Counters count in fixed windows aligned to the epoch: every replica's limiter reads
        # one clock that stands a second into a day, so no window ends during a test.
        app.state.limiter.clock = lambda: WINDOW_START
        live = LiveServer(app, **(server_options or {}))
        return self._stack.enter_context(live), self.keys

    def new_key(self, user: str) -> str:
        store = open_store(f"sqlite:///{self.home / 'steward.db'}")
        try:
            return create_key(store, user)
        finally:
            store.dispose()


@pytest.fixture
def serve(kb_home: Path, tmp_path: Path, make_runtime: Any) -> Iterator[Deployment]:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    with ExitStack() as stack:
        yield Deployment(home, make_runtime, stack)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error_shape(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == r.headers["x-request-id"]
    return error


def rss_bytes() -> int:
    """Resident memory of this process: LiveServer runs uvicorn in a thread of it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


# ------------------------------------------------------------------ body size


def raw_request(server: LiveServer, head: str) -> tuple[int, dict[str, str], bytes]:
    """Send only a request's head on a socket and read the whole response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode("ascii"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_a_declared_200_mb_body_is_refused_unread_and_before_authentication(
    serve: Deployment,
) -> None:
    server, _ = serve()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {200 * MB}\r\n\r\n"
    )
    # No body is sent and no credentials: the answer is 413 (not 401), from the head alone.
    status, headers, body = raw_request(server, head)
    assert status == 413
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large"
    assert error["request_id"] == headers["x-request-id"]
    assert "1,048,576 bytes" in error["message"]


def test_a_streamed_200_mb_body_raises_server_memory_by_under_20_mb(serve: Deployment) -> None:
    server, keys = serve()
    block = b"x" * MB  # one buffer, sent 200 times: the client holds 1 MB, not 200
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(200):
            sent += len(block)
            yield block

    with httpx.Client(timeout=30) as client:
        client.get(f"{server.url}/healthz")  # warm the server's code paths first
        before = rss_bytes()
        # Chunked (no Content-Length), authenticated: counted as it arrives.
        try:
            r = client.post(
                f"{server.url}/v1/chat/completions", content=body(), headers=bearer(keys["cara"])
            )
            assert_error_shape(r, 413, "payload_too_large")
        except httpx.TransportError:
            pass  # the server closed mid-upload before the client read its 413: also refused
        grown = rss_bytes() - before
    assert grown < 20 * MB, f"resident memory grew by {grown / MB:.1f} MB"
    assert sent < 200 * MB  # the server stopped receiving: the upload did not finish


def test_an_authenticated_body_over_the_limit_is_413_and_one_under_it_is_read(
    serve: Deployment,
) -> None:
    server, keys = serve(max_body_bytes=4096)
    url = f"{server.url}/v1/chat/completions"
    big = {"model": "steward", "messages": [{"role": "user", "content": "fee? " * 2000}]}
    r = httpx.post(url, json=big, headers=bearer(keys["cara"]))
    assert_error_shape(r, 413, "payload_too_large")
    small = {"model": "steward", "messages": [{"role": "user", "content": "What is the fee?"}]}
    assert httpx.post(url, json=small, headers=bearer(keys["cara"])).status_code == 200


# ------------------------------------------------------------------ chat completion size


def test_chat_completions_limit_message_count_and_characters_before_any_stream(
    serve: Deployment,
) -> None:
    server, keys = serve(max_chat_messages=3, max_chat_chars=500)
    url = f"{server.url}/v1/chat/completions"
    turns = [{"role": "user", "content": f"question {i}"} for i in range(4)]
    for stream in (False, True):
        r = httpx.post(
            url,
            json={"model": "steward", "messages": turns, "stream": stream},
            headers=bearer(keys["cara"]),
        )
        assert (
            "STEWARD_MAX_CHAT_MESSAGES" in assert_error_shape(r, 422, "invalid_request")["message"]
        )
        long = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "q" * 200}]
        r = httpx.post(
            url,
            json={"model": "steward", "messages": long, "stream": stream},
            headers=bearer(keys["cara"]),
        )
        error = assert_error_shape(r, 413, "payload_too_large")
        assert "STEWARD_MAX_CHAT_CHARS" in error["message"] and "qqq" not in error["message"]


def test_error_messages_echo_at_most_a_short_prefix_of_the_input(serve: Deployment) -> None:
    server, keys = serve()
    model = "m" * 190
    r = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(keys["cara"]),
    )
    message = assert_error_shape(r, 404, "not_found")["message"]
    assert "m" * 64 in message and "m" * 65 not in message
    ops = serve.new_key("ops")
    r = httpx.get(f"{server.url}/v1/audit/{'a' * 5000}", headers=bearer(ops))
    message = assert_error_shape(r, 404, "not_found")["message"]
    assert "a" * 64 in message and "a" * 65 not in message


# ------------------------------------------------------------------ rate limits


def test_a_user_over_the_limit_gets_429_with_retry_after(serve: Deployment) -> None:
    server, keys = serve(rate_per_user=3, rate_window_s=HOUR)
    with httpx.Client(base_url=server.url, headers=bearer(keys["cara"])) as c:
        assert [c.get("/v1/models").status_code for _ in range(3)] == [200] * 3
        r = c.get("/v1/models")
    error = assert_error_shape(r, 429, "rate_limited")
    assert "this user" in error["message"]
    assert 1 <= int(r.headers["retry-after"]) <= HOUR
    # Another user is counted on their own.
    assert httpx.get(f"{server.url}/v1/models", headers=bearer(keys["sam"])).status_code == 200


def test_each_api_key_has_its_own_limit(serve: Deployment) -> None:
    server, keys = serve(rate_per_key=2, rate_window_s=HOUR)
    rt_key = keys["cara"]
    with httpx.Client(base_url=server.url) as c:
        assert [c.get("/v1/models", headers=bearer(rt_key)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        second = serve.new_key("cara")
        assert c.get("/v1/models", headers=bearer(second)).status_code == 200


def test_a_center_shares_one_limit_over_its_users(serve: Deployment) -> None:
    server, keys = serve(rate_per_center=3, rate_window_s=HOUR)
    with httpx.Client(base_url=server.url) as c:
        # cara, sam and nora are all in center north; solo is in south.
        codes = [c.get("/v1/models", headers=bearer(keys[u])).status_code for u in keys]
    assert codes == [200, 200, 200, 200]  # three north, one south
    r = httpx.get(f"{server.url}/v1/models", headers=bearer(keys["nora"]))
    assert "this center" in assert_error_shape(r, 429, "rate_limited")["message"]


def test_two_replicas_on_one_store_share_the_counters(serve: Deployment) -> None:
    one, keys = serve(rate_per_user=4, rate_window_s=HOUR)
    two, _ = serve(rate_per_user=4, rate_window_s=HOUR)
    codes = [
        httpx.get(f"{s.url}/v1/models", headers=bearer(keys["cara"])).status_code
        for s in (one, two, one, two, one, two)
    ]
    assert codes == [200, 200, 200, 200, 429, 429]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_counters_count_across_limiter_instances_on_each_engine(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("pg_url")
        if engine == "postgres"
        else (f"sqlite:///{tmp_path / 'limits.db'}")
    )
    cfg = LimitsSettings(rate_per_user=5, rate_per_key=0, rate_per_center=7, rate_window_s=HOUR)
    stores = [open_store(url), open_store(url)]  # two replicas: two engines, one database
    a, b = (RateLimiter(store, cfg) for store in stores)
    who = Principal("u1", "U", frozenset(), "north", "asker", False, "oidc")
    other = Principal("u2", "V", frozenset(), "north", "asker", False, "oidc")
    try:
        for limiter in (a, b, a, b, a):
            limiter.admit(who, None, "10.0.0.1")
        with pytest.raises(RateLimited) as over:
            b.admit(who, None, "10.0.0.1")
        assert 1 <= over.value.retry_after <= HOUR
        a.admit(other, None, "10.0.0.2")  # the center's 7th request
        with pytest.raises(RateLimited, match="this center"):
            b.admit(other, None, "10.0.0.2")
    finally:
        for store in stores:
            store.dispose()


# ------------------------------------------------------------------ failed authentication


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def security_lines() -> Iterator[list[logging.LogRecord]]:
    handler = Lines()
    logger = logging.getLogger("steward.security")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.WARNING)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_a_thousand_bad_keys_get_429_after_the_threshold_and_leave_security_lines(
    serve: Deployment, security_lines: list[logging.LogRecord]
) -> None:
    # The default threshold (30 failures), counted over a day so the run stays in one window.
    server, keys = serve(auth_failure_window_s=DAY)
    bad = [f"stw_guess{i:04d}-{'x' * 30}" for i in range(1000)]
    limits = httpx.Limits(max_connections=8)
    with httpx.Client(base_url=server.url, limits=limits) as c, ThreadPoolExecutor(8) as pool:
        # Eight at a time, as a scripted attack would: the counter is one atomic upsert, so
        # exactly the threshold gets through to a 401 however the requests interleave.
        responses = list(pool.map(lambda k: c.get("/v1/models", headers=bearer(k)), bad))
        # Throttled by address: even a valid key from 127.0.0.1 waits now.
        valid_here = c.get("/v1/models", headers=bearer(keys["cara"]))
    codes = Counter(r.status_code for r in responses)
    assert codes == {401: 30, 429: 970}
    throttled = [r for r in responses if r.status_code == 429]
    for r in (throttled[0], throttled[-1], valid_here):
        assert_error_shape(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= DAY
    # Another address is not throttled (loopback: 127.0.0.2 reaches the server on 127.0.0.1).
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=server.url, transport=other) as c:
        assert c.get("/v1/models", headers=bearer(keys["cara"])).status_code == 200
    # One line per failure up to the threshold, then one per hundred: a flood is no log flood.
    assert len(security_lines) == 30 + 10
    first: Any = security_lines[0]
    assert (first.event, first.client) == ("auth-failed", "127.0.0.1")
    assert first.key_prefix.startswith("stw_guess") and len(first.key_prefix) == 10
    assert [r.__dict__["throttled"] for r in security_lines].count(True) == 10
    text = " ".join(json.dumps(vars(r), default=str) for r in security_lines)
    assert not any(k in text for k in bad)  # prefixes only, never a key


def test_a_missing_header_is_not_counted_as_a_failed_login(
    serve: Deployment, security_lines: list[logging.LogRecord]
) -> None:
    server, keys = serve(auth_failures_max=2)
    with httpx.Client(base_url=server.url) as c:
        assert {c.get("/v1/models").status_code for _ in range(5)} == {401}
        assert c.get("/v1/models", headers=bearer(keys["cara"])).status_code == 200
    assert security_lines == []


def test_one_stale_key_sent_again_and_again_does_not_lock_out_its_address(
    serve: Deployment, security_lines: list[logging.LogRecord]
) -> None:
    # Guessing needs new keys: a client retrying one revoked key is charged once, so an office
    # behind one address is not locked out by one misconfigured script.
    server, keys = serve(auth_failures_max=2, auth_failure_window_s=DAY)
    with httpx.Client(base_url=server.url) as c:
        stale = bearer("stw_revoked-long-ago-xxxxxxxxxxxxxxxxxxxxxxxxxxx")
        assert {c.get("/v1/models", headers=stale).status_code for _ in range(20)} == {401}
        assert c.get("/v1/models", headers=bearer(keys["cara"])).status_code == 200
    assert len(security_lines) == 1  # the first time; then every 100th repeat


@pytest.mark.parametrize(("trusted", "escapes"), [("", False), ("127.0.0.1", True)])
def test_x_forwarded_for_names_the_client_only_behind_a_configured_proxy(
    serve: Deployment, trusted: str, escapes: bool
) -> None:
    """Found by the outside review: uvicorn trusts 127.0.0.1 as a proxy by default, so a
    process on the host escaped the failed-login throttle by naming a new X-Forwarded-For.
    `steward serve` trusts the header only from FORWARDED_ALLOW_IPS."""
    options = proxy_options({"FORWARDED_ALLOW_IPS": trusted} if trusted else {})
    server, _ = serve(options, auth_failures_max=2, auth_failure_window_s=DAY)
    with httpx.Client(base_url=server.url) as c:
        codes = [
            c.get(
                "/v1/models",
                headers={
                    **bearer(f"stw_guess-{i:04d}-xxxxxxxxxxxxxxxxxxxx"),
                    "X-Forwarded-For": f"10.9.8.{i}",
                },
            ).status_code
            for i in range(6)
        ]
    assert (429 not in codes) is escapes, codes
