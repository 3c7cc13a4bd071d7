"""OpenTelemetry traces, received by a real OTLP/HTTP receiver on loopback: one request is a
server span, a span per stage and a GenAI span for the model call, with the semantic
conventions' attributes and never the question; the audit row names the trace. Off, tracing
costs nothing and loads nothing."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from steward import audit
from steward.answering.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from steward.identity.auth import create_key
from steward.observability import tracing
from steward.observability.context import request_context, traced
from steward.observability.logs import JsonFormatter
from steward.runtime import Runtime
from steward.web.app import create_app
from tests.conftest import LiveServer

CARD = "4111 1111 1111 1111"
EMAIL = "lena.park@example.com"
QUESTION = f"How do I file a claim? My card is {CARD} and my e-mail {EMAIL}"


class Receiver:
    """An OTLP/HTTP trace receiver: POST /v1/traces, protobuf, decoded by the proto classes."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, str], Any]] = []  # (resource attributes, span)
        self.paths: list[str] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with receiver.changed:
                    receiver.paths.append(self.path)
                    for rs in request.resource_spans:
                        resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                        for ss in rs.scope_spans:
                            receiver.spans.extend((resource, span) for span in ss.spans)
                    receiver.changed.notify_all()
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, done: Any, timeout: float = 30) -> bool:
        """Wait (on the receiver's own notification, with a deadline) until ``done()``."""
        with self.changed:
            return bool(self.changed.wait_for(done, timeout))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _attrs(span: Any) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in span.attributes}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # batches leave within 50 ms
    r = Receiver()
    yield r
    tracing.shutdown()  # later tests in this process run untraced
    r.close()


def _chat(_request: httpx2.Request) -> httpx2.Response:
    """The OpenAI chat API, faked at the transport (a paid API): a cited one-line reply."""
    return httpx2.Response(
        200,
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-test-2026",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "File a claim online [1]."},
                }
            ],
            "usage": {"prompt_tokens": 321, "completion_tokens": 7, "total_tokens": 328},
        },
    )


def test_one_request_is_a_server_span_stage_spans_and_a_genai_span(
    receiver: Receiver, demo_copy: Path, make_runtime: Any
) -> None:
    provider = OpenAICompatProvider(
        OpenAIOptions(base_url="http://llm.invalid/v1", model="gpt-test"),
        http_client=httpx2.Client(transport=httpx2.MockTransport(_chat)),
    )
    rt: Runtime = make_runtime(
        demo_copy, provider, otlp_endpoint=receiver.url, service_name="steward-under-test"
    )
    key = create_key(rt.store, "cust-lena")
    with LiveServer(create_app(rt)) as server:
        r = httpx.post(
            f"{server.url}/v1/ask",
            json={"question": QUESTION},
            headers={
                "Authorization": f"Bearer {key}",
                # A caller's trace is never adopted: its id would reach logs and audit rows.
                "traceparent": "00-41114111411141114111411141114111-4111411141114111-01",
            },
            timeout=120,
        )
    assert r.status_code == 200, r.text
    audit_id = r.json()["audit_id"]

    def server_span() -> Any:
        return next((s for _, s in receiver.spans if s.name == "POST /v1/ask"), None)

    def complete() -> bool:
        root = server_span()
        return root is not None and any(
            s.name.startswith("stage audit") and s.trace_id == root.trace_id
            for _, s in receiver.spans
        )

    assert receiver.wait_for(complete), [s.name for _, s in receiver.spans]
    assert set(receiver.paths) == {"/v1/traces"}
    root = server_span()
    trace = [(res, s) for res, s in receiver.spans if s.trace_id == root.trace_id]
    spans = {s.name: s for _, s in trace}
    assert root.trace_id.hex() != "41114111411141114111411141114111"
    assert root.parent_span_id == b""  # a new trace
    assert root.kind == root.SPAN_KIND_SERVER
    assert _attrs(root)["http.route"] == "/v1/ask"
    assert _attrs(root)["http.response.status_code"] == 200
    assert all(res["service.name"] == "steward-under-test" for res, _ in trace)

    for stage in ("guard", "understand", "cache", "embed", "retrieve", "answer", "audit"):
        span = spans[f"stage {stage}"]
        assert span.parent_span_id == root.span_id, stage
        assert _attrs(span)["steward.stage"] == stage

    genai = spans["chat gpt-test"]
    assert genai.kind == genai.SPAN_KIND_CLIENT
    assert genai.parent_span_id == spans["stage answer"].span_id
    assert _attrs(genai) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.response.model": "gpt-test",
        "gen_ai.usage.input_tokens": 321,
        "gen_ai.usage.output_tokens": 7,
    }

    # No attribute of any span holds the question, a personal value or the user.
    for _, span in trace:
        for key_, value in _attrs(span).items():
            text = json.dumps(value)
            for secret in (QUESTION, CARD, CARD.replace(" ", ""), EMAIL, "cust-lena", "claim"):
                assert secret not in text, (span.name, key_, value)

    row = audit.get(rt.store, audit_id)
    assert row.trace_id == root.trace_id.hex()
    assert audit.verify(rt.store).ok  # the trace id is outside the row's hash


