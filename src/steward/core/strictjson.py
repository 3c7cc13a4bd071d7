"""JSON objects whose keys are each written once: ``{"question": "a", "question": "b"}`` is a
mistake to name (which one was meant?), where ``json.loads`` silently keeps the last."""

from __future__ import annotations

from typing import Any


class RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: raises :class:`RepeatedKeyError`."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RepeatedKeyError(key)
        out[key] = value
    return out
