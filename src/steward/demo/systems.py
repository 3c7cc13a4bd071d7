"""The demo's policy administration system, played in process: what the demo's tools call
(demo/data/tools.yaml). It keeps what it did by idempotency key, so a call sent twice acts
once, and forgets everything when the process ends. A real deployment points its tools at its
own systems over HTTP (docs/actions.md)."""

from __future__ import annotations

import threading
from typing import Any

from steward.actions.executors import Call

_done: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def apply(call: Call) -> dict[str, Any]:
    """Record the change once per idempotency key; the same key again gets the same answer."""
    with _lock:
        found = _done.get(call.idempotency_key)
        if found is None:
            found = {"reference": f"HM-{len(_done) + 1:05d}", "applied": call.tool}
            _done[call.idempotency_key] = found
        return dict(found)


def applied() -> int:
    """How many distinct calls the system carried out (for the demo's own check)."""
    with _lock:
        return len(_done)
