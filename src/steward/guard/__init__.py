"""The guard: personal data becomes stable tokens (``pii``); instruction-like text is recognised
(``injection``). Both fail closed."""

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
