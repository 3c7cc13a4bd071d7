"""The request context: ids that follow one request through every stage, log line and audit
event, without being passed by hand.

A :class:`contextvars.ContextVar` rather than a thread-local: it follows ``asyncio`` tasks and is
copied into worker threads by ``run_in_threadpool`` and :func:`contextvars.copy_context`, so a
streamed answer produced in a thread pool still carries its own request's id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace

from ulid import ULID


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    trace_id: str | None = None  # the OpenTelemetry trace (32 hex), when tracing is on
    channel: str = "service"


_current: ContextVar[RequestContext | None] = ContextVar("steward_request", default=None)


def new_request_id() -> str:
    return str(ULID())


def current() -> RequestContext | None:
    """The context of the request being served, or None outside one."""
    return _current.get()


def request_id() -> str | None:
    ctx = _current.get()
    return ctx.request_id if ctx else None


@contextlib.contextmanager
def request_context(
    request_id: str | None = None, *, channel: str = "service", trace_id: str | None = None
) -> Iterator[RequestContext]:
    """Run the block as one request: a new id unless one is given (or one is already set)."""
    outer = _current.get()
    if request_id is None and outer is not None:
        ctx = replace(outer, channel=channel) if channel != outer.channel else outer
    else:
        ctx = RequestContext(request_id or new_request_id(), trace_id, channel)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


@contextlib.contextmanager
def traced(trace_id: str | None) -> Iterator[RequestContext | None]:
    """Inside the block, the current request carries ``trace_id`` (tracing's server span sets
    it, so log lines and audit rows name the trace); no change when it is None."""
    outer = _current.get()
    if trace_id is None or outer is None:
        yield outer
        return
    token = _current.set(replace(outer, trace_id=trace_id))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
