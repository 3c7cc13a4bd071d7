"""Text a person sees as it is: which characters hide or reorder what is shown, and how to
print stored text without letting it drive a terminal.

Hidden, by Unicode category: controls (but tab, newline and carriage return), format characters
(zero-width spaces and joiners, the soft hyphen, bidirectional marks, overrides and isolates,
tag characters, the BOM), private use, surrogates, unassigned; line and paragraph separators;
variation selectors; letters that print as blanks (the Hangul fillers, the braille blank).
"""

from __future__ import annotations

import unicodedata

_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_ALLOWED = frozenset("\t\n\r")
_BLANKS = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800})


def is_hidden(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in _CATEGORIES
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or code in _BLANKS
    )


def shows_anything(text: str) -> bool:
    """Whether ``text`` prints a character: not only spaces, hidden characters and marks that
    sit on nothing (a combining grapheme joiner and a Hangul filler show nothing)."""
    return any(
        not ch.isspace() and not is_hidden(ch) and unicodedata.category(ch) not in ("Mn", "Me")
        for ch in text
    )


def hidden(text: str) -> bool:
    """Whether ``text`` holds a hidden character (tab, newline and carriage return aside)."""
    return any(ch not in _ALLOWED and is_hidden(ch) for ch in text)


def escape(text: str) -> str:
    """``text`` for a terminal line: every hidden character, newlines and tabs included, as a
    Python-style escape (``\\x1b``, ``\\n``, ``\\u202e``), so stored text can neither move the
    cursor, recolour, reorder, nor forge a line of its own."""
    return "".join(_escaped(ch) if is_hidden(ch) else ch for ch in text)


def json_escape(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with the hidden
    characters it leaves raw written as ``\\uXXXX`` escapes: the same JSON, safe to print."""
    out = []
    for ch in text:
        if is_hidden(ch) and ch not in _ALLOWED:
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
