"""Personal data becomes stable tokens.

Masking happens before text reaches an index, a prompt, a log line, an audit row or a cache
key. A value is replaced by ``<KIND_n>``; the same value always gets the same token in one
store, because the number is looked up by a keyed HMAC of the value (the key lives in a file
outside the database, so the table of digests cannot be brute-forced from a stolen database).

Detection fails closed: any error inside a recognizer raises :class:`GuardError`, and callers
must then not use the text at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from steward.errors import GuardError
from steward.store import Store
from steward.store.models import PiiToken

log = logging.getLogger(__name__)

# Presidio entity -> our token kind. Only entities with reliable patterns are on by default.
PRESIDIO_KINDS = {
    "CREDIT_CARD": "CARD",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
}
DIGIT_KINDS = frozenset({"CARD", "PHONE", "SSN", "ACCOUNT"})
_TOKEN_RE = re.compile(r"<([A-Z_]+)_(\d+)>")


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int
    score: float = 1.0
    recognizer: str = ""


class Recognizer(Protocol):
    """Finds personal values in text.

    >>> class Ticket:
    ...     name = "ticket-id"
    ...     def find(self, text: str) -> list[Span]:
    ...         return [Span("TICKET", m.start(), m.end()) for m in re.finditer(r"T-\\d+", text)]
    """

    name: str

    def find(self, text: str) -> list[Span]: ...


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class CardRecognizer:
    """Payment card numbers in any grouping (4-4-4-4, 4-6-5, none), Luhn-checked."""

    name = "card-luhn"
    _re = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")

    def find(self, text: str) -> list[Span]:
        out = []
        for m in self._re.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits):
                out.append(Span("CARD", m.start(), m.end(), 1.0, self.name))
        return out


class PhoneRecognizer:
    """North-American and international numbers written with separators or a leading +."""

    name = "phone"
    _re = re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)"
        r"|(?<![\w+])\+\d{1,3}(?:[ .-]?\d{2,4}){2,4}(?!\d)"
    )

    def find(self, text: str) -> list[Span]:
        return [Span("PHONE", m.start(), m.end(), 0.9, self.name) for m in self._re.finditer(text)]


class PresidioRecognizer:
    """Presidio's pattern recognizers (no NER model: spaCy runs blank, offline)."""

    name = "presidio"

    def __init__(self, entities: Sequence[str] = tuple(PRESIDIO_KINDS), min_score: float = 0.5):
        self.entities = list(entities)
        self.min_score = min_score
        self._engine = _presidio_engine()

    def find(self, text: str) -> list[Span]:
        results = self._engine.analyze(text=text, language="en", entities=self.entities)
        return [
            Span(
                PRESIDIO_KINDS.get(r.entity_type, r.entity_type), r.start, r.end, r.score, self.name
            )
            for r in results
            if r.score >= self.min_score
        ]


