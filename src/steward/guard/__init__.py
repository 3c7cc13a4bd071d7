"""The guard: personal data becomes stable tokens (``pii``); instruction-like text is recognised
(``injection``). Both fail closed."""

from steward.guard.injection import Finding, injection_findings
from steward.guard.pii import (
    Masked,
    Masker,
    Recognizer,
    Span,
    TokenBook,
    declared_variants,
    load_or_create_key,
    luhn_ok,
    tokens_in,
)

__all__ = [
    "Finding",
    "Masked",
    "Masker",
    "Recognizer",
    "Span",
    "TokenBook",
    "declared_variants",
    "injection_findings",
    "load_or_create_key",
    "luhn_ok",
    "tokens_in",
]
