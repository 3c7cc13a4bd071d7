"""Text a person reading the message does not see: removed before the question is understood.

A pasted e-mail or web page can carry an instruction its reader never saw: inside a markup
comment (``<!-- ... -->``, also left unterminated), in an element the page hides
(``<span hidden>``, ``style="display:none"``, ``<script>``, ``<template>``), in a Markdown
comment (``[//]: # (...)``), or spelled in invisible characters (zero-width and bidi controls,
and Unicode tag characters, which can encode a whole ASCII sentence invisibly). Steward answers
what the asker sees: :func:`reveal` returns the visible text, the kinds of hidden content it
removed (for the audit row) and the hidden pieces themselves (scanned for instruction-like text,
never stored)."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field

INVISIBLE, COMMENT, HIDDEN_ELEMENT, MARKDOWN_COMMENT = (
    "invisible-characters",
    "markup-comment",
    "hidden-element",
    "markdown-comment",
)

# Unicode tag characters (U+E0020..U+E007E) mirror printable ASCII: "ASCII smuggling".
_TAG_BASE, _TAG_FIRST, _TAG_LAST = 0xE0000, 0xE0020, 0xE007E
_KEEP_CONTROLS = frozenset("\t\n\r")

# "<!-->" and "<!--->" are whole (empty) comments to a browser, not the start of one.
_COMMENT = re.compile(r"<!--(?:-?>|.*?(?:-->|\Z))", re.DOTALL)
# Elements that are never rendered, and elements a page hides by attribute or inline style.
# ``(?<![-\w])hidden`` is the boolean attribute, not ``aria-hidden`` (read aloud, still shown).
_NEVER_SHOWN = "script|style|template|noscript|head|title"
_HIDING = (
    r"(?<![-\w])hidden\b"
    r"|style\s*=\s*[\"'][^\"']*(?:display\s*:\s*none|visibility\s*:\s*hidden"
    r"|font-size\s*:\s*0(?![.\d]*[1-9])|opacity\s*:\s*0(?![.\d]*[1-9])"
    r"|(?:height|width|max-height)\s*:\s*0(?![.\d]*[1-9]))"
)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)
_OPEN = re.compile(
    rf"<(?P<name>{_NEVER_SHOWN})\b[^>]*>|<(?P<hname>[a-zA-Z][\w-]*)\b(?=[^>]*(?:{_HIDING}))[^>]*>",
    re.IGNORECASE,
)
# A Markdown link reference definition to nothing is the idiom for a comment: never rendered.
_MD_COMMENT = re.compile(
    r"^[ \t]{0,3}\[(?://|comment|_|#)\]:[^\n]*$|^[ \t]{0,3}\[[^\]\n]*\]:[ \t]*(?:#|<>)[^\n]*$",
    re.MULTILINE | re.IGNORECASE,
)
# Visible formatting tags are dropped, their text kept. Lower-case names only: the masker's
# tokens are upper case (``<NAME_1>``, ``<HR>``) and must survive.
_TAG = re.compile(
    r"</?(?:a|abbr|b|blockquote|br|code|del|details|div|em|font|h[1-6]|i|img|ins|label|li|"
    r"mark|ol|p|pre|q|s|section|small|span|strong|sub|summary|sup|table|tbody|td|th|"
    r"thead|tr|u|ul)(?:\s[^<>]*)?/?>"
)
_SPACES = re.compile(r"[ \t]{2,}")
_BEFORE_STOP = re.compile(r"[ \t]+(?=[?.!,;:])")


@dataclass(frozen=True)
class Revealed:
    """The visible text, which kinds of hidden content were removed, and the hidden pieces."""

    text: str
    removed: tuple[str, ...] = ()
    hidden: list[str] = field(default_factory=list)


# What masking writes in place of a value: "<NAME_2>", "<CARD_14>", "<EXPIRY>".
_TOKEN_SHAPE = re.compile(r"<([A-Z][A-Z_]*[A-Z](?:_\d+)?)>")


def defang_tokens(text: str) -> str:
    """A token the asker typed is no token: its brackets become "‹ ›", so that no reader,
    audit row, hand-off or reveal takes it for one that masking wrote ("what is <NAME_2>'s
    address?" typed to fish for another customer's name)."""
    return _TOKEN_SHAPE.sub(r"‹\1›", text)


# Letters of other scripts that look like Latin ones (Cyrillic and Greek), as the Latin letter.
_CONFUSABLE = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u04bb\u0501\u051b\u051d"
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0423\u0406\u0408\u0405"
    "\u03bf\u03b1\u03bd\u03b9\u03ba\u03c1\u03c5\u03c7"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7",
    "aeopcyxijshdqwABEKMHOPCTXYIJSoavikpuxABEZHIKMNOPTYX",
)
_OTHER_SCRIPT = re.compile("[\u0370-\u03ff\u0400-\u052f]")
_MIXED_WORD = re.compile(r"[^\W\d_]*[A-Za-z][^\W\d_]*")