def test_a_failed_model_call_is_an_error_span_and_counted(
    receiver: Receiver, demo_copy: Path, make_runtime: Any
) -> None:
    def refuse(_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(503, json={"error": {"message": "overloaded"}})

    provider = OpenAICompatProvider(
        OpenAIOptions(base_url="http://llm.invalid/v1", model="gpt-down"),
        http_client=httpx2.Client(transport=httpx2.MockTransport(refuse)),
    )
    rt: Runtime = make_runtime(demo_copy, provider, otlp_endpoint=receiver.url)
    key = create_key(rt.store, "cust-lena")
    with LiveServer(create_app(rt)) as server:
        r = httpx.post(
            f"{server.url}/v1/ask",
            json={"question": "How do I file a claim?"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
    assert r.status_code == 200, r.text

    def spans_named(name: str) -> list[Any]:
        return [s for _, s in receiver.spans if s.name == name]

    # The provider failed; the extractive fallback answered (a model call of its own).
    assert receiver.wait_for(lambda: spans_named("chat gpt-down") and spans_named("POST /v1/ask"))
    failed = spans_named("chat gpt-down")[0]
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    assert _attrs(failed)["error.type"] == "provider_unavailable"
    assert receiver.wait_for(lambda: spans_named("chat extractive-v3"))
    fallback = spans_named("chat extractive-v3")[0]
    assert _attrs(fallback)["gen_ai.provider.name"] == "extractive"
    assert fallback.trace_id == failed.trace_id


def test_log_lines_carry_the_trace_id() -> None:
    record = logging.LogRecord(
        "steward.x", logging.INFO, __file__, 1, "question decided", None, None
    )
    with request_context("01JREQ", channel="http"), traced("ab" * 16):
        line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "01JREQ" and line["trace_id"] == "ab" * 16
    with request_context("01JREQ", channel="http"), traced(None):
        assert "trace_id" not in json.loads(JsonFormatter().format(record))


def test_without_an_endpoint_tracing_is_off_and_loads_no_sdk(tmp_path: Path) -> None:
    """Free when not set: no SDK imported, no span made, no trace id on the audit row."""
    code = """
import sys
from steward.config.settings import Settings
from steward.observability import tracing
from steward.web import metrics
import steward.web.app, steward.pipeline.runner
settings = Settings(home=sys.argv[1])
assert settings.telemetry.otlp_endpoint is None
assert tracing.configure(settings.telemetry.otlp_endpoint) is False
with tracing.server_span("GET") as span, tracing.stage_span("guard"):
    assert span is None
print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "STEWARD_"))}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
