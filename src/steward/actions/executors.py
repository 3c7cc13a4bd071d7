"""Carrying out one tool call: an HTTP request to a configured system, or a Python callable.

Every call carries the idempotency key (the action's id; ``<id>:compensate`` for the undo) and
the asker's token; what comes back is one of three outcomes, which decide what happens next
(actions/service.py): ``done`` (the system acted), ``refused`` (the system said no: a 4xx; never
retried), ``unknown`` (a timeout, a cut connection, a 5xx: the system may or may not have
acted, so only a tool that declares retries safe is sent again, with the same key).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from steward.actions.registry import Executor, Registry, SystemSpec

Outcome = Literal["done", "refused", "unknown"]
MAX_RESULT_BYTES = 64_000
# Python executors run here, so that a tool's timeout holds for them too.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="steward-tool")


@dataclass(frozen=True)
class Call:
    """What an executor receives."""

    tool: str
    arguments: dict[str, Any]  # raw: exactly what was approved
    idempotency_key: str
    token: str  # the asker's token for the system
    asker: str
    dry_run: bool = False


@dataclass
class Result:
    outcome: Outcome
    status: int | None = None  # HTTP status where there is one
    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class Refused(Exception):
    """A Python executor's way to say the system refused (not retried)."""


def run(registry: Registry, executor: Executor, call: Call, timeout_s: float) -> Result:
    if executor.http is not None:
        system = registry.systems[executor.http.system]
        return _http(system, executor, call, timeout_s)
    assert executor.python is not None
    fn = registry.resolve(executor.python)
    future = _POOL.submit(fn, call)
    try:
        out = future.result(timeout=timeout_s)
    except FutureTimeout:
        # It may still finish: its state is unknown, as with an HTTP call that timed out.
        return Result("unknown", error=f"timed out after {timeout_s:g} s")
    except Refused as exc:
        return Result("refused", error=str(exc)[:300])
    except TimeoutError as exc:
        return Result("unknown", error=f"timed out: {exc}"[:300])
    except Exception as exc:  # the callable's failure: the system's state is unknown
        return Result("unknown", error=f"{type(exc).__name__}: {exc}"[:300])
    return Result("done", body=out if isinstance(out, dict) else {"result": out})


def _path(template: str, arguments: dict[str, Any]) -> str:
    def fill(m: re.Match[str]) -> str:
        return quote(str(arguments.get(m.group(1), "")), safe="")

    return re.sub(r"\{([A-Za-z_]\w*)\}", fill, template)


def _http(system: SystemSpec, executor: Executor, call: Call, timeout_s: float) -> Result:
    assert executor.http is not None
    url = system.base_url + _path(executor.http.path, call.arguments)
    headers = {
        "Authorization": f"Bearer {call.token}",
        "Idempotency-Key": call.idempotency_key,
        "Content-Type": "application/json",
    }
    if call.dry_run:
        headers["X-Dry-Run"] = "true"
    try:
        r = httpx.request(
            executor.http.method,
            url,
            content=json.dumps(call.arguments) if executor.http.method != "GET" else None,
            params=None,
            headers=headers,
            timeout=timeout_s,
        )
    except httpx.TimeoutException:
        return Result("unknown", error="timed out")
    except httpx.HTTPError as exc:
        return Result("unknown", error=f"{type(exc).__name__}")
    body: dict[str, Any]
    try:
        parsed = r.json() if r.content and len(r.content) <= MAX_RESULT_BYTES else {}
        body = parsed if isinstance(parsed, dict) else {"result": parsed}
    except ValueError:
        body = {}
    if 200 <= r.status_code < 300:
        return Result("done", r.status_code, body)
    if r.status_code in (408, 429) or r.status_code >= 500:
        return Result("unknown", r.status_code, body, f"HTTP {r.status_code}")
    return Result("refused", r.status_code, body, f"HTTP {r.status_code}")