def latin_look_alikes(text: str) -> str:
    """``text`` with each word that mixes Latin letters with Cyrillic or Greek look-alikes
    ("rоadside" with a Cyrillic "о", "іgnore") written in Latin letters only, letter for letter
    (offsets stay). Words wholly in another script ("дорога", "οδός") are left as they are."""
    if text.isascii():
        return text

    def fold(m: re.Match[str]) -> str:
        word = m.group()
        folded = word.translate(_CONFUSABLE)
        return folded if folded != word and not _OTHER_SCRIPT.search(folded) else word

    return _MIXED_WORD.sub(fold, text)


def strip_invisible(text: str) -> tuple[str, str]:
    """``text`` without format and control characters (zero-width, bidi, tag characters),
    and the ASCII that tag characters spelled, if any."""
    if text.isascii():
        return text, ""
    kept: list[str] = []
    smuggled: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf" or (cat == "Cc" and ch not in _KEEP_CONTROLS):
            if _TAG_FIRST <= ord(ch) <= _TAG_LAST:
                smuggled.append(chr(ord(ch) - _TAG_BASE))
            continue
        kept.append(ch)
    return "".join(kept), "".join(smuggled)


def invisible(text: str) -> tuple[bool, str]:
    """Whether ``text`` holds invisible characters, and the ASCII tag characters spelled."""
    kept, smuggled = strip_invisible(text)
    return kept != text, smuggled


