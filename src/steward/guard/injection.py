"""Instruction-like text: in questions (direct injection) and in documents (indirect)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """Instruction-like text: ``kind`` is override, exfiltration, authority or concealment."""

    kind: str
    start: int
    end: int
    pattern: str


_INJECTION_PATTERNS: list[tuple[str, str]] = [
    (
        "override",
        r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|"
        r"earlier|all|your|system|safety)\b[^.\n]{0,20}\b(instructions?|rules|prompts?|"
        r"guidelines|restrictions|directives)\b",
    ),
    ("override", r"\b(system|admin|developer)\s+(note|override|message|prompt|instruction)s?\b"),
    ("override", r"\bnote\s+(?:for|to)\s+the\s+ai\b|\b(?:note|message)\s+to\s+(?:the\s+)?ai\b"),
    ("override", r"\byou\s+are\s+now\b|\b(developer|god|dan|jailbreak|unrestricted)\s+mode\b"),
    ("override", r"\bno\s+(?:restrictions|rules|filters|limits)\b"),
    ("override", r"\b(pretend|act|role-?play)\s+(?:to\s+be|as|that\s+you)\b"),
    ("concealment", r"\bdo\s+not\s+(?:mention|reveal|tell)\b[^.\n]{0,30}\b(note|instruction)"),
    (
        "exfiltration",
        r"\b(print|output|reveal|show|dump|display|list|give|send|append|include|repeat)\b"
        r"[^.\n]{0,60}\b(system\s+prompt|your\s+(?:instructions|prompt|rules)|full\s+text\s+of"
        r"|every\s+(?:restricted|confidential|hidden|internal|secret)|all\s+(?:the\s+)?"
        r"(?:restricted|confidential|hidden|internal|secret)|(?:titles|names)\s+of\s+(?:every|all)"
        r"|(?:other|another)\s+(?:users?|customers?|people)'?s?\b)",
    ),
    ("authority", r"\b(?:i\s*am|i'm)\s+an?\s+\w+\s+with\s+(?:full|admin|root|unrestricted)\s+"),
    ("authority", r"\bfull\s+(?:clearance|access\s+rights)\b"),
]
_INJECTION_RES = [(k, re.compile(p, re.IGNORECASE)) for k, p in _INJECTION_PATTERNS]


def injection_findings(text: str) -> list[Finding]:
    """Instruction-like passages in ``text`` (a question or a retrieved passage)."""
    found = []
    for kind, rx in _INJECTION_RES:
        for m in rx.finditer(text):
            found.append(Finding(kind, m.start(), m.end(), rx.pattern[:40]))
    return sorted(found, key=lambda f: f.start)
