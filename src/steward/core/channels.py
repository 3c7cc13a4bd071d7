"""Channels whose questions no asker sent: an evaluation run (`steward eval`) and a shadow
replay (`steward shadow`). Their answers are never cached or served, never flagged for review,
and not counted as traffic in the metrics."""

from __future__ import annotations

EVAL = "eval"
SHADOW = "shadow"
OFFLINE = frozenset({EVAL, SHADOW})
