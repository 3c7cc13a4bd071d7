"""Steward: governed, cited, audited answers from an organisation's own knowledge."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from steward.config.settings import Settings, load_settings
    from steward.core.errors import StewardError
    from steward.identity.auth import Principal
    from steward.pipeline.orchestrator import Response, ask
    from steward.runtime import Runtime

# The public names, each imported on first use: ``import steward`` alone (every CLI command
# starts with it) then costs nothing, and a command loads only the parts it runs.
_PUBLIC = {
    "Principal": "steward.identity.auth",
    "Response": "steward.pipeline.orchestrator",
    "Runtime": "steward.runtime",
    "Settings": "steward.config.settings",
    "StewardError": "steward.core.errors",
    "ask": "steward.pipeline.orchestrator",
    "load_settings": "steward.config.settings",
}

__all__ = [
    "Principal",
    "Response",
    "Runtime",
    "Settings",
    "StewardError",
    "__version__",
    "ask",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'steward' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
