"""OpenTelemetry traces: one server span per HTTP request, one child span per pipeline stage,
and each model call as a GenAI client span (the semantic conventions' ``gen_ai.*`` names).

Off unless an OTLP endpoint is configured (``STEWARD_OTLP_ENDPOINT`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``): then :func:`configure` builds an SDK tracer provider with a
batching OTLP/HTTP exporter. Off, nothing of the SDK is imported and every helper here is a
``None`` check, so tracing costs nothing when it is not wanted.

The provider is this module's own, not OpenTelemetry's global one: a process that serves
several apps (the tests do) can turn tracing on and off again, and a library that installs a
global provider does not receive Steward's spans.

What a span never holds: message content (questions, passages, answers), a user id, the URL
path (a path segment can be a typed-in card number; spans carry the route template), or a
caller's ``traceparent`` (a trace id the caller chose would reach the audit trail and the logs,
the same reason ``X-Request-ID`` is never adopted).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from steward.core.errors import ProviderError, ProviderRejected, ProviderTimeout
from steward.observability import metrics

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"  # appended to the base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT means


@dataclass
class _State:
    endpoint: str | None = None
    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_state = _State()
_lock = threading.Lock()


def configure(endpoint: str | None, service_name: str = "steward", version: str = "") -> bool:
    """Export spans to ``endpoint`` (an OTLP/HTTP base URL; ``/v1/traces`` is appended), or
    turn tracing off when it is None. Returns whether tracing is on."""
    with _lock:
        if endpoint == _state.endpoint:
            return _state.tracer is not None
        _shutdown_locked()
        if not endpoint:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name, "service.version": version})
        )
        url = endpoint.rstrip("/") + TRACES_PATH
        # Batched in a thread of its own: a request never waits on the collector.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        _state.endpoint, _state.provider = endpoint, provider
        _state.tracer = provider.get_tracer("steward", version)
        return True


def shutdown() -> None:
    """Send the spans still batched and turn tracing off (server exit, tests)."""
    with _lock:
        _shutdown_locked()


def _shutdown_locked() -> None:
    if _state.provider is not None:
        _state.provider.shutdown()  # flushes what the batch still holds
    _state.endpoint, _state.provider, _state.tracer = None, None, None


def flush(timeout_ms: int = 5000) -> bool:
    provider = _state.provider
    return provider.force_flush(timeout_ms) if provider is not None else True


def enabled() -> bool:
    return _state.tracer is not None


def trace_id_of(span: Span) -> str | None:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


@contextlib.contextmanager
def server_span(method: str) -> Iterator[Span | None]:
    """The span of one HTTP request, a new trace (never the caller's); None when tracing is
    off. The caller names it once the route is known (:func:`finish_server_span`)."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    # An empty context: the span starts a trace, whatever a caller's traceparent said.
    with tracer.start_as_current_span(
        method,
        context=otel_context.Context(),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method},
        record_exception=False,
    ) as span:
        yield span


def finish_server_span(span: Span, method: str, route: str, status: int) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
        span.set_attribute("error.type", str(status))


@contextlib.contextmanager
def stage_span(stage: str) -> Iterator[None]:
    """A child span of the current one for one pipeline stage (no-op when tracing is off)."""
    tracer = _state.tracer
    if tracer is None:
        yield
        return
    label = metrics.word(metrics.STAGE_LABELS.get(stage, stage))
    with tracer.start_as_current_span(
        f"stage {label}", attributes={"steward.stage": label}, record_exception=False
    ):
        yield


# ------------------------------------------------------------------ model calls


@dataclass
class ModelCall:
    """What a provider call reported: filled in by the caller once the call returned."""

    provider: str
    model: str
    response_model: str | None = None
    tokens: tuple[int, int] = (0, 0)

    def done(self, response_model: str | None, tokens_in: int, tokens_out: int) -> None:
        self.response_model = response_model
        self.tokens = (tokens_in, tokens_out)


def outcome_of(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, ProviderTimeout):
        return "timeout"
    if isinstance(exc, ProviderRejected):
        return "rejected"
    return "error"


@contextlib.contextmanager
def model_call(provider: str, model: str, operation: str = "chat") -> Iterator[ModelCall]:
    """One call to a model: a GenAI client span named ``"{operation} {model}"`` with the
    semantic-convention attributes (never the messages), and the provider metrics."""
    call = ModelCall(provider, model)
    tracer = _state.tracer
    span: Any = None
    if tracer is not None:
        from opentelemetry import trace

        span = tracer.start_span(
            f"{operation} {model}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
            },
        )
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield call
    except BaseException as exc:
        error = exc
        raise
    finally:
        # A reader that left mid-stream (GeneratorExit) is not the provider failing.
        failed = error if isinstance(error, Exception) else None
        outcome = "cancelled" if error is not None and failed is None else outcome_of(failed)
        metrics.provider_call(provider, model, outcome, time.perf_counter() - started, call.tokens)
        if span is not None:
            _end_model_span(span, call, failed)


def _end_model_span(span: Any, call: ModelCall, error: Exception | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    if call.response_model:
        span.set_attribute("gen_ai.response.model", call.response_model)
    span.set_attribute("gen_ai.usage.input_tokens", call.tokens[0])
    span.set_attribute("gen_ai.usage.output_tokens", call.tokens[1])
    if error is not None:
        # The error's class and code only: a message could quote what was sent.
        code = error.code if isinstance(error, ProviderError) else type(error).__name__
        span.set_attribute("error.type", code)
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def streamed(
    provider: str, model: str, pieces: Generator[str, None, object]
) -> Generator[str, None, object]:
    """``pieces`` (a provider's stream) inside one model call; returns what the stream
    returned (a router's route)."""
    with model_call(provider, model) as call:
        value = yield from pieces
        tokens = value.get("tokens") if isinstance(value, dict) else None
        t_in, t_out = (int(tokens[0]), int(tokens[1])) if tokens else (0, 0)
        call.done(model, t_in, t_out)
    return value
