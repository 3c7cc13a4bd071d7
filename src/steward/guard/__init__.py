"""The guard: personal data becomes stable tokens (``pii``); instruction-like text is recognised
(``injection``). Both fail closed.

The names below are imported on first use: a process that needs only the token book (a CLI
command) does not compile the injection lexicons."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steward.guard.injection import Finding, injection_findings
    from steward.guard.pii import (
        CustomRecognizer,
        Masked,
        Masker,
        Recognizer,
        Span,
        TokenBook,
        declared_variants,
        default_recognizers,
        load_custom_recognizers,
        load_or_create_key,
        luhn_ok,
        recognizers_for,
        tokens_in,
    )

__all__ = [
    "CustomRecognizer",
    "Finding",
    "Masked",
    "Masker",
    "Recognizer",
    "Span",
    "TokenBook",
    "declared_variants",
    "default_recognizers",
    "injection_findings",
    "load_custom_recognizers",
    "load_or_create_key",
    "luhn_ok",
    "recognizers_for",
    "tokens_in",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'steward.guard' has no attribute {name!r}")
    module = "injection" if name in ("Finding", "injection_findings") else "pii"
    value = getattr(import_module(f"steward.guard.{module}"), name)
    globals()[name] = value
    return value
