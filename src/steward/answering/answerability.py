"""Does the answer address the question? Two checks after grounding, before the threshold.

A grounded sentence can still answer the neighbour: asked for one card tier's fee, a passage about
another tier's fee shares most of the question's words. So, per part of the question:

- **entity**: a named thing the question asks about (a product, tier, vendor, program, place,
  form) that the sources know must appear in a cited passage, its title or its section, unless
  the answer is general (names no other thing of the same sort). A named thing is a word the
  asker capitalised inside the sentence, a code with digits (``W-9``, ``1099-INT``), or a word
  the retrieved passages themselves write capitalised (so "platinum" typed in lower case counts
  when the sources speak of "Platinum"). The check fails when such a thing is absent from the
  cited passages while the answer names a sibling of it: a thing the passages write in the same
  places ("Gold card" beside "Platinum card"). Words that many permitted passages hold (the
  bank's own name) are not siblings of anything.
  An acronym of three or more capitals in the asking clause (``FHA``, ``HELOC``, ``CDs``) that no
  retrieved passage holds fails the check on its own: the sources do not cover what is asked;
  so does a name of several capitalised words ("Delta SkyMiles"). A year or a month asked about
  that no cited passage holds, beside an answer naming another, is another time's answer; a
  thing qualified by a word no source holds ("a boat claim", "in Louisiana"), beside an answer
  about the same thing qualified otherwise ("an auto claim", "In Florida"), another thing's;
  a plain word no source holds after "on/for/about my" ("the late fee on my mortgage") is a
  thing the sources do not cover. A question in Title Case names nothing by its capitals.
- **answer type**: when the part asks for a kind of value (an amount, a rate, a duration or
  deadline, a time, a phone number, a code, a count; see ``answertypes.py``), a cited sentence
  must hold one.

Only the asking clauses are read ("I'm in Lisbon this week. What is the foreign transaction
fee?" asks about the fee, not about Lisbon). A failed check names itself in the decision's
reason; the words it names come from the masked question. A question written in capitals is
read in lower case.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from steward.answering.answertypes import expected_types, value_types
from steward.answering.providers.base import Passage
from steward.guard.kinds import one_edit, title_cased, written_in_capitals
from steward.retrieval.search import STOPWORDS, asking_part, stem, stem_terms

ENTITY, ANSWER_TYPE = "entity", "answer_type"
_WORD = re.compile(r"<[A-Z_]+(?:_\d+)?>|[A-Za-z][A-Za-z0-9'&.-]*[A-Za-z0-9]|[A-Za-z]")
_CODE = re.compile(
    r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+\b"
)
_MASKED = re.compile(r"<[A-Z_]+(?:_\d+)?>")
_ACRONYM = re.compile(r"\b[A-Z]{3,6}s?\b")  # FHA, HELOC, CDs (two letters: states, AI)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)\s*[\"'(]*$")
# Capitalised for grammar or courtesy, not because they name a thing.
_NOT_NAMES = frozenset({
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "hi", "hello", "hey", "thanks", "thank",
    "please", "dear", "sir", "madam", "mr", "mrs", "ms", "dr", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "us", "usa",
    "u.s.", "american", "english", "atm", "atms", "pin", "pins", "id", "ids", "faq", "app",
    "online", "bank", "banking",
})  # fmt: skip
_TYPE_WORDS = {
    "money": "an amount",
    "percent": "a rate or percentage",
    "duration": "a duration or deadline",
    "time": "a time of day",
    "phone": "a phone number",
    "ext": "an extension",
    "code": "a code",
    "count": "a number",
    "nav": "a place in the app",
    "date": "a date",
}
COMMON_SHARE = 0.2  # a word in more than this share of the permitted passages names nothing


def _quieted(text: str) -> str:
    """``text`` in lower case, its masked values ("<NAME_3>") kept as they are."""
    out, pos = [], 0
    for m in _MASKED.finditer(text):
        out += [text[pos : m.start()].lower(), m.group()]
        pos = m.end()
    return "".join([*out, text[pos:].lower()])


def _listed(words: list[str]) -> str:
    return ", ".join(f"'{w}'" for w in list(dict.fromkeys(words))[:3])


@dataclass(frozen=True)
class Failure:
    check: str  # entity | answer_type
    part: int  # 1-based part of the question
    detail: str

    def reason(self, parts: int) -> str:
        where = f" (part {self.part} of {parts})" if parts > 1 else ""
        return f"{self.check} check failed{where}: {self.detail}"


def _capitalised_inside(text: str) -> list[str]:
    """Words written with a capital inside a sentence (not its first word)."""
    out = []
    for m in _WORD.finditer(text):
        word = m.group()
        if word.startswith("<") or not word[0].isupper():
            continue
        if _SENTENCE_START.search(text[: m.start()]):
            continue
        if word.lower() in _NOT_NAMES or (word.isupper() and len(word) <= 2):
            continue
        out.append(word)
    return out


# Capitalised words, one of them in camel case perhaps ("Delta SkyMiles").
_PHRASE = re.compile(
    r"(?<![\w'])[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:\s+[A-Z][a-z]+(?:[A-Z][a-z]+)*)+(?![\w'])"
)
# When a thing happened or applies: a year, a month. Asked about one, an answer that names
# another and not it is about another time ("the September meeting" vs "the December meeting").
_WHEN = (
    re.compile(r"\b(?:19|20)\d{2}\b"),
    re.compile(
        r"\b(?:january|february|march|april|june|july|august|september|october|november"
        r"|december)\b",
        re.IGNORECASE,
    ),
)


def _capitalised_phrases(text: str) -> list[str]:
    """Runs of two or more capitalised words inside a sentence ("Cards Operations Specialist")."""
    out = []
    for m in _PHRASE.finditer(text):
        words = m.group().split()
        if _SENTENCE_START.search(text[: m.start()]):
            words = words[1:]  # the sentence's first word is capitalised for grammar
        words = [w for w in words if w.lower() not in _NOT_NAMES]
        if len(words) >= 2:
            out.append(" ".join(words))
    return out


@lru_cache(maxsize=4096)
def _case_counts(text: str) -> tuple[Counter[str], Counter[str]]:
    """How often each stem is written capitalised inside a sentence, and in lower case, in one
    passage (cached: the same passages come back for question after question)."""
    upper: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for word in _capitalised_inside(text):
        upper.update(stem_terms(word))
    for m in _WORD.finditer(text):
        if m.group()[0].islower():
            lower.update(stem_terms(m.group()))
    return upper, lower


@lru_cache(maxsize=4096)
def _text_stems(text: str) -> tuple[str, ...]:
    return tuple(stem_terms(text))


def _proper_stems(passages: list[Passage]) -> set[str]:
    """Stems of the words the passages write capitalised inside their sentences more often than
    in lower case (``Platinum``, ``Zelle``; not a ``Pay`` that opens a table row)."""
    upper: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for p in passages:
        up, low = _case_counts(p.text)
        upper.update(up)
        lower.update(low)
    return {s for s, n in upper.items() if n > lower.get(s, 0)}


def _contexts(passages: list[Passage]) -> dict[str, set[tuple[int, str]]]:
    """stem -> the words beside it in the passages: (-1, word before) and (1, word after)."""
    out: dict[str, set[tuple[int, str]]] = {}
    for p in passages:
        stems = _text_stems(p.text)
        for i, st in enumerate(stems):
            ctx = out.setdefault(st, set())
            if i:
                ctx.add((-1, stems[i - 1]))
            if i + 1 < len(stems):
                ctx.add((1, stems[i + 1]))
    return out


def _spoken(
    claims: list[str],
    proper: set[str],
    answer_weights: Callable[[str], dict[str, float]] | None,
) -> dict[str, str]:
    """The named things the answer's sentences speak of (not the bank's own name: the weights
    of their words over the permitted passages keep out what many passages hold)."""
    weights = answer_weights(" ".join(claims)) if answer_weights else {}
    return {
        s: w
        for claim in claims
        for s, w in named_things(claim, proper, weights, asked=False).items()
        if s in proper or any(ch.isdigit() for ch in w)
    }


def _stems(p: Passage) -> set[str]:
    return set(stem_terms(f"{p.title} {p.heading} {p.text}"))


def named_things(
    text: str, proper: set[str], weights: dict[str, float], asked: bool = True
) -> dict[str, str]:
    """stem -> word for the words of ``text`` that name a thing (see the module docstring):
    capitalised by the writer, a code, or written capitalised by the sources (``proper``).
    ``weights``: IDF over the permitted passages (a word many passages hold, such as the bank's
    own name, names nothing in particular; an empty map keeps every word); ``asked``: read only
    the clauses that ask."""
    source = asking_part(text) if asked else text
    seen: dict[str, str] = {}
    for word in _capitalised_inside(source) + _CODE.findall(source):
        for st in stem_terms(word):
            seen.setdefault(st, word)
    for m in _WORD.finditer(source):
        word = m.group()
        if word.startswith("<") or word.lower() in _NOT_NAMES:
            continue
        for st in stem_terms(word):
            if st in proper:
                seen.setdefault(st, word)
    common = math.log(1 / COMMON_SHARE)
    return {s: w for s, w in seen.items() if weights.get(s, math.inf) >= common}


def _placed(phrase: str, retrieved: set[str], known: set[str]) -> bool:
    """Whether a capitalised phrase is words no source holds, then a name the cited passages
    hold ("Jacksonville Florida", "Harbour Direct Repair")."""
    words = phrase.split()
    held = [bool(set(stem_terms(w)) & known) for w in words]
    if not any(held):
        return False
    first = held.index(True)
    return (
        first > 0
        and all(held[first:])
        and not any(set(stem_terms(w)) <= retrieved for w in words[:first])
    )


def _other_time(asked: str, cited: list[Passage], claims: list[str]) -> str | None:
    """The reason, when the question asks about a year or a month that no cited passage holds
    while the answer names another, in its sentences or in the title or section they come
    from ("Deductible Options (2025)" asked about 2024); else None."""
    asked_when = [{w.lower() for w in when.findall(asked)} for when in _WHEN]
    if not any(asked_when):
        return None  # most questions name no time: nothing to read
    held = " ".join(f"{p.title} {p.heading} {p.text}" for p in cited).lower()
    labels = [f"{p.title} {p.heading}" for p in cited]
    for when, wanted in zip(_WHEN, asked_when, strict=True):
        missing = [w for w in wanted if not re.search(rf"\b{w}\b", held)]
        said = {w.lower() for c in [*claims, *labels] for w in when.findall(c)} - wanted
        if missing and said:
            return (
                f"the question asks about {_listed(missing)}; the answer is about "
                f"{_listed(sorted(said))}"
            )
    return None


# Two words side by side, a space between them (overlapping pairs: read the groups).
_PAIR = re.compile(r"(?=(?<![\w'-])([A-Za-z][A-Za-z'-]*) ([A-Za-z][A-Za-z'-]*)(?![\w'-]))")
# A named place or thing right after "in" or "for": "the hurricane deductible in Louisiana"
# beside an answer "In Florida, ...".
_IN_NAMED = re.compile(r"\b([Ii]n|[Ff]or) ([A-Z][a-z]+(?:[A-Z][a-z]+)?)\b")
# Words that count or point, not qualify: "every day" is no kind of day.
_DETERMINERS = frozenset({
    "every", "each", "all", "any", "some", "no", "other", "another", "several", "few", "many",
    "more", "most", "less", "per", "first", "last", "next", "same", "such", "certain",
})  # fmt: skip
# Words that say how much or which one, not what kind: "the whole Platinum fee".
_NOT_KINDS = _DETERMINERS | frozenset({
    "whole", "entire", "full", "total", "complete", "overall", "current", "new", "old",
    "actual", "real", "usual", "normal", "exact", "own", "extra", "additional", "right", "wrong",
})  # fmt: skip
# What a question is about, after a preposition and a determiner: "on my mortgage", "for a
# life insurance policy" (the next two words); not "to my sister" or "in my town", which say
# where or to whom.
_ABOUT = re.compile(
    r"\b(?:on|for|about|under)\s+(?:my|the|a|an|our|your|this|that|his|her)\s+"
    r"([a-z][a-z-]{2,}(?:\s+[a-z][a-z-]{2,})?)",
    re.IGNORECASE,
)
SYNONYM = 0.75  # word-vector cosine above which two words name the same thing
_WORDS_OF = re.compile(r"[A-Za-z]{3,}")


def _mistyped(word: str, passages: list[Passage]) -> bool:
    """Whether a word no source holds is one typo away from a word of these passages
    ("montly" for "monthly")."""
    if len(word) < 4:
        return False
    return any(one_edit(word, w.lower()) for p in passages for w in _WORDS_OF.findall(p.text))


def _other_kind(
    asked: str,
    unknown: frozenset[str],
    question_stems: set[str],
    claims: list[str],
    similar: Callable[[str, str], float],
    cited: list[Passage],
) -> str | None:
    """The reason, when the question qualifies a thing by a word no permitted source holds
    ("a boat claim", "in Louisiana") and the answer speaks of the same thing qualified
    otherwise ("an auto claim", "In Florida") by a word that does not mean the same ("yearly
    fee" and "annual fee" do); else None. (Read for words the cited passages lack, as well,
    it answered "phone number" with "card number" and "contact Policy Services" with "Call
    Policy Services" in the eighth outside review.)"""
    for place in _IN_NAMED.finditer(asked):
        p, u = place.group(1).lower(), place.group(2)
        if stem(u.lower()) not in unknown or u.lower() in _NOT_NAMES:
            continue
        for claim in claims:
            for said in _IN_NAMED.finditer(claim):
                x = said.group(2)
                if said.group(1).lower() != p or stem(x.lower()) in question_stems:
                    continue
                if x.lower() in _NOT_NAMES or similar(u.lower(), x.lower()) >= SYNONYM:
                    continue
                return f"the question asks about '{u}'; the answer is about '{x}'"
    for pair in _PAIR.finditer(asked):
        u, h = pair.group(1), pair.group(2)
        low_u, low_h = u.lower(), h.lower()
        if low_u in STOPWORDS or low_u in _NOT_KINDS or low_h in STOPWORDS:
            continue
        if stem(low_u) not in unknown or _mistyped(low_u, cited):
            continue
        head = stem(low_h)
        for claim in claims:
            for said in _PAIR.finditer(claim):
                x, y = said.group(1), said.group(2)
                low_x = x.lower()
                if stem(y.lower()) != head or low_x in STOPWORDS or low_x in _DETERMINERS:
                    continue
                if stem(low_x) in question_stems or similar(low_u, low_x) >= SYNONYM:
                    continue
                return f"the question asks about '{u} {h}'; the answer is about '{x} {y}'"
    return None


def check(
    parts: list[str],
    cited: list[Passage],
    passages: list[Passage],
    claims: list[str],
    answer_weights: Callable[[str], dict[str, float]] | None = None,
    unknown_stems: frozenset[str] = frozenset(),
    similar: Callable[[str, str], float] | None = None,
) -> Failure | None:
    """The first failed check of the answer (``claims``: its sentences, citing ``cited``),
    or None when every part names only things the cited passages hold and gets its kind of
    value. ``unknown_stems``: the stems of question words no permitted source holds; ``similar``:
    the cosine of two words' vectors (without it, a word's qualifier is not compared)."""
    # A question written in capitals names nothing by them ("HOW DO I FIND MY IBAN?"): read in
    # lower case, as the sources' own capitals still mark their names.
    parts = [
        _quieted(part) if len(part.split()) >= 3 and written_in_capitals(part) else part
        for part in parts
    ]
    stems = {p.chunk_id: _stems(p) for p in [*passages, *cited]}  # each passage read once
    cited_stems: set[str] = set().union(*(stems[p.chunk_id] for p in cited))
    retrieved: set[str] = set().union(*stems.values())
    held_types: set[str] = set()
    for claim in claims:
        held_types |= value_types(claim)
    proper = _proper_stems(passages)
    question_stems = {s for part in parts for s in stem_terms(part)}
    spoken: dict[str, str] | None = None
    contexts: dict[str, set[tuple[int, str]]] | None = None
    for n, part in enumerate(parts, 1):
        # Every named thing of the question counts (the bank's own name too: it only fails the
        # check beside an answer that names a sibling of it).
        named = named_things(part, proper, {})
        # A named thing the sources know but the cited passages do not hold, while the answer
        # speaks of a sibling (a thing the sources write in the same places: "Gold card" beside
        # "Platinum card"): the answer is about the neighbour.
        absent = {s: w for s, w in named.items() if s not in cited_stems and s in retrieved}
        if absent:
            if spoken is None or contexts is None:
                spoken, contexts = _spoken(claims, proper, answer_weights), _contexts(passages)
            others = [
                w
                for s, w in spoken.items()
                if s not in question_stems
                and any(contexts.get(s, set()) & contexts.get(a, set()) for a in absent)
            ]
            if others:
                return Failure(
                    ENTITY,
                    n,
                    f"the question asks about {_listed(list(absent.values()))}; the answer is "
                    f"about {_listed(others)}",
                )
        # A masked value ("<CVV>", "<NAME_3>") names nothing the sources could hold.
        asked = _MASKED.sub(" ", asking_part(part))
        other_time = _other_time(asked, cited, claims)
        if other_time is not None:
            return Failure(ENTITY, n, other_time)
        if similar is not None and unknown_stems:
            other_kind = _other_kind(asked, unknown_stems, question_stems, claims, similar, cited)
            if other_kind is not None:
                return Failure(ENTITY, n, other_kind)
        # An acronym the question asks about that no permitted source holds (FHA, HELOC, ...):
        # the sources do not cover it, whatever the answer's sentences share with the rest.
        unknown = [w for w in _ACRONYM.findall(asked) if not set(stem_terms(w)) <= retrieved]
        # So is a name of two or more capitalised words none of whose words a retrieved passage
        # holds beside the others ("Cards Operations Specialist": a job the pay bands do not
        # list, where "Operations" alone is everywhere).
        # Only its missing words are named: quoting the whole name could repeat a restricted
        # document's title that the asker typed.
        # A phrase that ends in a name the cited passages hold is a known thing placed more
        # precisely ("Jacksonville Florida" beside a passage on Florida); one that begins with
        # it is another thing of the same house ("Meridian Titanium": not a known card).
        # A question written in Title Case capitalises every word: none names a thing by it
        # ("Home Insurance Claim Deadline?").
        unknown += [
            word
            for phrase in ([] if title_cased(asked) else _capitalised_phrases(asked))
            if not set(stem_terms(phrase)) <= retrieved
            and not _placed(phrase, retrieved, cited_stems & proper)
            for word in phrase.split()
            if not set(stem_terms(word)) <= retrieved
        ]
        # So is a plain word no permitted source holds naming what the question is about, after
        # a preposition and a determiner ("the late fee on my mortgage" where no document
        # speaks of mortgages); not a typo of a cited word ("on my acount").
        unknown += [
            word
            for m in _ABOUT.finditer(asked)
            for word in m.group(1).split()
            if stem(word.lower()) in unknown_stems
            and word.lower() not in STOPWORDS
            and not _mistyped(word.lower(), cited)
        ]
        unknown = [w for w in unknown if w.lower() not in _NOT_NAMES]
        if unknown:
            return Failure(
                ENTITY, n, f"the question names {_listed(unknown)}, which no permitted source holds"
            )
        wanted = expected_types(asked)
        if wanted and not wanted & held_types:
            kinds = " or ".join(sorted({_TYPE_WORDS.get(k, k) for k in wanted}))
            return Failure(ANSWER_TYPE, n, f"the question asks for {kinds}; the answer holds none")
    return None
