"""Structure-aware chunking: sections by heading, table rows as sentences, records whole.

A chunk never crosses a heading. Long sections split at block boundaries (paragraph, list item,
table row); a paragraph longer than the limit splits between its sentences, so that the encoder,
which reads 256 tokens, sees all of every chunk (SciFact: hybrid nDCG@10 0.714 -> 0.720). Never
inside a sentence. A paragraph that reads like instructions to an AI becomes
its own chunk, flagged for quarantine, so the rest of the section stays answerable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from steward.guard import injection_findings
from steward.guard.injection import InjectionDetector

MAX_WORDS = 180
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TABLE_SEP = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_ABBREV = re.compile(
    r"(?:\b(?:ext|no|vs|etc|e\.g|i\.e|approx|dept|st|mr|mrs|ms|dr|inc|ltd|jr|sr|min|max)"
    r"|\b[A-Z]|\bU\.S|\b[ap]\.m)\.$",
    re.IGNORECASE,
)


@dataclass
class ChunkDraft:
    heading: str
    text: str
    sentences: list[tuple[int, int]] = field(default_factory=list)
    quarantine: str | None = None


def _clean_inline(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"(?<!\w)[*_](\S.*?\S|\S)[*_](?!\w)", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return text.strip()


def _table_rows(lines: list[str]) -> list[str]:
    cells = [[_clean_inline(c) for c in ln.strip().strip("|").split("|")] for ln in lines]
    header, rows = cells[0], [r for r in cells[1:] if not _TABLE_SEP.match("|".join(r))]
    out = []
    for row in rows:
        parts = [f"{h}: {v}" if h else v for h, v in zip(header, row, strict=False) if v]
        if parts:
            out.append("; ".join(parts) + ".")
    return out


def markdown_blocks(body: str) -> list[tuple[int, str, str]]:
    """(heading level or 0, kind, text) blocks: headings, paragraphs, list items, table rows."""
    blocks: list[tuple[int, str, str]] = []
    para: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if para:
            blocks.append((0, "para", _clean_inline(" ".join(para))))
            para.clear()
        if table:
            blocks.extend((0, "row", r) for r in _table_rows(table))
            table.clear()

    for raw in body.splitlines():
        line = raw.rstrip()
        if m := _HEADING.match(line):
            flush()
            blocks.append((len(m.group(1)), "heading", _clean_inline(m.group(2))))
        elif line.lstrip().startswith("|"):
            if para:
                flush()
            table.append(line)
        elif not line.strip():
            flush()
        elif re.match(r"^\s*([-*+]|\d+[.)])\s+", line):
            flush()
            para.append(re.sub(r"^\s*([-*+]|\d+[.)])\s+", "", line))
            flush()
        else:
            if table:
                flush()
            para.append(line.strip())
    flush()
    return [b for b in blocks if b[2]]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence offsets: ends at . ! ? before a capital/digit/quote, and at every line end."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        seg = line.group()
        pos = 0
        for m in re.finditer(r"[.!?](?=\s+[\"'(\[A-Z0-9<$])", seg):
            if _ABBREV.search(seg[: m.end()]):
                continue
            piece = seg[pos : m.end()]
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                spans.append((start + pos + lead, start + m.end()))
            pos = m.end()
        rest = seg[pos:]
        if rest.strip():
            lead = len(rest) - len(rest.lstrip())
            spans.append((start + pos + lead, start + len(seg.rstrip())))
    return spans


def _draft(heading: str, lines: list[str], quarantine: str | None = None) -> ChunkDraft:
    text = "\n".join(lines)
    return ChunkDraft(heading, text, split_sentences(text), quarantine)


def _split_long(block: tuple[int, str, str], max_words: int) -> list[tuple[int, str, str]]:
    """A paragraph of more than ``max_words`` words as runs of whole sentences that fit."""
    level, kind, text = block
    if kind != "para" or len(text.split()) <= max_words:
        return [block]
    runs: list[list[str]] = [[]]
    words = 0
    for a, b in split_sentences(text):
        n = len(text[a:b].split())
        if runs[-1] and words + n > max_words:
            runs.append([])
            words = 0
        runs[-1].append(text[a:b])
        words += n
    return [(level, kind, " ".join(run)) for run in runs]


def chunk_markdown(
    title: str, body: str, max_words: int = MAX_WORDS, detector: InjectionDetector | None = None
) -> list[ChunkDraft]:
    """Chunks of a Markdown (or plain text) document, each with its heading path."""
    drafts: list[ChunkDraft] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    words = 0

    def heading() -> str:
        names = [title] + [h for _, h in path if h.casefold() != title.casefold()]
        return " > ".join(names)

    def flush() -> None:
        nonlocal words
        if lines:
            drafts.append(_draft(heading(), lines))
            lines.clear()
        words = 0

    blocks = [piece for block in markdown_blocks(body) for piece in _split_long(block, max_words)]
    for level, kind, text in blocks:
        if kind == "heading":
            flush()
            path = [(lv, h) for lv, h in path if lv < level] + [(level, text)]
            continue
        findings = detector.findings(text) if detector else injection_findings(text)
        if findings:
            flush()
            reason = ", ".join(sorted({f.kind for f in findings}))
            drafts.append(_draft(heading(), [text], quarantine=f"instruction-like text: {reason}"))
            continue
        n = len(text.split())
        if lines and words + n > max_words:
            flush()
        lines.append(text)
        words += n
    flush()
    return drafts


def chunk_faq(
    question: str, answer: str, detector: InjectionDetector | None = None
) -> list[ChunkDraft]:
    """An FAQ row is one chunk: the question is its heading, the answer its text."""
    drafts = chunk_markdown(question, answer, detector=detector)
    for d in drafts:
        d.heading = question
    return drafts


def chunk_record(
    title: str,
    fields: list[tuple[str, str]],
    max_words: int = MAX_WORDS,
    detector: InjectionDetector | None = None,
) -> list[ChunkDraft]:
    """A record (ticket, row) stays whole unless it is long; each field is a labelled block."""
    body = "\n\n".join(f"{label}: {value}" if label else value for label, value in fields if value)
    return chunk_markdown(title, body, max_words, detector)
