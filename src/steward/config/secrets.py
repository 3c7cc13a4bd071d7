"""Secrets named in config files: ``{"$env": "NAME"}`` or ``{"$file": "path"}``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from steward.core.errors import ConfigError


def resolve_secret(value: Any) -> Any:
    """``{"$env": "NAME"}`` and ``{"$file": "path"}`` become the secret they point to; other
    values pass through. Config files name secrets, never hold them."""
    if isinstance(value, dict) and len(value) == 1:
        if "$env" in value:
            name = str(value["$env"])
            if name not in os.environ:
                raise ConfigError(f"Secret {{'$env': {name!r}}} is not set in the environment.")
            return os.environ[name]
        if "$file" in value:
            path = Path(str(value["$file"])).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"Secret file {path} cannot be read: {exc.strerror}") from exc
    if isinstance(value, dict):
        return {k: resolve_secret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secret(v) for v in value]
    return value
