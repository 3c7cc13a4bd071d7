"""A call's arguments made safe to decide on and to keep: characters that hide or reorder text
refused, numbers finite, the subject in one canonical form, schema errors worded without the
value that broke them, and the numbers an asker wrote read the way people write them."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from steward.core.errors import InputError
from steward.core.visible import hidden

# A masking token (<ADDRESS_27>): its number is the token book's, not the asker's.
_TOKEN = re.compile(r"<[A-Z][A-Z_]*_\d+>", re.I)
# Nine digits or more in a row, one space, hyphen, dot, slash or underscore allowed between
# two: an account, a customer or a card number the recognizers had no cue for.
LONG_NUMBER = re.compile(r"(?<![\w])\d(?:[ \-./_]?\d){8,}(?![\w])")
# A number as people write it, standing alone: 27, 27.50, 1,000, 1,000.50, $40 (not the 01 of
# a code such as WV-01, nor digits inside a word).
_NUMBER = re.compile(r"(?<![\w\-.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w\-]|[.,]\d)")


def leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every scalar in ``value``."""
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += leaves(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list | tuple):
        out = []
        for i, v in enumerate(value):
            out += leaves(v, f"{prefix}[{i}]")
        return out
    return [(prefix, value)]


def check_clean(tool: str, arguments: Mapping[str, Any]) -> None:
    """InputError for a value a person could not see as it is (hidden or reordering
    characters, in a value or a key) or a number that is not finite. The message names no
    key a caller typed: it may be personal data."""
    for path, value in leaves(arguments):
        if hidden(path):
            raise InputError(f"Tool {tool}: an argument's name holds an invisible character.")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"Tool {tool}: numbers must be finite.")
        if isinstance(value, str) and hidden(value):
            raise InputError(
                f"Tool {tool}: control or invisible formatting characters are not allowed in "
                "arguments (they would show a reviewer something other than what runs)."
            )


def check_text(what: str, text: str) -> None:
    """InputError for a note or a reason holding hidden characters (reviewers read it)."""
    if hidden(text):
        raise InputError(f"The {what} holds control or invisible formatting characters.")


_PLAIN = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"})


def plain_text(value: str) -> str:
    """``value`` in the form the PII recognizers read best: NFKC (full-width digits and
    letters, no-break spaces become plain) and typographic dashes as hyphens."""
    return unicodedata.normalize("NFKC", value).translate(_PLAIN)


def canonical_subject(value: str) -> str:
    """The subject as one account: Unicode NFKC (full-width letters become plain), outer
    spaces gone; InputError if nothing is left."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise InputError("Name the customer the call is for (the subject is empty).")
    return text


def schema_message(error: Any) -> str:
    """What a schema error says, without the value that broke it (it may be a card number):
    the rule and the schema's own limit."""
    rule = str(getattr(error, "validator", "") or "schema")
    limit = getattr(error, "validator_value", None)
    words = {
        "maximum": f"must be at most {limit}",
        "exclusiveMaximum": f"must be less than {limit}",
        "minimum": f"must be at least {limit}",
        "exclusiveMinimum": f"must be more than {limit}",
        "maxLength": f"must be at most {limit} characters",
        "minLength": f"must be at least {limit} characters",
        "pattern": "does not have the expected form",
        "enum": f"must be one of {limit}" if isinstance(limit, list) and len(limit) <= 20 else
        "is not one of the allowed values",
        "type": f"must be of type {limit}",
        "required": f"the tool needs {limit}",
        "additionalProperties": "holds an argument the tool does not take",
        "format": f"must be a {limit}",
    }  # fmt: skip
    return words.get(rule, f"breaks the schema's `{rule}` rule")


def numbers(text: str) -> set[float]:
    """The numbers an asker wrote in ``text`` (masked: the tokens' own numbers left out)."""
    plain = _TOKEN.sub(" ", text)
    out: set[float] = set()
    for m in _NUMBER.finditer(plain):
        try:
            out.add(float(m.group(1).replace(",", "")))
        except ValueError:
            continue
    return out


def found_outside_tokens(needle: str, text: str) -> bool:
    """Whether ``needle`` occurs in ``text`` other than inside a masking token: the letters
    and number of ``<ADDRESS_47>`` are the token book's, not something the asker wrote."""
    if not needle:
        return True
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    start = text.find(needle)
    while start >= 0:
        end = start + len(needle)
        if not any(s < start < e or s < end < e for s, e in spans):
            return True
        start = text.find(needle, start + 1)
    return False
