"""A Python tool executor for the action tests: it records every call it receives, as a
system would (tests/test_actions_api.py counts executions per idempotency key with it)."""

from __future__ import annotations

import threading
from typing import Any

from steward.actions.executors import Call

CALLS: list[Call] = []
_LOCK = threading.Lock()


def run(call: Call) -> dict[str, Any]:
    """Do the call: record it, answer like a system would."""
    with _LOCK:
        CALLS.append(call)
        return {"ok": True, "tool": call.tool, "n": len(CALLS)}


def executions(action_id: str) -> list[Call]:
    """The calls made for one action (its id is the idempotency key)."""
    with _LOCK:
        return [c for c in CALLS if c.idempotency_key == action_id]
