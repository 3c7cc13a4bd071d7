"""Steward: governed, cited, audited answers from an organisation's own knowledge."""

__version__ = "0.1.0"

from steward.config.settings import Settings, load_settings
from steward.core.errors import StewardError
from steward.identity.auth import Principal
from steward.pipeline.orchestrator import Response, ask
from steward.runtime import Runtime

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