def _element_end(text: str, name: str, start: int) -> int:
    """Where the element opened just before ``start`` closes (counting nested elements of the
    same name); the end of the text when it never closes."""
    rx = re.compile(rf"<(/?){re.escape(name)}\b[^>]*>", re.IGNORECASE)
    depth = 1
    for m in rx.finditer(text, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return m.end()
    return len(text)


def _hidden_elements(text: str) -> tuple[str, list[str]]:
    out: list[str] = []
    hidden: list[str] = []
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        name = (m.group("name") or m.group("hname")).lower()
        out.append(text[pos : m.start()])
        if name in _VOID:  # no content: only its attributes were hidden
            pos = m.end()
            continue
        end = _element_end(text, name, m.end())
        hidden.append(_TAG.sub(" ", text[m.end() : end]))
        out.append(" ")
        pos = end
    out.append(text[pos:])
    return "".join(out), hidden


# A comment cut into a number ("415-867<!-- x -->-2421"): digits on both sides.
_SPLITTING_COMMENT = re.compile(r"(?:(?<=\d)|(?<=\d[-./ ]))<!--.*?-->(?=[-./ ]?\d)", re.DOTALL)


def join_split_values(text: str) -> tuple[str, list[str]]:
    """``text`` without the comments cut into numbers, so that a card or phone number split
    by one is masked whole, and what those comments held."""
    pieces = [m.group()[4:-3] for m in _SPLITTING_COMMENT.finditer(text)]
    return (_SPLITTING_COMMENT.sub("", text), pieces) if pieces else (text, [])


def reveal(text: str) -> Revealed:
    """What a reader of ``text`` sees, and what was hidden from them."""
    removed: list[str] = []
    hidden: list[str] = []
    visible, smuggled = strip_invisible(text)
    if visible != text:
        removed.append(INVISIBLE)
        if smuggled.strip():
            hidden.append(smuggled)
    if "<!--" in visible:
        hidden += [m.group()[4:].removesuffix("-->") for m in _COMMENT.finditer(visible)]
        visible = _COMMENT.sub(" ", visible)
        removed.append(COMMENT)
    if "<" in visible:
        visible, elements = _hidden_elements(visible)
        if elements:
            hidden += elements
            removed.append(HIDDEN_ELEMENT)
        visible = _TAG.sub(" ", visible)
    if "]:" in visible:
        comments = [m.group() for m in _MD_COMMENT.finditer(visible)]
        if comments:
            hidden += comments
            visible = _MD_COMMENT.sub("", visible)
            removed.append(MARKDOWN_COMMENT)
    if visible != text:
        visible = _BEFORE_STOP.sub("", _SPACES.sub(" ", visible)).strip()
    return Revealed(visible, tuple(removed), [h.strip() for h in hidden if h.strip()])


# Markup that a value can be split or spelled with, read through by the masker: comments,
# formatting tags and character references ("<span>Horatio</span> <span>Blenkinsop</span>",
# "Hor<!-- -->atio", "dana<!-- -->@example.com", "&#72;oratio").
_THROUGH = re.compile(
    rf"{_COMMENT.pattern}|{_TAG.pattern}|</?wbr\s*/?>"
    # Character references, the numeric ones with or without their ";" (browsers read both).
    r"|&(?:#\d{1,7};?|#[xX][0-9A-Fa-f]{1,6};?|[A-Za-z][A-Za-z0-9]{1,30};)"
    # Escapes a reader of the message decodes in their head: "%40", "\u0044".
    r"|(?<=[\w.])%[2-7][0-9A-Fa-f](?=[\w.])|(?<![\w\\])%[4-7][0-9A-Fa-f](?=\w)"
    r"|\\u[0-9A-Fa-f]{4}"
    # Emphasis that Markdown and BBCode render away: "**Dana** _Whitfield_", "[b]Dana[/b]".
    r"|\*\*|(?<![\w*])\*(?=\w)|(?<=\w)\*(?![\w*])|(?<![\w_])__?(?=\w)|(?<=\w)__?(?!\w)"
    r"|\[/?(?:b|i|u|s|em|strong|color(?:=[^\]]{0,20})?|size(?:=\d{1,2})?)\]",
    re.DOTALL,
)
# Tags that end a line or a cell where they stand: read as a space, so words on both sides stay
# apart ("Horatio<br>Blenkinsop"); an inline tag or a comment joins what is around it.
_BREAKING = re.compile(
    r"</?(?:br|p|div|li|tr|td|th|h[1-6]|ul|ol|table|tbody|thead|blockquote|pre|section"
    r"|details|summary)\b"
)


# A word spelled out letter by letter, to slip past a reader of words: "H o r a t i o",
# "D-a-n-a" (four letters or more, one space, hyphen or dot between them).
_SPELLED = re.compile(r"(?<![^\W\d_])[^\W\d_]([ .\-_–—])(?:[^\W\d_]\1){2,}[^\W\d_](?![^\W\d_])")


# A line break between the pieces of an address or a number joins them: "dana.whitfield<br>@
# example.com", "312<br>555".
_INSIDE_VALUE = re.compile(r"[@.\d_-]")


def read_through(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` as read through its markup and with words spelled letter by letter joined up,
    and for each of its characters where it starts and ends in ``text`` (a character
    reference is one character spelled by several)."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in sorted([*_THROUGH.finditer(text), *_SPELLED.finditer(text)], key=lambda m: m.start()):
        if m.start() < pos:
            continue  # inside the last piece read
        if m.re is _SPELLED:
            out.append(text[pos : m.start()])
            starts.extend(range(pos, m.start()))
            ends.extend(range(pos + 1, m.start() + 1))
            for i in range(m.start(), m.end(), 2):
                out.append(text[i])
                starts.append(i)
                ends.append(i + 1)
            pos = m.end()
            continue
        out.append(text[pos : m.start()])
        starts.extend(range(pos, m.start()))
        ends.extend(range(pos + 1, m.start() + 1))
        piece = m.group()
        if piece.startswith(("&", "%", "\\u")):
            if piece.startswith("%"):
                read = chr(int(piece[1:], 16))
            elif piece.startswith("\\u"):
                read = chr(int(piece[2:], 16))
            else:
                read = html.unescape(piece)
            # A soft hyphen or another format character spelled so reads as nothing.
            read = "".join(ch for ch in read if unicodedata.category(ch) != "Cf")
            out.append(read)
            if read == piece:
                starts.extend(range(m.start(), m.end()))
                ends.extend(range(m.start() + 1, m.end() + 1))
            else:
                starts.extend([m.start()] * len(read))
                ends.extend([m.end()] * len(read))
        elif (
            _BREAKING.match(piece)
            and not _INSIDE_VALUE.search(text, max(0, m.start() - 1), m.start())
            and not _INSIDE_VALUE.match(text, m.end())
        ):
            out.append(" ")
            starts.append(m.start())
            ends.append(m.end())
        pos = m.end()
    out.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return "".join(out), starts, ends
