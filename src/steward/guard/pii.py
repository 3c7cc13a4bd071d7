"""Personal data becomes stable tokens.

Masking happens before text reaches an index, a prompt, a log line, an audit row or a cache
key. A value is replaced by ``<KIND_n>``; the same value always gets the same token in one
store, because the number is looked up by a keyed HMAC of the value (the key lives in a file
outside the database, so the table of digests cannot be brute-forced from a stolen database).

Kinds found by the built-in recognizers: CARD, PHONE, EMAIL, IBAN, SSN, IP, SWIFT, DOB, and
(``kinds``) CVV, EXPIRY and PIN (dropped: a fixed ``<CVV>``, never tokenised or stored),
PASSPORT, NATIONAL_ID, DRIVER_LICENSE, ACCOUNT, ROUTING, SORT_CODE, NAME and ADDRESS. Text is
NFKC-normalised before matching (full-width digits), offsets stay in the original. Names and
addresses already tokenised (a record's declared fields) are recognised again by keyed digest
(``Masker.known_spans``).
Declared fields of a structured source add theirs (NAME, ADDRESS...), and operators add
pattern recognizers of their own kinds from YAML (:func:`load_custom_recognizers`). Where a
value only looks personal in context (a date is a birth date, digits are an account number),
the recognizer asks for that context, so that policy text (amounts, times, codes, dates,
extensions) stays readable.

Detection fails closed: any error inside a recognizer raises :class:`GuardError`, and callers
must then not use the text at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from steward.config.yamlfile import first_error, load_yaml
from steward.core.errors import GuardError, InputError
from steward.core.secretfile import read_or_create
from steward.guard.hidden import latin_look_alikes, read_through, strip_invisible
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
# Cards and phones have Steward's own recognizers (Luhn with card context, telephone context):
# Presidio's take 15-digit order numbers starting with 1 for cards and ZIP + street number pairs
# for phones, so only the entities below are asked of Presidio by default.
PRESIDIO_DEFAULT_ENTITIES = ("EMAIL_ADDRESS", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
DIGIT_KINDS = frozenset({"CARD", "PHONE", "SSN", "ACCOUNT", "ROUTING", "SORT_CODE"})
# Letters and digits written in groups or not, in either case: one value however typed.
SPACED_KINDS = frozenset({"IBAN", "PASSPORT", "DRIVER_LICENSE", "NATIONAL_ID"})
# Sensitive authentication data (PCI DSS 3.2): replaced by a fixed marker, never tokenised (no
# digest is stored) and never sealed in the vault.
DROPPED_KINDS = frozenset({"CVV", "EXPIRY", "PIN", "SECRET"})
# Kinds whose values, once any record or question has tokenised them, are recognised again when
# typed into a text (by their keyed digests; see Masker.known_spans).
KNOWN_VALUE_KINDS = ("NAME", "ADDRESS")
_KNOWN_MAX_WORDS = 8
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


def _cue(words: str) -> re.Pattern[str]:
    """Context words as one case-insensitive regex (whole words, plural/suffix allowed)."""
    return re.compile(r"(?<![A-Za-z])(?:" + words + r")", re.IGNORECASE)


def _near(
    text: str, start: int, end: int, cue: re.Pattern[str], before: int = 40, after: int = 0
) -> bool:
    """Whether ``cue`` occurs in the ``before`` characters ahead of a value or ``after`` behind."""
    if cue.search(text, max(0, start - before), start):
        return True
    return after > 0 and cue.search(text, end, min(len(text), end + after)) is not None


_CARD_CUE = _cue(
    r"cards?\b|cc\b|credit\b|debit\b|visa|master ?card|amex|american express|discover\b"
    r"|maestro|jcb\b|diners|unionpay"
    r"|tarjeta|carte\b|karte\b|carta\b|kaart\b|cart[ãa]o"
)


# A card word right before a number, only its label between: "card number is", "Karte:".
_CARD_RIGHT_BEFORE = re.compile(
    _CARD_CUE.pattern + r"(?:\s+(?:number|no\.?|num|nr|n[°º]|numero|número|nummer|is|was|de|"
    r"wrong|typed))*\s*[:#]?\s*$",
    re.IGNORECASE,
)

_USUAL = (16, 15, 19, 14, 13, 18, 17, 12)  # card lengths, most usual first


class CardRecognizer:
    """Payment card numbers in any grouping (4-4-4-4, 4-6-5, none; spaces, hyphens, dots,
    underscores or slashes), Luhn-checked.

    Without context a number must look like a major network's (13-19 digits, first digit 2-6);
    next to a card word ("card", "visa", "cc") any Luhn-valid 12-19 digits count (Maestro, JCB).
    """

    name = "card-luhn"
    _re = re.compile(
        r"(?<![\w./-])(?:(?:\d[ -]?){11,18}\d|\d{4}(?:\.\d{3,6}){2,4}"
        # Groups split by any one separator, spaced or not ("4111_1111_1111_1111",
        # "4111 - 1111 - 1111 - 1111", "3782*822463*10005", "4111,1111,1111,1111").
        r"|\d{4}(?P<sep>\s*[-_/*.,|~:–—·]\s*|\s{2,})\d{4,6}(?:(?P=sep)\d{3,5}){1,3})"
        r"(?![\w/-]|\.\d)"
    )

    def find(self, text: str) -> list[Span]:
        out = []
        for m in self._re.finditer(text):
            # The run may carry digits that follow the card ("4111 1111 1111 1111 09/27",
            # "... 1111 3 times"): of the run and its shorter prefixes (cut at a separator),
            # the Luhn-valid one of the most usual card length.
            valid = []
            for end in self._ends(m.group()):
                digits = re.sub(r"\D", "", m.group()[:end])
                if 12 <= len(digits) <= 19 and luhn_ok(digits):
                    valid.append((_USUAL.index(len(digits)), end, digits))
            if not valid:
                # A number typed wrong is still most of the card's digits: right after a card
                # word, 13 to 19 digits count without the checksum ("my card 4539 1488 0343
                # 6468", "Tarjeta 4024 0071 0312 8890"), above the phone a run may hold.
                digits = re.sub(r"\D", "", m.group())
                if 13 <= len(digits) <= 19 and _CARD_RIGHT_BEFORE.search(
                    text, max(0, m.start() - 40), m.start()
                ):
                    out.append(Span("CARD", m.start(), m.end(), 0.95, self.name))
                continue
            _, end, digits = min(valid)
            network = len(digits) >= 13 and digits[0] in "23456"
            if network or _near(text, m.start(), m.start() + end, _CARD_CUE):
                out.append(Span("CARD", m.start(), m.start() + end, 1.0, self.name))
        return out

    @staticmethod
    def _ends(run: str) -> list[int]:
        """Where the run may end: its whole length, then before each separator, longest first."""
        cuts = [i for i, ch in enumerate(run) if ch in " -." and i and run[i - 1].isdigit()]
        return [len(run), *sorted(cuts, reverse=True)]


# An extension may follow a number; it stays outside the span, so that an allow-listed
# switchboard number stays readable with any extension after it.
_EXT_NEXT = r"(?=\s?(?:x|ext\.?\s?)\d)"
_PHONE_CUE = _cue(
    r"(?:tele)?phone|tel\b|mobile|cell(?:phone)?\b|fax|landline|whatsapp|call|dial|text(?:ed)?\b"
    r"|sms\b|messages?\b|reach|answering|contact|(?:desk|office|work|home|direct)\s?:"
)
_PHONE_AFTER = re.compile(r"\W{0,3}(?:office|fax|mobile|cell|home|work|desk)\b", re.IGNORECASE)
# A date, also with spaces between day, month and a four-digit year ("pay on 15 06 2025").
_DATE_SHAPE = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
    r"|(?:0?[1-9]|[12]\d|3[01]) (?:0?[1-9]|[12]\d|3[01]) (?:19|20)\d{2}"
)
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# A word naming a reference just before a number: the number is that reference, not a phone.
_REFERENCE_BEFORE = re.compile(
    r"\b(?:ticket|case|ref(?:erence)?|bulletin|order|invoice|claim|confirmation|transaction"
    r"|policy|contract|certificate"
    r"|tracking|form|section|request|incident|batch|file|document|item|id)"
    r"s?\W{0,3}(?:(?:number|no|nr|id)\b\W{0,3}(?:(?:is|was)\s+)?)?[:#]?\s*"
    r"(?:(?-i:[A-Z]{2,5})[-\s]?)?$",  # a reference's letters before its digits: "POL 4471 2290"
    re.IGNORECASE,
)


class PhoneRecognizer:
    """Telephone numbers.

    Written the usual ways (North-American with separators, or international with ``+``/``00``),
    a number is found anywhere. Looser digit groups (``467 3395``, ``0490 75 40 81``,
    ``(37) 788-063``) count only next to a telephone word ("phone", "call me", "mobile", "fax"),
    and never when they are shaped like a date or an IP address. North-American numbers run
    together (``3125550147``) and seven-digit local numbers (``555-0147``) are found without a
    telephone word at the lowest score, so any other kind found on them wins, and not after a
    word naming a reference ("ticket 6015631809").
    """

    name = "phone"

    def __init__(self, bare: bool = True) -> None:
        self.bare = bare  # whether the weaker uncued shapes (_bare) count

    _strong = re.compile(
        r"(?<![\w+])(?:(?:\+|00|011[ .-]?)\d{1,3}[ .-]?)?(?:\(\d{3}\)\s?|\d{3}\s?[ ./-]\s?)"
        r"\d{3}[ ./-]\d{4}(?!\d)"
        r"|(?<![\w+])\+\d{1,3}(?:\s?\(0\))?(?:[ .-]?\d{2,4}){2,4}(?!\d)"
        # The same with 00 for + ("0044 7700 900123"): written in groups, unlike an account number.
        r"|(?<![\w+])00\s?[1-9]\d{0,2}[ .-]\d{1,4}(?:[ .-]?\d{2,4}){1,4}(?!\d)"
    )
    # Weaker shapes, found without a telephone word but yielding to any other kind (an account
    # number with its cue stays an account): North-American numbers run together or half
    # separated ("3125550147", "312 5550147"), with a valid area code and exchange (first digits
    # 2-9), and a seven-digit local number with its hyphen ("555-0147").
    _bare = re.compile(
        r"(?<![\w+/.,$€£:#-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[ ./-]?)"
        r"[2-9]\d{2}[ .-]?\d{4}"
        r"(?![\w%]|[.,/:-]\d)"
        r"|(?<![\w+/.,$€£:#-])[2-9]\d{2}-\d{4}(?![\w%]|[.,/:-]\d)"
    )
    _loose = re.compile(
        # An area code may end with a slash: "089/32168745", "089 / 321 687 46".
        r"(?<![\w+$€£.,/:-])(?:(?:\+|00)\s?\d{1,3}\s?)?(?:\(\d{1,4}\)\s?|\d{2,5}\s?/\s?)?"
        r"\d(?:[ .-]?\d){5,16}"
        r"(?:" + _EXT_NEXT + r"|(?![\w%]|[.,:/-]\d))"
    )

    @staticmethod
    def _loose_ok(text: str, m: re.Match[str]) -> bool:
        value = m.group()
        digits = sum(ch.isdigit() for ch in value)
        if not 7 <= digits <= 15 or _DATE_SHAPE.fullmatch(value) or _IPV4_SHAPE.fullmatch(value):
            return False
        return _near(text, m.start(), m.end(), _PHONE_CUE) or bool(
            _PHONE_AFTER.match(text, m.end())
        )

    def find(self, text: str) -> list[Span]:
        out = [
            Span("PHONE", m.start(), m.end(), 0.9, self.name) for m in self._strong.finditer(text)
        ]
        for m in self._loose.finditer(text):
            if (
                self._loose_ok(text, m)
                and not _REFERENCE_BEFORE.search(text, max(0, m.start() - 32), m.start())
                and not any(m.start() < sp.end and sp.start < m.end() for sp in out)
            ):
                out.append(Span("PHONE", m.start(), m.end(), 0.6, self.name))
        for m in self._bare.finditer(text) if self.bare else ():
            if _REFERENCE_BEFORE.search(text, max(0, m.start() - 32), m.start()):
                continue  # "ticket 6015631809", "bulletin no. 9328775218": a reference
            if not any(m.start() < sp.end and sp.start < m.end() for sp in out):
                out.append(Span("PHONE", m.start(), m.end(), 0.3, self.name))
        return out


# ISO 3166 country codes (with XK, used by SWIFT for Kosovo): the 5th-6th letters of a BIC.
_COUNTRIES = frozenset(
    re.findall(
        r"[A-Z]{2}",
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
        "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
        "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
        "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
        "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
        "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
        "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
        "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
        "VN VU WF WS XK YE YT ZA ZM ZW",
    )
)
_BANK_CUE = _cue(r"swift|bic\b|bank identifier|bank code")


class SwiftRecognizer:
    """SWIFT/BIC codes: 4-letter bank, ISO country, 2-character location, optional branch.

    Upper-case words fit that shape ("CUSTOMER" is CUST-OM-ER), so a code counts only right
    after "SWIFT", "BIC" or "bank code", or when its location or branch holds a digit
    (``NWBKGB2L``, ``DEUTDEFF500``), which ordinary words never do.
    """

    name = "swift"
    _re = re.compile(r"(?<![\w-])[A-Z]{4}([A-Z]{2})([A-Z0-9]{2})([A-Z0-9]{3})?(?![\w-])")

    def find(self, text: str) -> list[Span]:
        out = []
        for m in self._re.finditer(text):
            if m.group(1) not in _COUNTRIES:
                continue
            coded = any(ch.isdigit() for ch in m.group(2) + (m.group(3) or ""))
            if coded or _near(text, m.start(), m.end(), _BANK_CUE, before=20):
                out.append(Span("SWIFT", m.start(), m.end(), 0.85, self.name))
        return out


_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
# Month names of the languages a European bank hears most, whole (their prefixes would be
# ordinary words: "mar", "mai").
_FOREIGN_MONTHS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "januar februar märz april mai juni juli august september oktober november dezember",
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "januari februari maart april mei juni juli augustus september oktober november december",
    "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
)
_MONTHS = (
    {n: i for i, full in enumerate(_MONTH_NAMES, 1) for n in (full, full[:3])}
    | {"sept": 9}
    | {name: i for names in _FOREIGN_MONTHS for i, name in enumerate(names.split(), 1)}
)
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    r"(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y1>\d{4}|\d{2})"
    r"|(?P<y2>\d{4})-(?P<m2>\d{1,2})-(?P<d2>\d{1,2})"
    rf"|(?P<mon3>{_MONTH})\s+(?P<d3>{_DAY}),?\s+(?P<y3>\d{{4}})"
    # "4th of March 1979", "3. Februar 1971", "14 de marzo de 1983"
    rf"|(?P<d4>{_DAY})\.?(?:\s+(?:of|de))?\s+(?P<mon4>{_MONTH})(?:\s+de)?,?\s+(?P<y4>\d{{4}})"
    rf"|(?P<d5>\d{{1,2}})-(?P<mon5>{_MONTH})-(?P<y5>\d{{4}}|\d{{2}})"  # "7-Jul-75"
    r")(?![\w/-]|\.\d)",
    re.IGNORECASE,
)
_BIRTH_CUE = _cue(
    r"date of birth|birth ?date|birthday|d\.?o\.?b\b\.?|born\b|b\.\s"
    # The same in the languages a European bank hears most.
    r"|n[ée]e? le\b|date de naissance|geboren\b|geburtsdatum|geburtstag|fecha de nacimiento"
    r"|nac[íi][óo]? el\b|nacid[ao] el\b|data di nascita|nat[oa] il\b|geboortedatum"
    r"|data de nascimento|nascid[ao] em\b|nasci em\b"
)
_BIRTH_AFTER = re.compile(r"\s*[(\[,-]?\s*(?:date of birth|birth ?date|d\.?o\.?b\b)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!]\s")
# A date in the sentence after a cue ("Your date of birth? ... It's 3/4/1979.") counts only if it
# is this many years old: policy dates nearby (effective, due, updated) are recent.
_BIRTH_MIN_AGE_YEARS = 10


def parse_date(text: str) -> date | None:
    """A calendar date written as 3/4/1979, 1979-03-04, March 4, 1979 or 4th of March 1979.

    Numeric day/month order is read as month first (US), unless the first number exceeds 12.
    """
    m = _DATE.fullmatch(text.strip())
    if m is None:
        return None
    g = m.groupdict()
    if g["a"]:
        month, day, year = int(g["a"]), int(g["b"]), int(g["y1"])
        if month > 12:
            month, day = day, month
        if year < 100:  # two-digit years are birth years, so always in the past
            year += 2000 if year + 2000 <= date.today().year else 1900
    elif g["y2"]:
        year, month, day = int(g["y2"]), int(g["m2"]), int(g["d2"])
    else:
        mon, d, y = next((g[f"mon{i}"], g[f"d{i}"], g[f"y{i}"]) for i in (3, 4, 5) if g[f"mon{i}"])
        month = _MONTHS[mon.rstrip(".").casefold()]
        day, year = int(re.sub(r"\D", "", d)), int(y)
        if year < 100:
            year += 2000 if year + 2000 <= date.today().year else 1900
    try:
        return date(year, month, day)
    except ValueError:
        return None


class DobRecognizer:
    """Dates of birth: a date next to "date of birth", "DOB", "born", "birthday".

    Dates alone (a policy's effective date, a due date) stay readable. The cue must come after
    any earlier date (one "date of birth" does not pull in every date of a paragraph), within
    60 characters, in the same sentence or, for a date at least ten years old, the next one.
    """

    name = "dob"

    def find(self, text: str) -> list[Span]:
        out = []
        prev_end = 0
        for m in _DATE.finditer(text):
            when = parse_date(m.group())
            if when is None:
                continue
            if _BIRTH_AFTER.match(text, m.end()) or self._cued(text, m.start(), prev_end, when):
                out.append(Span("DOB", m.start(), m.end(), 0.85, self.name))
            prev_end = m.end()
        return out

    @staticmethod
    def _cued(text: str, start: int, prev_end: int, when: date) -> bool:
        cues = list(_BIRTH_CUE.finditer(text, max(prev_end, start - 60), start))
        if not cues:
            return False
        if not _SENTENCE_END.search(text, cues[-1].end(), start):
            return True
        return when.year <= date.today().year - _BIRTH_MIN_AGE_YEARS


_ACCOUNT_CUE = _cue(
    r"account(?:\s+(?:number|no\b\.?|num\b|#))?|acct\b\.?|a/c\b|routing|aba\b|sort code"
)

_GAP_BREAK = re.compile(r"\d|[.!?;]\s")


class AccountRecognizer:
    """Bank account and routing numbers: 6-17 digits right after "account number", "acct",
    "routing". Amounts, counts and the last four digits of an account stay readable."""

    name = "account"
    _re = re.compile(r"(?<![\w$€£.,/:-])\d(?:[ -]?\d){5,16}(?![\w%]|[.,:/-]\d)")

    def find(self, text: str) -> list[Span]:
        out = []
        for m in self._re.finditer(text):
            if _DATE_SHAPE.fullmatch(m.group()):
                continue
            cues = list(_ACCOUNT_CUE.finditer(text, max(0, m.start() - 30), m.start()))
            # Only words between cue and number: "account opened 2024, ref 123456" is no account.
            if cues and not _GAP_BREAK.search(text, cues[-1].end(), m.start()):
                out.append(Span("ACCOUNT", m.start(), m.end(), 0.8, self.name))
        return out


class CustomRecognizer:
    r"""An operator's pattern, optionally only near context words (``load_custom_recognizers``).

    >>> rec = CustomRecognizer("MEMBER_ID", r"HM-\d{8}", context=["member"])
    >>> [s.kind for s in rec.find("member HM-12345678")], rec.find("part HM-12345678")
    (['MEMBER_ID'], [])
    """

    def __init__(
        self,
        kind: str,
        pattern: str | re.Pattern[str],
        context: Sequence[str] = (),
        score: float = 0.85,
        name: str | None = None,
    ) -> None:
        self.kind = kind
        self.name = name or f"custom:{kind}"
        self.pattern = re.compile(pattern)
        self.score = score
        words = "|".join(re.escape(w.strip()) for w in context if w.strip())
        self.context = _cue(words) if words else None

    def find(self, text: str) -> list[Span]:
        return [
            Span(self.kind, m.start(), m.end(), self.score, self.name)
            for m in self.pattern.finditer(text)
            if m.end() > m.start()
            and (self.context is None or _near(text, m.start(), m.end(), self.context, 40, 40))
        ]


class _CustomSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^[A-Z](?:[A-Z_]{0,30}[A-Z])?$")
    pattern: str = Field(min_length=1)
    context: list[str] = Field(default_factory=list)
    score: float = Field(default=0.85, gt=0.0, le=1.0)


class _CustomFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recognizers: list[_CustomSpec]


def load_custom_recognizers(path: Path) -> list[Recognizer]:
    r"""Recognizers from an operator's YAML file, for example:

    .. code-block:: yaml

        recognizers:
          - kind: MEMBER_ID            # upper-case letters and _, becomes <MEMBER_ID_n>
            pattern: 'HM-\d{8}'        # a Python regex, case-sensitive
            context: [member, policy]  # optional: only within 40 characters of these words
            score: 0.9                 # optional (0-1]; higher wins where spans overlap

    A bad file raises :class:`InputError` naming the recognizer and the key to fix.
    """
    where = f"PII recognizers file {path}"
    spec = load_yaml(
        path,
        _CustomFile,
        what="PII recognizers file",
        error=InputError,
        shape="a `recognizers:` list",
        explain=_explain,
    )
    out: list[Recognizer] = []
    for i, r in enumerate(spec.recognizers, 1):
        try:
            rx = re.compile(r.pattern)
        except re.error as exc:
            raise InputError(
                f"{where}: recognizer {i} ({r.kind}): pattern {r.pattern!r} is not a valid "
                f"regular expression: {exc}"
            ) from exc
        if rx.fullmatch(""):
            raise InputError(
                f"{where}: recognizer {i} ({r.kind}): pattern {r.pattern!r} matches empty text; "
                "make it match at least one character."
            )
        out.append(CustomRecognizer(r.kind, rx, r.context, r.score))
    return out


def _explain(exc: ValidationError) -> str:
    first = first_error(exc)  # the misspelling, where a key is misspelt
    loc = list(first["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "recognizers" and isinstance(loc[1], int):
        where = f"recognizer {loc[1] + 1}: "
        loc = loc[2:]
    field_name = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        allowed = "recognizers" if not where else ", ".join(_CustomSpec.model_fields)
        return f"{where}unknown key {field_name!r} (allowed: {allowed})."
    if first["type"] == "string_pattern_mismatch":
        return (
            f"{where}kind {first['input']!r} must be upper-case letters and underscores "
            "(e.g. MEMBER_ID)."
        )
    if first["type"] == "model_type" and not loc and not where:
        return "expected a mapping with a `recognizers:` list."
    return f"{where}{field_name or 'value'}: {first['msg']}."


_DIGIT_OR_IPV6 = re.compile(r"\d|::")


class PresidioRecognizer:
    """Presidio's pattern recognizers (no NER model: spaCy runs blank, offline)."""

    name = "presidio"

    def __init__(
        self, entities: Sequence[str] = PRESIDIO_DEFAULT_ENTITIES, min_score: float = 0.5
    ) -> None:
        self.entities = list(entities)
        self.min_score = min_score
        # IBANs, SSNs and IP addresses all hold a digit (an IPv6 address at least "::"): for
        # these alone, a text without one is not read, and Presidio (about 1.7 s to import, with
        # spaCy) is loaded only when a text first needs it: a CLI question such as "what is the
        # annual fee?" never does.
        self._digits_only = set(self.entities) <= set(_LEAN_PRESIDIO)

    def find(self, text: str) -> list[Span]:
        if self._digits_only and not _DIGIT_OR_IPV6.search(text):
            return []
        engine = _presidio_engine(tuple(sorted(self.entities)))
        results = engine.analyze(text=text, language="en", entities=self.entities)
        return [
            Span(
                PRESIDIO_KINDS.get(r.entity_type, r.entity_type), r.start, r.end, r.score, self.name
            )
            for r in results
            if r.score >= self.min_score
        ]


@cache
def blank_nlp_engine() -> Any:
    """Presidio's spaCy engine on a blank English pipeline: no model download, no NER."""
    # Presidio's e-mail check uses tldextract, which by default downloads the public-suffix
    # list; point it at the snapshot bundled in the package so nothing touches the network.
    import tldextract
    import tldextract.tldextract as tld_module

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacy(SpacyNlpEngine):
        """The default engine downloads a spaCy model; a blank pipeline needs nothing."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    # Presidio warns about every recognizer of other languages it skips; that is expected here.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    nlp = BlankSpacy(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp.load()
    return nlp


# The predefined recognizers Steward's default masker asks Presidio for, built alone: loading
# all of Presidio's ~40 (180 regexes) costs about 1.5 s in every process that masks a text.
_LEAN_PRESIDIO = {
    "IBAN_CODE": "IbanRecognizer",
    "IP_ADDRESS": "IpRecognizer",
    "US_SSN": "UsSsnRecognizer",
}


@cache
def _presidio_engine(entities: tuple[str, ...]) -> Any:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer import predefined_recognizers as predefined

    nlp = blank_nlp_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    if set(entities) <= set(_LEAN_PRESIDIO):
        for entity in entities:
            registry.add_recognizer(getattr(predefined, _LEAN_PRESIDIO[entity])())
    else:
        registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])


def default_recognizers() -> list[Recognizer]:
    """Steward's built-in recognizers, fresh instances; compose with custom ones freely."""
    from steward.guard.kinds import kind_recognizers

    return [
        # E-mail has its own recognizer (any TLD); Presidio's checks a suffix list.
        PresidioRecognizer(entities=("IBAN_CODE", "US_SSN", "IP_ADDRESS")),
        CardRecognizer(),
        SwiftRecognizer(),
        DobRecognizer(),
        *kind_recognizers(),
    ]


def baseline_recognizers() -> list[Recognizer]:
    """The built-in recognizers as they were before issue #16 (for benchmarks beside them)."""
    return [
        PresidioRecognizer(),
        CardRecognizer(),
        PhoneRecognizer(bare=False),
        SwiftRecognizer(),
        DobRecognizer(),
        AccountRecognizer(),
    ]


def recognizers_for(custom_file: Path | None = None) -> list[Recognizer]:
    """The built-in recognizers plus an operator's custom ones (``pii_recognizers_file``)."""
    custom = load_custom_recognizers(custom_file) if custom_file is not None else []
    return [*default_recognizers(), *custom]


def _normalise(kind: str, value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    if kind in DIGIT_KINDS:
        return re.sub(r"\D", "", value)
    if kind in SPACED_KINDS:  # "GB82 WEST 1234 ..." and "gb82west1234..." are one IBAN
        return re.sub(r"[\W_]", "", value).upper()
    if kind == "DOB" and (when := parse_date(value)) is not None:
        return when.isoformat()  # 3/4/1979, March 4, 1979 and 1979-03-04 share one token
    # Read as a reader sees it: "Sаm Bаker" with Cyrillic "а"s, or a zero-width space inside
    # it, is the same name as "Sam Baker", and so has the same token.
    value = latin_look_alikes(strip_invisible(value)[0])
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
    """Values to mask for one declared field: the value, plus its parts for names (each name)
    and addresses (the street line, a trailing ZIP code)."""
    value = value.strip()
    if not value:
        return []
    out = [(kind, value)]
    if kind == "NAME":
        out += [(kind, part) for part in re.split(r"[\s-]+", value) if len(part) >= 3]
        # A double-barrelled surname typed whole ("Fairweather-Nkemelu") is a part too.
        out += [(kind, word) for word in value.split() if "-" in word.strip("-")]
    elif kind == "ADDRESS":
        if "," in value:
            out.append((kind, value.split(",")[0]))  # the street line
        if zip_code := re.search(r"(?<!\d)\d{5}(?:-\d{4})?$", value):
            out.append((kind, zip_code.group()))  # read back alone to verify an identity
    return out


# Hyphens and dashes typed between digits (a non-breaking hyphen in "536\u201122\u20118471", en
# dashes in a phone number) are read as "-".
_DASHES = {ch: "-" for ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"}


def _nfkc(text: str) -> tuple[str, list[int]]:
    """``text`` NFKC-normalised (full-width digits, no-break spaces become ASCII) and, for each
    character of the result, the index of the original character it came from."""
    if text.isascii():
        return text, list(range(len(text) + 1))
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.combining(ch):
            continue  # "Mu\u0308ller" (a decomposed ü) reads as "Muller": a name's letters
        n = _DASHES.get(ch) or unicodedata.normalize("NFKC", ch) or ch
        out.append(n)
        where.extend([i] * len(n))
    where.append(len(text))
    return "".join(out), where


@dataclass
class Masked:
    text: str
    entities: list[tuple[str, str]] = field(default_factory=list)  # (kind, token)

    @property
    def kinds(self) -> list[str]:
        return sorted({k for k, _ in self.entities})


def _addresses_widened(chosen: list[Span], dropped: list[Span]) -> list[Span]:
    """A chosen address widened over the addresses that lost to it by overlapping it, found by
    other rules ("77 Pinecrest Drive" by its street type, "77 Pinecrest Drive, Boise, Idaho
    83702" after "ship it to"), where the union overlaps nothing else chosen (a telephone on
    the next line keeps its own token). Declared and known values keep their own span."""
    fixed = ("declared", "known")
    out = list(chosen)
    for i, sp in enumerate(out):
        if sp.kind != "ADDRESS" or sp.recognizer in fixed:
            continue
        for other in dropped:
            if other.kind != "ADDRESS" or other.recognizer in fixed:
                continue
            if other.end <= sp.start or other.start >= sp.end:
                continue
            start, end = min(sp.start, other.start), max(sp.end, other.end)
            if all(c is out[i] or c.end <= start or c.start >= end for c in out):
                sp = out[i] = Span("ADDRESS", start, end, sp.score, sp.recognizer)
    return out


def _joined_addresses(text: str, spans: list[Span]) -> list[Span]:
    """Pieces of one address block found by different rules ("971 Kesk 53", then "Suite 343"
    on the next line) as one span: one token for the block. Declared and known values keep
    their own span, so they keep their record's token."""
    out: list[Span] = []
    for sp in spans:
        last = out[-1] if out else None
        if (
            last is not None
            and last.kind == sp.kind == "ADDRESS"
            and "declared" not in (last.recognizer, sp.recognizer)
            and "known" not in (last.recognizer, sp.recognizer)
            and _ADDRESS_GAP.fullmatch(text, last.end, sp.start)
        ):
            out[-1] = Span(
                "ADDRESS", last.start, sp.end, max(last.score, sp.score), last.recognizer
            )
        else:
            out.append(sp)
    return out


_ADDRESS_GAP = re.compile(r"[\s,;]{0,4}")
# A flat written before its building's address: "Apt 4B, 300 E 57th St", "Unit 5, 12 King's Road".
_UNIT_BEFORE = re.compile(
    r"(?:(?<!\w)(?i:apt\.?|apartment|unit|flat|suite|ste\.?|room|rm\.?)(?:\s*#\s*|\s+)|(?<![\w#])#)"
    r"(?=\w{0,4}\d|[A-Za-z]\b)\w{1,5},?\s+$|(?<![\w#])#$"
)


# A second number right before the house number, on its line: a flat or a building written
# without its word ("3369 24 Clarke Avenue", "5533 119 Countess Close"); not an amount ("$500").
_NUMBER_BEFORE = re.compile(r"(?<![\w.,/:$€£#+-])\d{3,6}[^\S\n]$")
# A line (or what follows a colon) that opens with a number and a street's name, where a rule
# read the address from the house number after the name on: "20789 Allika 46", "213
# Pilekrogen 53 Apt. 263", "462 Stubengraben 80" (a number, then the street the continental way).
_STREET_NAME_BEFORE = re.compile(
    r"(?:^|(?<=\n)|(?<=:[^\S\n]))[>?*\s]*\d{1,6}[^\S\n]+(?:[^\W\d_][\w'’.-]*[^\S\n]+){1,3}$"
)


def _units_before(text: str, spans: list[Span]) -> list[Span]:
    """Each address widened over a flat written before it, the bare number of one before its
    house number, or the number and street name that open its line, where nothing else is
    masked there (spans in text order)."""
    out = list(spans)
    for i, sp in enumerate(out):
        if sp.kind != "ADDRESS" or sp.recognizer in ("declared", "known"):
            continue
        unit = _UNIT_BEFORE.search(text, max(0, sp.start - 24), sp.start)
        if unit is None and text[sp.start : sp.start + 1].isdigit():
            unit = _NUMBER_BEFORE.search(text, max(0, sp.start - 8), sp.start)
            line = text.rfind("\n", 0, sp.start) + 1
            unit = unit or _STREET_NAME_BEFORE.search(text, line, sp.start)
        if unit and (i == 0 or out[i - 1].end <= unit.start()):
            out[i] = Span("ADDRESS", unit.start(), sp.end, sp.score, sp.recognizer)
    return out


# A new sentence inside what a rule read as an address: a stop or a line break, then a word
# that opens a question or a capitalised word before a lower-case one ("12 Elm St. Is there
# ...", "Via Roma 131. Come posso ...", "10 Downing St.\nWhat is ..."); "St. Mary's Road",
# "Springfield, IL" and "New York" go on with the address.
_SENTENCE_IN_ADDRESS = re.compile(
    r"(?:(?<=[.!?])[^\S\n]+|[^\S\n]*\n\s*)(?=(?:How|What|When|Where|Why|Who|Which|Is|Are|Can"
    r"|Could|Do|Does|Did|Will|Would|Should|Am|Was|Were|Has|Have|May|Please|Thanks|Thank|I|We"
    r"|My|Our)\b"
    # Not a particle inside a town's name: "Caxias do Sul", "Villafranca del Cid".
    r"|[A-ZÀ-ÖØ-Þ][^\W\d_']*'?[^\W\d_]*[^\S\n]+(?!(?:d[aeiou]s?|del|della|dei|der|den|la|le|les|van|von|y|e|sur"
    r"|upon|on|am|an|im|nad|pod|ter|ten|aan|op|in)\b)[a-z])"
)


# A stop, a space and a capital end a sentence, unless the stop ends an abbreviation or an
# initial ("12 Main St. Louis", "P.O. Box"): "... Millbrook Lane. Am I covered?".
_STOP_THEN_CAPITAL = re.compile(r"(\w+)[.!?][^\S\n]+(?=[A-Z][^\W\d_])")  # not "bât. B"
_ABBREVIATIONS = frozenset(
    [
        *("st", "rd", "ave", "av", "dr", "ln", "blvd", "ct", "pl", "sq", "str", "no", "nr"),
        *("apt", "ste", "mt", "ft", "hwy", "pkwy", "ter", "cres", "bd", "avda", "ul", "al", "os"),
        *("bât", "bat", "esc", "int", "dpto", "depto", "co"),  # "Co. Cork" (county)
    ]
)


def _sentence_start(text: str, start: int, end: int) -> int | None:
    """Where a new sentence starts inside ``text[start:end]``, or None."""
    cut = _SENTENCE_IN_ADDRESS.search(text, start + 1)  # its lookahead reads on
    found = [cut.start()] if cut is not None and cut.start() < end else []
    for stop in _STOP_THEN_CAPITAL.finditer(text, start, end):
        word = stop.group(1)
        if len(word) > 1 and not word.isdigit() and word.lower() not in _ABBREVIATIONS:
            found.append(stop.end(1))
            break
    return min(found) if found else None


def _sentences_cut(text: str, spans: list[Span]) -> list[Span]:
    """Each address cut where a new sentence starts inside it (``_SENTENCE_IN_ADDRESS``),
    without the stop that ended the address. Declared and known values keep their span."""
    out = []
    for sp in spans:
        if sp.kind == "ADDRESS" and sp.recognizer not in ("declared", "known"):
            end = _sentence_start(text, sp.start, sp.end)
            if end is not None:
                while end > sp.start and text[end - 1] in " .,;":
                    end -= 1
                sp = Span("ADDRESS", sp.start, end, sp.score, sp.recognizer)
        out.append(sp)
    return out


def _address_blocks(text: str, spans: list[Span]) -> list[Span]:
    """Each address widened over the rest of its block (``addresses.block_end``): the flat,
    town, postcode and country after it, taking in the address pieces found there and stopping
    short of anything else masked (spans in text order). Declared and known values keep their
    own span."""
    from steward.guard.addresses import block_end  # it imports this module

    fixed = ("declared", "known")
    out: list[Span] = []
    for sp in spans:
        last = out[-1] if out else None
        if (
            last is not None
            and last.end > sp.start
            and sp.kind == "ADDRESS"
            and sp.recognizer not in fixed
        ):
            end = max(last.end, sp.end)
            out[-1] = Span("ADDRESS", last.start, end, last.score, last.recognizer)
            continue
        out.append(sp)
        if sp.kind != "ADDRESS" or sp.recognizer in fixed:
            continue
        after = [o for o in spans if o.start >= sp.end]
        stop = next((o.start for o in after if o.kind != "ADDRESS" or o.recognizer in fixed), None)
        end = block_end(text, sp.end, stop)
        if end > sp.end:
            out[-1] = Span("ADDRESS", sp.start, end, sp.score, sp.recognizer)
    return out


class TokenBook:
    """Stable ``<KIND_n>`` numbers, keyed by an HMAC of the value. Holds no raw value."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self._key = key
        self._cache: dict[tuple[str, str], int] = {}
        self._declared: set[tuple[str, str]] = set()  # marked declared by this process
        self._lock = threading.Lock()

    def digest(self, kind: str, value: str) -> str:
        msg = f"{kind}\x00{_normalise(kind, value)}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def token(self, kind: str, value: str) -> str:
        if kind in DROPPED_KINDS:
            return f"<{kind}>"  # never numbered: no digest of a CVV or expiry is kept
        digest = self.digest(kind, value)
        with self._lock:
            number = self._cache.get((kind, digest))
            if number is None:
                number = self._lookup_or_create(kind, digest)
                self._cache[(kind, digest)] = number
        return f"<{kind}_{number}>"

    def declare(self, kind: str, value: str) -> str:
        """The value's token, marked as declared personal by a record: typed into a question
        later, it is masked as a known value (:meth:`known_any`)."""
        token = self.token(kind, value)
        if kind in DROPPED_KINDS:
            return token
        digest = self.digest(kind, value)
        with self._lock:
            if (kind, digest) in self._declared:
                return token
        with self.store.write() as (s, _):
            s.execute(
                update(PiiToken)
                .where(PiiToken.kind == kind, PiiToken.digest == digest, ~PiiToken.declared)
                .values(declared=True)
            )
        with self._lock:
            self._declared.add((kind, digest))
        return token

    def known(self, kind: str, digests: Sequence[str]) -> set[str]:
        """Which of ``digests`` already have a ``kind`` token (values seen before)."""
        return {d for k, d in self.known_any([kind], digests) if k == kind}

    def known_any(self, kinds: Sequence[str], digests: Sequence[str]) -> set[tuple[str, str]]:
        """(kind, digest) of the ``digests`` that a record declared personal, with a token of
        one of ``kinds``: one query for every kind (this runs on every question). A token a
        recognizer made is not a known value: one false positive would mask the word forever."""
        found: set[tuple[str, str]] = set()
        unique = sorted(set(digests))
        with self.store.read() as s:
            for i in range(0, len(unique), 500):
                rows = s.execute(
                    select(PiiToken.kind, PiiToken.digest).where(
                        PiiToken.kind.in_(list(kinds)),
                        PiiToken.digest.in_(unique[i : i + 500]),
                        PiiToken.declared,
                    )
                )
                found.update((str(k), str(d)) for k, d in rows)
        return found

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
    return bytes.fromhex(read_or_create(path, lambda: secrets.token_bytes(32).hex()))


def _joined_names(text: str, spans: list[Span]) -> list[Span]:
    """Names found in pieces become one: a known first name ("Priya") inside or beside the
    full name a cue or the model found ("Priya Raghunathan") must not leave the surname out."""
    names = sorted((sp for sp in spans if sp.kind == "NAME"), key=lambda sp: sp.start)
    if len(names) < 2:
        return spans
    joined: list[Span] = []
    for sp in names:
        last = joined[-1] if joined else None
        gap = text[last.end : sp.start] if last is not None else ""
        if last is not None and sp.start <= last.end + 1 and not gap.strip() and "\n" not in gap:
            best = max(last, sp, key=lambda x: x.score)
            joined[-1] = Span(
                "NAME", last.start, max(last.end, sp.end), best.score, best.recognizer
            )
        else:
            joined.append(sp)
    return [sp for sp in spans if sp.kind != "NAME"] + joined


def _repeated_names(
    text: str, spans: list[Span], known: Callable[[str], bool] | None
) -> list[Span]:
    """A name found once is masked wherever else the text writes it the same way ("Gyala
    Antall" in a signature and again in the quoted header; "starring Key" after "directed by
    Brad L Key"), where nothing else is masked; not a word the bank's own documents use."""
    found: set[str] = set()
    for sp in spans:
        if sp.kind == "NAME" and sp.recognizer not in ("declared", "known"):
            value = text[sp.start : sp.end]
            words = value.split()
            # The given name or the surname alone too ("... Maciej Borkowski and starring
            # Borkowski"), where it is cased as a name.
            found |= {value, *(w for w in (words[0], words[-1]) if w[:1].isupper())}
    from steward.guard.kinds import has_word_vectors, vector_row

    out = list(spans)
    for value in sorted(found, key=lambda v: (-len(v), v)):  # the whole name first
        if len(value) < 3 or not value[:1].isupper() or (known is not None and known(value)):
            continue
        # In lower case too ("Kofi ... kofi is at fault") where the word is none the word
        # vectors know ("Grace ... grace period" stays).
        lower = " " not in value and has_word_vectors() and vector_row(value) < 0
        pattern = rf"(?<![\w-])(?:{re.escape(value)}" + (
            rf"|{re.escape(value.lower())})(?![\w-])" if lower else r")(?![\w-])"
        )
        for m in re.finditer(pattern, text):
            if all(m.end() <= o.start or m.start() >= o.end for o in out):
                out.append(Span("NAME", m.start(), m.end(), 0.5, "repeat"))
    return out


# Capitalised words that stand beside a name without being part of it.
_BESIDE_NAME = frozenset(
    [
        *("dear", "hi", "hello", "hey", "thanks", "thank", "regards", "cheers", "mr", "mrs"),
        *("ms", "miss", "dr", "prof", "sir", "madam", "the", "a", "an", "i", "my", "our"),
        *("your", "his", "her", "their", "is", "are", "was", "were", "can", "could", "will"),
        *("would", "should", "please", "what", "how", "when", "where", "why", "who", "which"),
        *("yes", "no", "and", "but", "or", "if", "so", "from", "to", "for", "with", "at", "on"),
        *("in", "of", "by", "yesterday", "today", "tomorrow", "customer", "client", "member"),
        *("agent", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"),
        *("sunday", "january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december", "team", "bank", "card", "account"),
    ]
)
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*")


def _cased_as_name(word: str, known: Callable[[str], bool] | None) -> bool:
    """A word cased as a name ("Hollingsworth", not "ABC" or "x"), not one that stands beside
    names ("Dear", "Mr") nor one of the bank's own words."""
    return (
        _NAME_WORD.fullmatch(word) is not None
        and word[:1].isupper()
        and not word.isupper()
        and len(word) >= 2
        and word.lower() not in _BESIDE_NAME
        and not (known is not None and known(word))
    )


def _name_neighbours(
    text: str, spans: list[Span], known: Callable[[str], bool] | None
) -> list[Span]:
    """A one-word name with a word cased as a name beside it on the same line takes it in: the
    surname after a given name found alone ("Margaret Hollingsworth" after "Margaret"), the given
    name before a known surname ("Priyanka" before "Raman"). Not a word the bank's documents
    use, nor one that stands beside names (``_BESIDE_NAME``: "Dear", "Thanks", "Mr")."""
    from steward.guard.kinds import has_word_vectors, vector_row

    out = sorted(spans, key=lambda sp: sp.start)
    added: list[Span] = []
    for sp in out:
        value = text[sp.start : sp.end]
        if sp.kind != "NAME" or len(value.split()) != 1:
            continue
        before = re.search(
            r"(?:^|(?<=[\s(\[\"']))(\S+)[^\S\n]+$", text[max(0, sp.start - 40) : sp.start]
        )
        # On the next line too, when it holds that word alone ("My name is Horatio\nBlenkinsop").
        after = re.match(
            # Not a label on the next line ("Betreff:"): a surname ends with a stop or the line.
            r"[^\S\n]+(\S+)|[^\S\n]*\r?\n\s*([^\W\d_][\w'’-]*)(?=[.,!?;]|[^\S\n]*(?:\r?\n|$))",
            text[sp.end : sp.end + 40],
        )
        beside = []
        # The word before only beside a record's surname, or when the word vectors do not know
        # it ("Tânia" before "Souza"): before a name found by a cue or the model it is as often
        # the sentence's verb ("Tell Kevin ...").
        if before and (
            sp.recognizer in ("declared", "known")
            or (has_word_vectors() and vector_row(before.group(1)) < 0)
        ):
            word = before.group(1)
            beside.append(
                (sp.start - len(before.group(0)), sp.start - len(before.group(0)) + len(word))
            )
        if after:
            g = 1 if after.group(1) else 2
            beside.append((sp.end + after.start(g), sp.end + after.end(g)))
        for a, b in beside:
            if not _cased_as_name(text[a:b], known) or any(
                o.start < b and a < o.end for o in [*out, *added]
            ):
                continue
            added.append(Span("NAME", a, b, 0.5, "name-beside"))
    # The pieces join up (``_joined_names``): one token per person.
    return _joined_names(text, out + added) if added else spans


# Capitalised words a list of names runs into that are no names ("Smith and Sons"), beside
# those that stand beside names anyway (``_BESIDE_NAME``: weekdays, months, "team", "bank").
_LIST_STOP = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "sons daughters brothers sisters partners associates co company companies inc ltd llc "
        "plc gmbh group others friends family staff all everyone everybody"
    ).split()
)
# A list that names things, not people: its items qualify a noun after it ("Lincoln, Jaguar
# and Austin cars", "Rottweiler and Akita dogs", "Helene, Milton and Ian storms").
_NOT_PEOPLE_LIST = re.compile(
    r"(?:(?:,|[^\S\n]+(?:and|&|or))[^\S\n]+[^\W\d_][\w'’-]*)*[^\S\n]+(?:cars?|vehicles?|"
    r"models?|makes?|brands?|dogs?|cats?|breeds?|horses?|cameras?|phones?|laptops?|watches|"
    r"devices?|bikes?|motorcycles?|boats?|products?|storms?|hurricanes?|cities|towns|counties|"
    r"states|countries|streets?|roads?|branches|offices|hospitals?|schools?|airports?|"
    r"stores?|shops?|restaurants?|hotels?|banks?|insurers?|companies|firms?)\b",
    re.IGNORECASE,
)
# ... or places: "properties in Austin, Madison and Charlotte".
_PLACE_BEFORE_LIST = re.compile(
    r"\b(?:in|at|near|around|across|from|to|between|visiting|via)[^\S\n]+(?:[^\W\d_][\w'’-]*"
    r"(?:,|[^\S\n]+(?:and|&|or))[^\S\n]+)*$",
    re.IGNORECASE,
)
# Words that join the items of a list: "Morrison, Rogers and Torres", "Usamov and Bowers".
_LIST_AFTER = re.compile(r"(?:,|[^\S\n]+(?:and|&|or))[^\S\n]+([^\W\d_][\w'’-]*)(?![\w'’-])")
_LIST_BEFORE = re.compile(r"(?<![\w'’-])([^\W\d_][\w'’-]*)(?:,|[^\S\n]+(?:and|&|or))[^\S\n]+$")
_PAIR_AFTER = re.compile(
    r"(?:,|[^\S\n]+(?:and|&|or))[^\S\n]+([^\W\d_][\w'’-]*[^\S\n]+[^\W\d_][\w'’-]*)(?![\w'’-])"
)
_PAIR_BEFORE = re.compile(
    r"(?<![\w'’-])([^\W\d_][\w'’-]*[^\S\n]+[^\W\d_][\w'’-]*)(?:,|[^\S\n]+(?:and|&|or))[^\S\n]+$"
)


def _listed_names(text: str, spans: list[Span], known: Callable[[str], bool] | None) -> list[Span]:
    """Names beside a name in a list take the same reading ("Usamov and Bowers" with "Bowers"
    found; "Morrison, Rogers and Torres"), and full names beside a full name ("Tom Cook and
    Amber Wood", "Grace Park & Daniel Kim"): capitalised words only, not all the bank's own
    words, not the words that stand beside names, nor a name that runs into another
    capitalised word (a company: "Lucid and Loveland Technologies") or ends in a possessive
    ("Civis Analytics's")."""
    from steward.guard.kinds import plausible_name, sign_off_word  # kinds imports this module

    out = list(spans)
    added: list[Span] = []

    def take(a: int, b: int) -> bool:
        value = text[a:b]
        words = value.split()
        if (
            len(value) < 3
            or not plausible_name(value)
            or not all(_cased_as_name(w, None) and w.lower() not in _LIST_STOP for w in words)
            # Thanks and greetings before a name: "Tack, Astrid", "Hej, Astrid".
            or any(sign_off_word(w) for w in words)
            or (known is not None and all(known(w) for w in words))
            or re.search(r"['’](?:m|s|d|ll|ve|re|t)$", words[-1], re.IGNORECASE) is not None
            # runs into a company word or a house number: "Hall Orchestra", "Eyrarodda 66"
            or re.match(r"[^\S\n]+[A-Z\d]", text[b : b + 3]) is not None
            or any(o.start < b and a < o.end for o in [*out, *added])
        ):
            return False
        added.append(Span("NAME", a, b, 0.5, "name-listed"))
        return True

    # Seeds: names of one or two words a cue or the model found. A record's known value alone
    # ("Jackson") is as often a place or a brand in a list ("in Austin, Madison and Jackson").
    todo = [
        sp
        for sp in out
        if sp.kind == "NAME"
        and sp.recognizer not in ("known", "declared")
        and len(text[sp.start : sp.end].split()) in (1, 2)
        and not _NOT_PEOPLE_LIST.match(text, sp.end)
        and not _PLACE_BEFORE_LIST.search(text[max(0, sp.start - 80) : sp.start])
    ]
    while todo:
        sp = todo.pop()
        one = len(text[sp.start : sp.end].split()) == 1
        after_rx, before_rx = (_LIST_AFTER, _LIST_BEFORE) if one else (_PAIR_AFTER, _PAIR_BEFORE)
        after = after_rx.match(text, sp.end)
        if after and take(after.start(1), after.end(1)):
            todo.append(added[-1])
        off = max(0, sp.start - 60)
        before = before_rx.search(text[off : sp.start])
        if before and take(off + before.start(1), off + before.end(1)):
            todo.append(added[-1])
    return out + added if added else spans


# Rules whose finds, made only of the bank's own words, stay readable (see ``Masker.find``).
_OWN_WORDS_READABLE = frozenset(
    ["ner", "name-verb", "name-weak-cue", "address-parser", "address-street-name"]
)


_NAME_TAIL_OFF = re.compile(r"['’][sS]?$|[^\S\n]+(?i:suite|apt|unit|flat)\.?$")
_TRAILING_WORD = re.compile(r"[^\S\n]+([A-Z][^\W\d_]+)$")


def _own_words_off(text: str, sp: Span, vocabulary: Callable[[str], bool]) -> Span:
    """An address the parser read on into the sentence, without the bank's own words that
    end it: "22 Bay Street Late Fees confuse me" keeps "Late Fees" readable (the street and its
    number stay masked)."""
    if sp.kind != "ADDRESS" or sp.recognizer != "address-parser":
        return sp
    end = sp.end
    while (last := _TRAILING_WORD.search(text, sp.start, end)) and vocabulary(last.group(1)):
        end = last.start()
    piece = text[sp.start : end]
    if end == sp.end or not re.search(r"\d", piece) or not re.search(r"[^\W\d_]", piece):
        return sp
    return Span(sp.kind, sp.start, end, sp.score, sp.recognizer)


class Masker:
    """Replaces personal values with stable tokens. Thread-safe; reuse one per store."""

    def __init__(
        self,
        tokens: TokenBook,
        recognizers: Sequence[Recognizer] | None = None,
        allow: Iterable[str] = (),
        known_kinds: Sequence[str] = KNOWN_VALUE_KINDS,
    ) -> None:
        self.tokens = tokens
        self.recognizers = list(recognizers) if recognizers is not None else default_recognizers()
        self.allow = [re.compile(a) for a in allow]
        self.known_kinds = tuple(known_kinds)
        # Whether a text is made of the bank's own words (the runtime passes one that reads the
        # knowledge base's vocabulary); None: no such check.
        self.vocabulary: Callable[[str], bool] | None = None

    def remember(self, declared: Sequence[tuple[str, str]]) -> None:
        """Give a record's declared names and addresses (and their variants) their tokens now,
        so that they are recognised when typed into a question, even if no text shows them."""
        for kind, value in declared:
            for v_kind, v in declared_variants(kind, value):
                if v_kind in self.known_kinds:
                    self.tokens.declare(v_kind, v)

    def known_spans(self, text: str, single_words: bool = True) -> list[Span]:
        """Values seen before (a record's declared name or address) typed into ``text``: keyed
        digests of its word n-grams matched against the token book's, so no plain value is
        kept to match against. A match becomes the same token as the value it matched."""
        if not self.known_kinds:
            return []
        words = [(m.start(), m.end()) for m in re.finditer(r"[^\s,;:!?()\[\]\"]+", text)]
        grams: dict[str, tuple[int, int]] = {}
        for i in range(len(words)):
            for j in range(i, min(len(words), i + _KNOWN_MAX_WORDS)):
                start, end = words[i][0], words[j][1]
                if text[start:end].endswith(("'s", "\u2019s")):
                    end -= 2  # a possessive: "Marlowe's card"
                while end > start and text[end - 1] in ".'":
                    end -= 1
                value = text[start:end]
                # One word alone counts when capitalised: "park" is a word, "Park" a name.
                if end - start >= 3 and (j > i or (single_words and value[:1].isupper())):
                    grams.setdefault(value, (start, end))
        if not grams:
            return []
        kinds = sorted(self.known_kinds)
        digests = {(k, self.tokens.digest(k, v)): v for k in kinds for v in grams}
        out = []
        for kind, d in sorted(self.tokens.known_any(kinds, [d for _, d in digests])):
            if (kind, d) in digests:
                start, end = grams[digests[(kind, d)]]
                out.append(Span(kind, start, end, 1.5, "known"))
        return out

    def find(
        self,
        text: str,
        declared: Sequence[tuple[str, str]] = (),
        allow: Sequence[re.Pattern[str]] = (),
        *,
        names_by_model: bool = True,
    ) -> list[Span]:
        """Spans to mask; where spans overlap, declared values win, then the higher score, then
        the longer span. ``names_by_model=False`` is for text whose capitalised words are mostly
        not people (a bank's own documents): it leaves out statistical recognizers (the NER
        model), and a known name matches there only whole, not by one of its words ("Grace",
        a customer's first name, is "Grace period" in a policy)."""
        from steward.guard.kinds import read_cue_typos

        # A look-alike letter of another script inside a word ("Jоhn" with a Cyrillic "о") is
        # read as the Latin one: letter for letter, so the spans are the text's own.
        text = latin_look_alikes(text)
        spans: list[Span] = []
        for kind, value in declared:
            for v_kind, v in declared_variants(kind, value):
                for m in re.finditer(_value_pattern(v_kind, v), text, re.IGNORECASE):
                    spans.append(Span(v_kind, m.start(), m.end(), 2.0, "declared"))
        try:
            spans.extend(self.known_spans(text, single_words=names_by_model))
            # Mistyped cue words are read as the cue ("exipres 04/27"); offsets map back.
            folded, where = read_cue_typos(*_nfkc(text))
            # The model reads a text only if it has a word the knowledge base never uses: a
            # person's name is such a word, and most questions have none (9 ms saved each).
            by_model = names_by_model and not (
                self.vocabulary is not None and self.vocabulary(text)
            )
            for rec in self.recognizers:
                if not by_model and getattr(rec, "statistical", False):
                    continue
                for sp in rec.find(folded):
                    start, end = where[sp.start], where[sp.end - 1] + 1
                    while end < len(text) and unicodedata.combining(text[end]):
                        end += 1  # the accent of the span's last letter goes with it
                    spans.append(Span(sp.kind, start, end, sp.score, sp.recognizer))
        except Exception as exc:
            # Fail closed: the caller must not use text we could not check.
            raise GuardError(
                f"PII detection failed in {type(exc).__name__}; text withheld."
            ) from exc
        # A possessive is the grammar's, not the name's: "Dana Whitfield's claim" has the
        # token of "Dana Whitfield"; a flat's word is the address's ("Jennifer Alcaraz Suite
        # 541").
        spans = [
            Span(sp.kind, sp.start, sp.end - len(p.group()), sp.score, sp.recognizer)
            if sp.kind == "NAME"
            and sp.recognizer != "declared"
            and (p := _NAME_TAIL_OFF.search(text, sp.start, sp.end)) is not None
            and p.start() > sp.start
            else sp
            for sp in spans
        ]
        # Allow-listed values (published hotlines, role mailboxes) stay readable: any detected
        # span inside an allow-list match is dropped. Declared values are always masked.
        allowed = [(m.start(), m.end()) for rx in [*self.allow, *allow] for m in rx.finditer(text)]
        spans = [
            sp
            for sp in spans
            if sp.recognizer == "declared"
            or not any(a <= sp.start and sp.end <= b for a, b in allowed)
        ]
        if self.vocabulary is not None:
            # A name the model found with no cue, made only of words the bank's own documents
            # use, is a product or a heading ("Roadside Assistance"), not a person, and so is
            # a payee after "transfer to" or "spoke with" ("Harbor Mutual", the insurer); an address
            # only the parser found, made of them, is the bank's own (a branch's, published).
            spans = [
                _own_words_off(text, sp, self.vocabulary)
                for sp in spans
                if not (
                    sp.recognizer in _OWN_WORDS_READABLE
                    and self.vocabulary(text[sp.start : sp.end])
                )
            ]
        # What someone owns or drives, read as a name without a cue (an insurer hears makes
        # and models): "my Kangoo van", "my Škoda Octavia needs a jump-start".
        # ... and a firm named after its partners or a title after an article is no one's name
        # ("Barnett, Melton and Garcia" on a contact card's line, "the Cinematographer").
        from steward.guard.kinds import firm_spans, named_thing, owned_thing

        firms = firm_spans(text)
        spans = [
            sp for sp in spans if not owned_thing(text, sp) and not named_thing(text, sp, firms)
        ]
        # A name the model reads inside an address is the street's ("77 avenida xochimilco").
        addresses = [(sp.start, sp.end) for sp in spans if sp.kind == "ADDRESS"]
        spans = [
            sp
            for sp in spans
            if not (
                sp.recognizer == "ner" and any(a <= sp.start and sp.end <= b for a, b in addresses)
            )
        ]
        spans = _joined_names(text, spans)
        spans.sort(key=lambda sp: (-sp.score, -(sp.end - sp.start), sp.start))
        chosen: list[Span] = []
        for sp in spans:
            if all(sp.end <= c.start or sp.start >= c.end for c in chosen):
                chosen.append(sp)
        chosen = _addresses_widened(chosen, [sp for sp in spans if sp not in chosen])
        chosen = _name_neighbours(
            text, _repeated_names(text, chosen, self.vocabulary), self.vocabulary
        )
        chosen = [
            sp
            for sp in _listed_names(text, chosen, self.vocabulary)
            if not (sp.recognizer == "name-listed" and named_thing(text, sp, firms))
        ]
        chosen = _joined_addresses(text, sorted(chosen, key=lambda sp: sp.start))
        return _sentences_cut(text, _address_blocks(text, _units_before(text, chosen)))

    def mask(
        self,
        text: str,
        declared: Sequence[tuple[str, str]] = (),
        allow: Sequence[re.Pattern[str]] = (),
        *,
        names_by_model: bool = True,
        found: list[Span] | None = None,
    ) -> Masked:
        """``text`` with its personal values as tokens; ``found``: this text's spans, when the
        caller has already asked :meth:`find` for them (the same arguments)."""
        if found is None:
            found = self.find(text, declared, allow, names_by_model=names_by_model)
        spans = [(sp.start, sp.end, sp.kind, text[sp.start : sp.end]) for sp in found]
        plain, starts, ends = read_through(text)
        if plain != text:
            # Read through markup as a reader sees the text: a value split or spelled by tags,
            # comments or character references ("<b>Horatio</b> <b>Blenkinsop</b>") is masked
            # whole, by the value read; what the markup hides (a comment's own text) is masked
            # where it stands.
            seen = [
                (starts[sp.start], ends[sp.end - 1], sp.kind, plain[sp.start : sp.end])
                for sp in self.find(plain, declared, allow, names_by_model=names_by_model)
            ]
            spans = sorted(
                seen + [s for s in spans if all(s[1] <= o[0] or s[0] >= o[1] for o in seen)]
            )
        out: list[str] = []
        entities: list[tuple[str, str]] = []
        pos = 0
        for start, end, kind, value in spans:
            token = self.tokens.token(kind, value)
            out += [text[pos:start], token]
            entities.append((kind, token))
            pos = end
        out.append(text[pos:])
        return Masked("".join(out), entities)


def tokens_in(text: str) -> list[str]:
    return [m.group() for m in _TOKEN_RE.finditer(text)]