@cache
def _presidio_engine() -> Any:
    # Presidio's e-mail check uses tldextract, which by default downloads the public-suffix
    # list; point it at the snapshot bundled in the package so nothing touches the network.
    import tldextract
    import tldextract.tldextract as tld_module

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacy(SpacyNlpEngine):
        """The default engine downloads a spaCy model; a blank pipeline needs nothing."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    # Presidio warns about every recognizer of other languages it skips; that is expected here.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    nlp = BlankSpacy(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])


def default_recognizers() -> list[Recognizer]:
    return [PresidioRecognizer(), CardRecognizer(), PhoneRecognizer()]


def _normalise(kind: str, value: str) -> str:
    if kind in DIGIT_KINDS:
        return re.sub(r"\D", "", value)
    return " ".join(value.casefold().split())


def _value_pattern(kind: str, value: str) -> str:
    """A regex that finds ``value`` however it is spaced or punctuated in free text."""
    digits = re.sub(r"\D", "", value)
    if kind in DIGIT_KINDS or (len(digits) >= 7 and len(digits) >= len(value) * 0.6):
        sep = r"[\s.()/-]*"
        alts = [sep.join(digits)]
        if kind == "PHONE" and len(digits) == 11 and digits.startswith("1"):
            alts.append(sep.join(digits[1:]))  # the same number without the country code
        return r"(?<!\d)(?:\+?" + "|".join(alts) + r")(?!\d)"
    words = [re.escape(w) for w in value.split()]
    return r"(?<!\w)" + r"[\s,]+".join(words) + r"(?!\w)"


def declared_variants(kind: str, value: str) -> list[tuple[str, str]]:
    """Values to mask for one declared field: the value, plus its parts for names/addresses."""
    value = value.strip()
    if not value:
        return []
    out = [(kind, value)]
    if kind == "NAME":
        out += [(kind, part) for part in re.split(r"[\s-]+", value) if len(part) >= 3]
    elif kind == "ADDRESS" and "," in value:
        out.append((kind, value.split(",")[0]))
    return out


@dataclass
class Masked:
    text: str
    entities: list[tuple[str, str]] = field(default_factory=list)  # (kind, token)

    @property
    def kinds(self) -> list[str]:
        return sorted({k for k, _ in self.entities})


class TokenBook:
    """Stable ``<KIND_n>`` numbers, keyed by an HMAC of the value. Holds no raw value."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self._key = key
        self._cache: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def digest(self, kind: str, value: str) -> str:
        msg = f"{kind}\x00{_normalise(kind, value)}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def token(self, kind: str, value: str) -> str:
        digest = self.digest(kind, value)
        with self._lock:
            number = self._cache.get((kind, digest))
            if number is None:
                number = self._lookup_or_create(kind, digest)
                self._cache[(kind, digest)] = number
        return f"<{kind}_{number}>"

    def _lookup_or_create(self, kind: str, digest: str) -> int:
        for _ in range(5):
            with self.store.read() as s:
                found = s.scalars(
                    select(PiiToken.number).where(PiiToken.kind == kind, PiiToken.digest == digest)
                ).first()
            if found is not None:
                return int(found)
            try:
                with self.store.write() as (s, _):
                    top = s.scalar(select(func.max(PiiToken.number)).where(PiiToken.kind == kind))
                    number = int(top or 0) + 1
                    s.add(PiiToken(kind=kind, digest=digest, number=number))
                return number
            except IntegrityError:
                continue  # another writer took the number; read again
        raise GuardError("Could not allocate a PII token after 5 attempts.", kind=kind)


def load_or_create_key(path: Path) -> bytes:
    """The store's masking key: 32 random bytes in a 0600 file, created on first use."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


class Masker:
    """Replaces personal values with stable tokens. Thread-safe; reuse one per store."""

    def __init__(
        self,
        tokens: TokenBook,
        recognizers: Sequence[Recognizer] | None = None,
        allow: Iterable[str] = (),
    ) -> None:
        self.tokens = tokens
        self.recognizers = list(recognizers) if recognizers is not None else default_recognizers()
        self.allow = [re.compile(a) for a in allow]

    def find(
        self,
        text: str,
        declared: Sequence[tuple[str, str]] = (),
        allow: Sequence[re.Pattern[str]] = (),
    ) -> list[Span]:
        """Spans to mask, declared values first, overlaps resolved to the longest."""
        spans: list[Span] = []
        for kind, value in declared:
            for v_kind, v in declared_variants(kind, value):
                for m in re.finditer(_value_pattern(v_kind, v), text, re.IGNORECASE):
                    spans.append(Span(v_kind, m.start(), m.end(), 2.0, "declared"))
        try:
            for rec in self.recognizers:
                spans.extend(rec.find(text))
        except Exception as exc:
            # Fail closed: the caller must not use text we could not check.
            raise GuardError(
                f"PII detection failed in {type(exc).__name__}; text withheld."
            ) from exc
        # Allow-listed values (published hotlines, role mailboxes) stay readable: any detected
        # span inside an allow-list match is dropped. Declared values are always masked.
        allowed = [(m.start(), m.end()) for rx in [*self.allow, *allow] for m in rx.finditer(text)]
        spans = [
            sp
            for sp in spans
            if sp.recognizer == "declared"
            or not any(a <= sp.start and sp.end <= b for a, b in allowed)
        ]
        spans.sort(key=lambda sp: (-sp.score, -(sp.end - sp.start), sp.start))
        chosen: list[Span] = []
        for sp in spans:
            if all(sp.end <= c.start or sp.start >= c.end for c in chosen):
                chosen.append(sp)
        return sorted(chosen, key=lambda sp: sp.start)

    def mask(
        self,
        text: str,
        declared: Sequence[tuple[str, str]] = (),
        allow: Sequence[re.Pattern[str]] = (),
    ) -> Masked:
        spans = self.find(text, declared, allow)
        out: list[str] = []
        entities: list[tuple[str, str]] = []
        pos = 0
        for sp in spans:
            token = self.tokens.token(sp.kind, text[sp.start : sp.end])
            out += [text[pos : sp.start], token]
            entities.append((sp.kind, token))
            pos = sp.end
        out.append(text[pos:])
        return Masked("".join(out), entities)


def tokens_in(text: str) -> list[str]:
    return [m.group() for m in _TOKEN_RE.finditer(text)]
