"""Structured JSON log lines on stderr. Callers log masked text only; this module adds no data
but the request's ids (``request_id``, and ``trace_id`` when tracing set one) and, for an
exception, its traceback."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from steward.observability.context import current

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = current()
        if ctx is not None:
            out["request_id"] = ctx.request_id
            if ctx.trace_id:
                out["trace_id"] = ctx.trace_id
        out.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["traceback"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(level: str) -> None:
    """Send Steward's log records to stderr as JSON lines at ``level``."""
    root = logging.getLogger("steward")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
