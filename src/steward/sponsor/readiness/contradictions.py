"""Contradictions between documents: the same statement with a different value.

A *fact* is one sentence of a current, reference document (not a case record that names a data
subject, such as a past ticket) that holds a quantity: an amount (``$29``), a share (``1.75%``)
or a number followed by its unit (``75 days``, ``5 destinations``). Codes, times, dates, phone
numbers and bare years are words, not quantities.

Two facts from two documents contradict when all of these hold, so that what is reported is
the same statement with another value, not two statements that share a few words:

1. their sentences align word for word (numbers as one placeholder): at least 80% of the shorter
   sentence's words are matched in order (``COVERAGE``), with at least 3 matched content words
   (not stop words), and the shorter sentence has at least 4 content words of its own;
2. a number aligned with a number differs, and its unit is aligned too (``$`` before it or the
   word after it): ``up to 75 days`` against ``up to 120 days``; when both sentences list two
   or more values of that unit, which value matches which is unsure and nothing is reported;
3. they do not speak of two different named things: a proper name (a word the corpus writes
   capitalised inside sentences and never in lower case, such as a product name) in one's
   title, heading or sentence that the other's never mentions, while the other has one of its
   own, means two subjects (``Meridian Classic`` against ``Meridian Gold``, the Gold card's
   welcome offer against the Platinum card's);
4. the caller's scope check passes: documents of two different centers, a center's document
   against a bank-wide one, or two documents no directory user may read both of, are scoped
   apart and never contradict each other.

Candidate pairs come from an inverted index of the facts' content words (a word found in more
than 5% of the facts, and at least 30, is too common to pair on); a pair needs two shared words.
What this misses is written in docs/readiness.md.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

COVERAGE = 0.8
MIN_MATCHED_CONTENT = 3
MIN_CONTENT = 4
MAX_TOKENS = 80
NUMBER = "#"
_STOP_WORDS = """
    a an the of to in on for and or nor is are be can may will with by at as from up your you
    we our us it its this that these those if not no any per each than more less within after
    before until over under into out about one all their there do does did has have had was were
    been being which who whom what when where how also but so only other such then i me my
    they them he she his her would should could must shall just very"""
STOP = frozenset(_STOP_WORDS.split())
_TOKEN = re.compile(
    r"<[A-Z_]+(?:_\d+)?>"  # a personal token: a word
    r"|\$|%"
    r"|\d+(?:[:/-]\d+)+"  # times, dates, phone numbers, ratios: words
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"  # quantities
    r"|[A-Za-z]+(?:['’-][A-Za-z0-9]+)*"
)


@dataclass(frozen=True)
class Token:
    key: str  # what alignment compares: a folded word, or "#" for any number
    text: str
    value: float | None = None


def _fold(word: str) -> str:
    w = word.lower().replace("’", "'")
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def tokens(sentence: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(sentence):
        t = m.group()
        if t[0].isdigit() and not any(c in t for c in ":/-"):
            value = float(t.replace(",", ""))
            year = value.is_integer() and 1900 <= value <= 2099 and "," not in t
            if not (year and (not out or out[-1].key != "$")):
                out.append(Token(NUMBER, t, value))
                continue
        out.append(Token(_fold(t) if t[0].isalpha() else t.lower(), t))
    return out


def content(toks: Iterable[Token]) -> set[str]:
    return {t.key for t in toks if t.key[0].isalpha() and t.key not in STOP and len(t.key) > 2}


class Names:
    """Which words the corpus writes as proper names: capitalised inside sentences, (almost)
    never in lower case."""

    def __init__(self) -> None:
        self.capital: Counter[str] = Counter()
        self.lower: Counter[str] = Counter()

    def feed(self, sentence: str) -> None:
        words = re.findall(r"[A-Za-z][A-Za-z-]*", sentence)
        for w in words[1:]:
            if w[0].isupper():
                self.capital[w.lower()] += 1
            else:
                self.lower[w] += 1

    def names(self) -> frozenset[str]:
        return frozenset(
            w for w, n in self.capital.items() if n >= 2 and self.lower.get(w, 0) * 10 <= n
        )


@dataclass(frozen=True)
class Fact:
    doc: int  # the caller's index of its document
    toks: tuple[Token, ...]
    keys: frozenset[str]  # content words
    words: frozenset[str]  # every word of its title, heading and sentence (lower case)
    capitals: frozenset[str]  # capitalised words of the same (lower case)


def facts_in(doc: int, title: str, heading: str, sentence: str) -> Fact | None:
    """The sentence as a fact, or None when it holds no quantity or too few words."""
    toks = tokens(sentence)
    if len(toks) > MAX_TOKENS or not any(t.key == NUMBER for t in toks):
        return None
    keys = content(toks)
    if len(keys) < MIN_CONTENT:
        return None
    around = f"{title} {heading} {sentence}"
    words = re.findall(r"[A-Za-z][A-Za-z-]*", around)
    return Fact(
        doc,
        tuple(toks),
        frozenset(keys),
        frozenset(w.lower() for w in words),
        frozenset(w.lower() for w in words if w[0].isupper()),
    )


@dataclass(frozen=True)
class Conflict:
    a: int  # document indexes, a < b
    b: int
    terms: tuple[str, ...]  # the statement's matched content words
    values: tuple[tuple[str, str], ...]  # (a's value, b's value)


def find(
    facts: list[Fact], names: frozenset[str], scoped_together: Callable[[int, int], bool]
) -> list[Conflict]:
    """Contradicting document pairs among ``facts``; ``scoped_together(a, b)`` says whether two
    documents may be read as one body of knowledge (same scope, a common reader)."""
    by_pair: dict[tuple[int, int], Conflict] = {}
    for i, j in _candidates(facts):
        fa, fb = facts[i], facts[j]
        if fa.doc == fb.doc or not scoped_together(fa.doc, fb.doc):
            continue
        if _two_subjects(fa, fb, names):
            continue
        found = _differing(fa, fb)
        if found is None:
            continue
        terms, values = found
        if fa.doc > fb.doc:
            values = [(y, x) for x, y in values]
        key = (min(fa.doc, fb.doc), max(fa.doc, fb.doc))
        old = by_pair.get(key)
        merged = tuple(dict.fromkeys([*(old.values if old else ()), *values]))
        by_pair[key] = Conflict(key[0], key[1], old.terms if old else tuple(terms), merged)
    return sorted(by_pair.values(), key=lambda c: (c.a, c.b))


def _candidates(facts: list[Fact]) -> list[tuple[int, int]]:
    postings: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(facts):
        for k in f.keys:
            postings[k].append(i)
    common = max(30, len(facts) // 20)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in postings.values():
        if len(ids) > common:
            continue
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                shared[(ids[x], ids[y])] += 1
    return sorted(p for p, n in shared.items() if n >= 2)


def _two_subjects(a: Fact, b: Fact, names: frozenset[str]) -> bool:
    only_a = (a.capitals & names) - b.words
    only_b = (b.capitals & names) - a.words
    return bool(only_a and only_b)


def _differing(a: Fact, b: Fact) -> tuple[list[str], list[tuple[str, str]]] | None:
    ka, kb = [t.key for t in a.toks], [t.key for t in b.toks]
    blocks = SequenceMatcher(None, ka, kb, autojunk=False).get_matching_blocks()
    matched = sum(bl.size for bl in blocks)
    if matched < COVERAGE * min(len(ka), len(kb)):
        return None
    terms = [
        a.toks[bl.a + k].text.lower()
        for bl in blocks
        for k in range(bl.size)
        if ka[bl.a + k] in a.keys
    ]
    if len(terms) < MIN_MATCHED_CONTENT:
        return None
    values: list[tuple[str, str]] = []
    for bl in blocks:
        for k in range(bl.size):
            x, y = a.toks[bl.a + k], b.toks[bl.b + k]
            if x.value is None or x.value == y.value:
                continue
            dollar = k > 0 and ka[bl.a + k - 1] == "$"
            unit = a.toks[bl.a + k + 1].text if k + 1 < bl.size else ""
            if not (dollar or unit):
                continue  # the unit is not aligned: two different measures
            if _listed(a.toks, dollar, unit) and _listed(b.toks, dollar, unit):
                continue  # both enumerate values of this unit: which matches which is unsure
            values.append((_shown(x.text, dollar, unit), _shown(y.text, dollar, unit)))
    if not values:
        return None
    return list(dict.fromkeys(t for t in terms if not t.startswith("<")))[:8], values


def _listed(toks: tuple[Token, ...], dollar: bool, unit: str) -> bool:
    """The sentence holds two or more numbers of this unit (a list of values)."""
    key = _fold(unit) if unit[:1].isalpha() else unit.lower()
    n = 0
    for i, t in enumerate(toks):
        if t.key != NUMBER:
            continue
        before = toks[i - 1].key if i else ""
        after = toks[i + 1].key if i + 1 < len(toks) else ""
        n += (before == "$") if dollar else (after == key)
    return n >= 2


def _shown(number: str, dollar: bool, unit: str) -> str:
    if dollar:
        return f"${number}"
    return f"{number}%" if unit == "%" else f"{number} {unit.lower()}"
