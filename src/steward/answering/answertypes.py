"""Answer types: what kind of value a question asks for, and which values a sentence holds.

"How much is the late fee?" wants an amount; "until what time?" a clock time; "which number do I
call?" a phone number. A sentence that holds no value of the wanted kind rarely answers the
question, whatever its wording shares with it: the extractive answerer uses this to pick
sentences and to decide when the sources do not answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

MONEY, PERCENT, DURATION, TIME, PHONE, EXT, CODE, COUNT, NAV, DATE, FREQUENCY = (
    "money",
    "percent",
    "duration",
    "time",
    "phone",
    "ext",
    "code",
    "count",
    "nav",
    "date",
    "frequency",
)
_NUMWORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty)"
)
_UNIT = (
    r"(?:minutes?|mins?|hrs?|(?:business |calendar |banking )?(?:days?|hours?)|weeks?|"
    r"months?|years?|billing cycles?|statement cycles?|quarters?)"
)
_VALUE_RES: dict[str, re.Pattern[str]] = {
    MONEY: re.compile(
        r"\$\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion))?"
        r"|\b\d[\d,.]*\s?(?:dollars|usd|million|billion)\b",
        re.I,
    ),
    PERCENT: re.compile(r"\d[\d.]*\s?%|\bpercent\b", re.I),
    DURATION: re.compile(
        rf"\b(?:\d[\d,.]*|{_NUMWORD})[\s-]+{_UNIT}\b|\b(?:same|next) business day"
        r"|\b24/7\b",
        re.I,
    ),
    TIME: re.compile(
        r"\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?!\w)|\bnoon\b|\bmidnight\b", re.I
    ),
    PHONE: re.compile(r"<PHONE_\d+>|\b\d{3}[-. ]\d{3}[-. ]\d{4}\b|\b1-8\d\d-\d{3}-\d{4}\b"),
    EXT: re.compile(r"\bext\.?\s?\d+|\bextension\s\d+", re.I),
    CODE: re.compile(r"\b[A-Z]{2,}[A-Z0-9]*(?:-[A-Z0-9]+)+\b|\b(?i:code|codes)[:\s]+[A-Z]{2,}\b"),
    COUNT: re.compile(rf"\b\d[\d,]*\b|\b{_NUMWORD}\b|\bany (?:two|three|four)\b", re.I),
    NAV: re.compile(r"\w\s?>\s?\w"),
    # How often: "once per hurricane season", "twice a year", "every 90 days", "annually".
    FREQUENCY: re.compile(
        r"\b(?:once|twice|(?:\d+|three|four|five|six|ten)\s+times)\b"
        r"|\b(?:every|each|per|a|an)\s+(?:\d+\s+|other\s+)?(?:calendar\s+|business\s+|hurricane\s+)?"
        r"(?:years?|months?|weeks?|days?|hours?|seasons?|quarters?|storms?|billing\s+cycles?"
        r"|statement\s+cycles?|policy\s+terms?|renewals?)\b"
        r"|\b(?:annually|yearly|monthly|weekly|daily|quarterly|biweekly|hourly)\b",
        re.I,
    ),
    DATE: re.compile(
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b"
        r"|\b\d{4}-\d{2}-\d{2}\b|\bdecember 31\b",
        re.I,
    ),
}

# (question pattern, acceptable answer types); the first matching pattern wins.
_QUESTION_RULES: list[tuple[re.Pattern[str], frozenset[str]]] = [
    # Before the amount rule: "how often does the hurricane deductible apply?" asks how often.
    (
        re.compile(r"\bhow\s+(?:often|frequently)\b|\bhow\s+many\s+times\b", re.I),
        frozenset({FREQUENCY}),
    ),
    (re.compile(r"\b(which|what)\s+(extension|ext)\b", re.I), frozenset({EXT, PHONE})),
    (
        re.compile(
            r"\b(which|what)\s+(phone\s+)?number\b.*\b(call|ring|dial|phone|contact)|"
            r"\bnumber\s+(do|should|can)\s+i\s+(call|ring|dial)\b|\bwho do i call\b",
            re.I,
        ),
        frozenset({PHONE}),
    ),
    (
        re.compile(
            r"\b(what|which)\s+(\w+\s+)?(code|reason code|product code)\b|\binternal code\b", re.I
        ),
        frozenset({CODE}),
    ),
    (re.compile(r"\b(over|in|within)\s+what\s+(time|period)\b", re.I), frozenset({DURATION})),
    (
        re.compile(r"\b(what|until what|by what|which)\s+time\b|\bcut-?off\b|\bwhat hour\b", re.I),
        frozenset({TIME}),
    ),
    (
        re.compile(
            r"\b(what|which)\s+percent(age)?\b|\bpercentage\b|\b(interest|apr)\s+rate\b|"
            r"\bwhat\s+(is\s+the\s+|'s\s+the\s+)?(apr|rate|ratio)\b|\bratio\b",
            re.I,
        ),
        frozenset({PERCENT}),
    ),
    (
        re.compile(
            r"\bhow\s+(long|soon|quickly|fast)\b|\bwindow\b|\bdeadline\b|\bhow many "
            r"(days|hours|minutes|weeks|months|years)\b|\bwhen will\b",
            re.I,
        ),
        frozenset({DURATION, DATE, TIME}),
    ),
    (
        re.compile(r"\bhow\s+many\b|\bhow\s+high\b|\b(minimum|maximum|lowest|highest)\b", re.I),
        frozenset({COUNT, MONEY, PERCENT}),
    ),
    # A score is a bare number; thresholds and patterns are stated as quantities.
    (re.compile(r"\b(credit|fico|risk)?\s*score\b", re.I), frozenset({COUNT})),
    (
        re.compile(
            r"\bwhat\s+(?:[\w-]+\s+){0,3}(distance|threshold|pattern|condition|criteria|"
            r"trigger|cut-?offs?)\b",
            re.I,
        ),
        frozenset({COUNT, MONEY, PERCENT, DURATION}),
    ),
    (
        re.compile(
            r"\bhow\s+much\b|\bwhat(?:'s|\s+is|\s+are|\s+was)?\b.*\b(cost|price|fee|fees|"
            r"charge|salary|pay band|pay range|bonus|limit|amount|range|deductibles?|premiums?|"
            r"surcharges?|co-?pays?|penalty|penalties)\b|\bwhat\s+does\b.*"
            r"\bcost\b",
            re.I,
        ),
        frozenset({MONEY, PERCENT, COUNT}),
    ),
    (re.compile(r"\bwhere\s+in\s+the\s+app\b|\bwhere\s+do\s+i\b.*\bapp\b", re.I), frozenset({NAV})),
]


def expected_types(question: str) -> frozenset[str]:
    """The kinds of value that can answer ``question`` (empty: any sentence may)."""
    for rx, types in _QUESTION_RULES:
        if rx.search(question):
            return types
    return frozenset()


@lru_cache(maxsize=65536)
def value_types(sentence: str) -> frozenset[str]:
    """The kinds of value a sentence holds (cached: passages are read far more than written)."""
    found = {t for t, rx in _VALUE_RES.items() if rx.search(sentence)}
    if found - {COUNT}:
        # Digits inside an amount, a time or a duration are not a count of their own.
        bare = sentence
        for t in found - {COUNT}:
            bare = _VALUE_RES[t].sub(" ", bare)
        if not _VALUE_RES[COUNT].search(bare):
            found.discard(COUNT)
    return frozenset(found)


def type_match(wanted: frozenset[str], sentence: str) -> float:
    """+1 when the sentence holds a wanted value, -1 when a value is wanted and absent, else 0."""
    if not wanted:
        return 0.0
    return 1.0 if wanted & value_types(sentence) else -1.0
