"""Understanding a question: what it asks, whether it attacks, and which risk signals it carries.

Risk signals follow the escalation reasons of a retail bank's hand-off matrix (the signal
reasons of :mod:`steward.core.reasons`), checked in the registry's priority order so a
conversation is handed off once with the first matching reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from steward.core import reasons
from steward.guard import Finding, injection_findings, lexicon
from steward.guard.hidden import Revealed, read_through, reveal
from steward.guard.injection import InjectionDetector
from steward.guard.kinds import SIGN_OFF
from steward.retrieval.search import query_terms

REASONS = reasons.SIGNALS
_MONEY_VERB = (
    r"\b(wir(?:e|es|ed|ing)|transfer(?:s|red|ring)?|xfer|xfr|send(?:s|ing)?|sent|mov(?:e|es|ed|ing)|"
    r"pay(?:s|ing)?|payments?|withdraw(?:s|ing|als?)?|cash(?:ing)?\s+out|"
    r"tak(?:e|ing)\s+out|remit\w*|push(?:ing)?\s+through|speed up|recall|reverse|raise|"
    r"increase)\b"
)
# A sentence ends at a stop, not at the point of a decimal ("4.5%", "$1,000.50").
_SENTENCE = re.compile(r"(?:[^.!?\n]|(?<=\d)\.(?=\d))+(?:[.!?]+|$)")


@dataclass(frozen=True)
class Signal:
    reason: str
    evidence: str  # the rule that fired (never the asker's words: they may hold personal data)


def _rx(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


# Money that left an account: what a customer may say they did not do.
_MOVED = (
    r"(charges?|transactions?|purchases?|payments?|withdrawa?ls?|withdraw|direct debits?|"
    r"debits?|transfers?|cash|money)"
)
# How a customer describes an item they do not recognise, and the items.
_ODD = r"(unrecogni[sz]ed|unauthori[sz]ed|fraudulent|suspicious|unknown|unfamiliar|strange|weird"
_ODD_ANY = _ODD + r"|random|unusual|mystery|mysterious|odd)"
_ODD += ")"
_ITEM = (
    r"(charges?|transactions?|purchases?|payments?|withdrawa?ls?|withdraw|debits?|activity|"
    r"log-?ins?|sign-?ins?)"
)
_DENY = (
    r"(i|we)\s+(have\s+|had\s+)?(definitely\s+|certainly\s+|really\s+|honestly\s+)?"
    r"(never|didn'?t|did not|don'?t|do not|haven'?t|have not)\s+"
)
_FRAUD = _rx(
    # "a charge ... that I never made", "payments I did not authorise"
    rf"\b{_MOVED}\b[^.?!]{{0,80}}\b{_DENY}(make|made|authori[sz]e|recogni[sz]e|do|did|done|"
    r"approve|create|set up|request|perform|initiate|take out|took out|withdraw|seen|complete)\b",
    rf"\b{_MOVED}\b[^.?!]{{0,60}}\b(i|we)\s+(don'?t|do not|can'?t|cannot)\s+(remember|recall)\b",
    r"\b(merchant|company|business|seller|shop|store|vendor|payee)\b[^.?!]{0,10}\b(i|we)\s+"
    r"(don'?t|do not|can'?t|cannot)\s+(remember|recall|recogni[sz]e|know)\b",
    r"\b(am|'m)\s+not\s+recogni[sz]ing\b",
    r"\b(was|were|been|got|took|taken|used|made|withdrew|spent|charged|moved|transferred|"
    r"opened|left|went|gone|disappeared)\b[^.?!]{0,40}\bwithout\s+(my|our)\s+"
    r"(consent|permission|knowledge|authori[sz]ation|approval)\b",
    r"\b(not|n't)\s+(made|done|authori[sz]ed|initiated|me)\s+by\s+me\b"
    r"|\b(it|that|this)\s+(wasn'?t|was not|isn'?t|is not)\s+me\b",
    r"\b(card|account)\b[^.?!]{0,20}\b(was|has been|is being|were|have been)\s+used\b"
    r"[^.?!]{0,80}\b(never|without|somebody|someone|not me)\b",
    r"\bused\s+by\s+(somebody|someone)( else)?\b"
    r"|\bby\s+(somebody|someone)\s+(i|we)\s+(don'?t|do not)\s+know\b",
    r"\b(cloned|skimmed|copied)\s+(my|our)\s+card\b",
    r"\b(card|account)\s+(details|data|info(rmation)?|number)\b[^.?!]{0,20}\b(exposed|leaked|"
    r"stolen|compromised)\b",
    # "I don't recognise this direct debit", "I didn't make a payment at this shop"
    rf"\b{_DENY}(recogni[sz]e|authori[sz]e)\b[^.?!,;]{{0,25}}\b{_MOVED}\b",
    # ... but "I haven't set up a direct debit yet" is a question: only "this"/"that" one.
    rf"\b{_DENY}(approve|make|create|set up|request|initiate|do|complete)\s+(this|that|these|"
    rf"those)\b[^.?!,;]{{0,25}}\b{_MOVED}\b",
    # "I don't know what this cash withdrawal is", "I don't remember making it"
    rf"\b(don'?t|do not|can'?t|cannot)\s+know\s+what\s+(this|that|the)\s+[^.?!]{{0,20}}\b{_MOVED}",
    r"\b(don'?t|do not|can'?t|cannot)\s+remember\s+(doing|making|authori[sz]ing|"
    r"withdrawing|buying|paying|ordering|approving)\b",
    # "an unknown direct debit", "this strange payment", "some unauthorised withdrawals" (with
    # its article: "Do you block unusual transactions?" is a question, not a report)
    rf"\b(a|an|this|that|these|those|some|two|three|several)\s+{_ODD_ANY}\s+"
    rf"(cash\s+|card\s+|direct\s+)?{_ITEM}",
    rf"\b{_ODD}\s+{_ITEM}\s+(on|in|from)\s+(my|our)\s+(account|card|statement|app)\b",
    # "a direct debit that isn't mine"
    rf"\b{_MOVED}\b(?:(?!account)[^.?!]){{0,30}}\b(isn'?t|is not|wasn'?t|was not|aren'?t|are not|"
    r"weren'?t|were not)\s+(mine|ours|me)\b",
    r"\b(people|strangers?)\s+(are|have been)\s+using\s+(my|our)\s+(card|account)\b",
    r"(?<!stop\s)(?<!prevent\s)(?<!block\s)\bsome(one|body)( else)?\b"
    r"[^.?!]{0,30}\b(is using|are using|used|using|has used|has access to|has got into|"
    r"got into|accessed|charged|"
    r"took over|changed|withdrew|made|has made|found|logged into|is logging into|"
    r"is withdrawing|withdrawing)\b"
    r"[^.?!]{0,30}\b(my|our)\s+(card|account|password|details|phone|money|funds|pin)",
    r"\b(asked|texted|called|emailed)\s+me\b[^.?!]{0,40}\b(passcode|pin|password|"
    r"one-time code|otp|security code)",
    r"\b(password|email|phone number|contact details|address)\b[^.?!]{0,30}\bchanged\b"
    r"[^.?!]{0,30}\bwithout\s+(me|my)",
    r"\b(stole|stolen|snatched|took)\b[^.?!]{0,40}\b(and|then)\s+(used|spent|charged|"
    r"withdrew|made purchases)\b",
    r"\b(card|account|details|pin)\b[^.?!]{0,30}\b(compromised|cloned|skimmed|hacked)\b",
    r"\breport(ing)?\s+(a\s+|some\s+)?(fraud|scam)\b",
    r"\bidentity theft\b|\b(i|we)\s+(got|was|were|have been|'ve been)\s+(scammed|hacked)\b",
)
_LOCATION_STATED = _rx(
    r"\b(i'?m|i am|we'?re|we are|currently|right now)\s+(travel+ing|in|at|abroad|overseas|"
    r"visiting|away in|staying in|over in|out in)\b",
    r"\b(travel+ing|on (an? )?(\w+\s)?(trip|vacation|holiday)|stuck|staying|abroad)\s+"
    r"(in|to|through)\b",
)
_LOCATION_SESSION = _rx(
    r"\b(session|sign-?in|log-?in|logged in|signed in|ip|app|device|connection|system|website|"
    r"site|alert)\b[^.?!]{0,60}\b(from|in|coming from|located in|shows?|says?)\b",
    r"\bsign-?in\s+from\s+(a\s+)?(place|location|country)\b",
)
_VULNERABLE = _rx(
    r"\b(dementia|alzheimer'?s?|memory (problems|loss)|forgetful|cognitive (decline|impairment))\b",
    # "confused" alone is mostly "I'm confused why my transfer is pending".
    r"\b(gets?|getting|becomes?|becoming|easily|increasingly|often)\s+(very\s+|so\s+)?confused\b",
    r"\b(passed away|died|bereave\w*|widow(ed|er)?|funeral|lost my (husband|wife|partner|"
    r"mother|father|mum|mom|dad|son|daughter))\b",
    r"\b(terminal(ly)? ill\w*|terminal (cancer|diagnosis|condition)|cancer|chemo\w*|"
    r"serious(ly)? ill(ness)?|hospitali[sz]ed|in hospital)\b",
    r"\b(pressur(e|ing|ed)|forc(e|ing|ed)|coerc\w+|controls?|controlling|threaten\w*)\b[^.?!]{0,40}"
    r"\b(money|account|cash|card|pin|finances)\b",
    r"\b(takes?|took|making|makes|made)\s+(her|him|them|me)\s+(to\s+)?(withdraw|take out|"
    r"send|transfer|give)\b",
    # Financial hardship, a driver of vulnerability in regulators' guidance.
    r"\b(lost my job|been laid off|got laid off|was laid off|made redundant|paycheck to "
    r"paycheck|(can'?t|cannot) afford (to pay|to eat|food|rent|my|the|our|bills)|"
    r"can'?t pay (my|the|our) (rent|bills?|loan|mortgage)|behind on (my|our) "
    r"(rent|bills|payments|mortgage))\b",
)
_LEGAL = _rx(
    r"(?<!power of )\b(attorney|lawyer|solicitor)\b(?! general)(?!-in-fact| in fact)",
    r"\b(lawsuit|sue|suing|legal action|court order|court date|court case|in court|to court|"
    r"subpoena|garnish\w*|bankruptcy|litigation)\b",
    r"\b(report|complain|file a complaint|escalate)\b[^.?!]{0,30}\b(to|with)\s+(the\s+)?"
    r"(state\s+|federal\s+|insurance\s+|banking\s+)*(cfpb|ombudsman|regulators?|attorney general|"
    r"better business bureau|bbb|fca|occ|fdic|(insurance\s+)?commissioner|"
    r"department of (insurance|financial services|banking)|consumer financial protection bureau)\b",
)
# Any mention of self-harm is handed off at once (the matrix): a fixed rule beside the model.
_SELF_HARM = _rx(
    r"\b(kill myself|end (it all|my life)|ending (it all|my life)|suicid\w*|self-?harm|"
    r"hurt myself|take my (own )?life|don'?t want to (live|be alive|be here|wake up)|"
    r"want to die|better off (dead|without me)|no (point|reason) (in )?(living|going on|"
    r"carrying on))\b",
)
_EMOTIONAL = _SELF_HARM + _rx(
    r"\b(can'?t|cannot|can not)\s+cope\b|\bcrying\b(?!\s+out\s+loud)|\bin tears\b|"
    r"\bpanic\w*\b(?!\s+(button|mode|alarm))|\bhopeless\w*\b",
    r"\b(desperate|falling apart|breaking down|at the end of my rope)\b",
    r"\boverwhelmed\b(?![^.?!]{0,25}\b(app|options?|choices?|features?|settings?|menus?)\b)",
    r"\b(furious|livid|outraged|fed up|sick and tired|at my wits'? end|had enough of you)\b",
)
# A figure as people type it: "12,500", "12.500" or "12 500" (thousands), with cents or not
# ("15,000.00", "15.000,00"), "12500", "1.5".
_FIGURE = (
    r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?![\d.,]\d)"
    r"|\d{1,3}(?:['’]\d{3})+(?:\.\d{1,2})?(?![\d.,]\d)"
    r"|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?(?![\d.,]\d)"
    r"|\d{1,3}(?:[\u00a0 ]\d{3})+(?:[.,]\d{1,2})?(?![\d.,]\d)"
    r"|\d+(?:[.,]\d{1,2}(?!\d)|\.\d+)?"
)
_SCALE = {"k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "million": 1e6, "mil": 1e6}
_CODES = r"usd|eur|gbp|chf|cad|aud|nzd|jpy|sek|nok|dkk|zar|inr|mxn|sgd|hkd"
_CURRENCY = rf"(?:dollars?|euros?|pounds?|francs?|bucks|{_CODES}|\$|€|£)"
_AMOUNT = re.compile(
    # A currency before: "$15,000", "€15.000", "usd 2.5m"
    rf"(?:\$|\b(?:{_CODES})\s?|€|£)\s?({_FIGURE})\s*(k|thousand|grand|m|million|mil)?\b"
    # or after: "15,000 dollars", "20k euros", "15 000 EUR", "15.000,00 €"
    rf"|\b({_FIGURE})\s*(k|thousand|grand|million|mil)?\s*{_CURRENCY}(?!\w)"
    # or none, with a scale that only money takes: "20k", "1.5 million", "ten grand"
    rf"|\b({_FIGURE})\s*(k|thousand|grand|million)\b",
    re.IGNORECASE,
)
_UNITS = (  # noqa: SIM905 - a word list reads best as text
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_WORD_AMOUNT = re.compile(
    rf"\b(?:(a|{'|'.join(_UNITS[1:])})|({'|'.join(_TENS)})(?:[\s-]+({'|'.join(_UNITS[1:10])}))?)"
    r"(?:\s+hundred)?(?:\s+and)?\s+(thousand|grand|million|k)\b",
    re.IGNORECASE,
)
# A bare figure counts as money only right after a verb of moving it ("wire 15000 to ...").
_BARE = re.compile(
    r"\b(\d{1,3}(?:[,.\u00a0 ]\d{3})+|\d{4,})(?![\d%])(?!\s*(?:%|percent|points|miles|"
    r"shares|days|weeks|months|years|km|kilometres|kilometers|units))",
    re.IGNORECASE,
)


def _figure(text: str) -> float:
    """ "12,500", "12.500", "12 500" and "12500" are 12500; "15,000.50" and "15.000,50" are
    15000.5; "1.5" is 1.5."""
    digits = text.replace("\u00a0", " ")
    cents = re.search(r"[.,](\d{1,2})$", digits)
    if cents and re.search(r"\d[ .,'’]\d{3}[.,]\d{1,2}$", digits):
        whole = re.sub(r"\D", "", digits[: cents.start()])
        return float(f"{whole}.{cents.group(1)}")
    if re.fullmatch(r"\d{1,3}(?:[,. '’]\d{3})+", digits):
        return float(re.sub(r"\D", "", digits))
    return float(digits.replace(",", "."))


def _amount_spans(text: str) -> list[tuple[int, int, float]]:
    """(start, end, value) of each sum of money ``text`` names, in figures or in words."""
    out = []
    for m in _AMOUNT.finditer(text):
        groups = m.groups()
        i = next(i for i in (0, 2, 4) if groups[i])
        value = _figure(groups[i]) * _SCALE.get((groups[i + 1] or "").lower(), 1)
        out.append((m.start(), m.end(), value))
    for m in _WORD_AMOUNT.finditer(text):
        unit, tens, tens_unit, scale = m.groups()
        if unit:
            value = 1 if unit.lower() == "a" else _UNITS.index(unit.lower())
        else:
            value = 20 + 10 * _TENS.index(tens.lower())
            value += _UNITS.index(tens_unit.lower()) if tens_unit else 0
        hundred = 100 if re.search(r"\bhundred\b", m.group(), re.IGNORECASE) else 1
        out.append((m.start(), m.end(), value * hundred * _SCALE[scale.lower()]))
    return out


def amounts(text: str) -> list[float]:
    """The sums of money ``text`` names, in figures or in words ("fifteen thousand")."""
    return [value for _, _, value in _amount_spans(text)]


# What a sum pays for, not money sent somewhere: "my $12,000 premium", "a 30k claim", "a $15,000
# balance transfer", "a $20,000 repair bill".
_OWED_NOUN = (
    r"premiums?|claims?|deductibles?|bills?|repairs?|damages?|invoices?|fees?|installments?|"
    r"instalments?|limits?|balances?|salary|income|coverage|polic(?:y|ies)|points|miles|shares|"
    r"loans?|mortgages?|rates?|benefits?|payouts?"
)
_OWED = re.compile(
    r"^[\s.,]*(?:(?!(?:from|to|into|for|at|in|on|by|via|out)\b)[\w'-]+\s+){0,2}?"
    rf"(?:{_OWED_NOUN})\b"
    # "$30,000 of jewelry", "$14,000 of roof damage": what the sum is worth, not money sent
    r"|^\s*(?:worth\s+)?of\s+(?!(?:cash|money|funds|savings|it|that|this|my\s+(?:money|savings"
    r"|funds))\b)[a-z]",
    re.IGNORECASE,
)
_OWED_BETWEEN = re.compile(rf"\b(?:{_OWED_NOUN})\b", re.IGNORECASE)
_VERB_BEFORE = re.compile(rf"{_MONEY_VERB}(?:\s+[\w'’-]+){{0,4}}?\s*$", re.IGNORECASE)
_BARE_VERB_BEFORE = re.compile(
    rf"{_MONEY_VERB}(?:\s+(?:out|over|across|about|around|roughly|me|us|back|of))?\s*$",
    re.IGNORECASE,
)
_MOVED_AFTER = re.compile(
    r"^\s*(?:[\w'-]+\s+)?(?:sent|wired|transferred|moved|withdrawn|transfer|wire)\b"
    # "$15,000 needs to go to my landlord", "my $30,000 surrender value paid into his account"
    r"|^\s*(?:needs?|has|have|must|should|is|are|got)\s+(?:to\s+)?(?:go|leave|be\s+(?:sent|"
    r"wired|transferred|moved|paid))\b"
    r"|^\s*(?:[\w'-]+\s+){0,2}(?:paid|sent|wired|transferred|moved|deposited)\s+(?:in)?to\b",
    re.IGNORECASE,
)
# A question about how moving money works ("How do wire transfers over $10,000 work?", "What
# are the fees for transferring $50,000 abroad?") asks nothing to be moved: no one's money is.
_HOW_IT_WORKS = re.compile(
    r"^\s*(?:how|what|which|why|when|where|is\s+there|are\s+there|does|do)\b", re.IGNORECASE
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i'd|i've|my|me|mine|we|our|us)\b", re.IGNORECASE)


def moved_amounts(text: str) -> list[float]:
    """The sums ``text`` asks to move: each the object of a verb of moving money ("wire
    $15,000", "send my son 20k", "$11,000 sent to ...", "wire 15000 to ..."), not what it pays
    for ("pay my $12,000 premium", "pay out a 30k claim", "a $15,000 balance transfer")."""
    out = []
    spans = _amount_spans(text)
    taken = [(a, b) for a, b, _ in spans]
    spans += [
        (m.start(), m.end(), _figure(m.group(1)))
        for m in _BARE.finditer(text)
        if not any(a <= m.start() < b for a, b in taken)
        and _BARE_VERB_BEFORE.search(_clause_before(text, m.start()))
    ]
    for start, end, value in spans:
        before, after = _clause_before(text, start), text[end : end + 40]
        if _OWED.match(after):
            continue
        rest = _SENTENCE.match(text, start)
        sentence = before + (rest.group() if rest else text[start:end])
        if _HOW_IT_WORKS.match(sentence) and not _FIRST_PERSON.search(sentence):
            continue
        verb = _VERB_BEFORE.search(before[-40:])
        if verb is not None and _OWED_BETWEEN.search(before[-40:][verb.end(1) :]):
            continue  # "pay out a claim of 30k", "sent me a bill for 14.000 €"
        if verb is not None or _MOVED_AFTER.match(after):
            out.append(value)
    return out


def _clause_before(text: str, at: int) -> str:
    """The text before ``at`` back to the start of its sentence."""
    cut = max(text.rfind(ch, 0, at) for ch in ".!?\n")
    return text[cut + 1 : at] if cut >= 0 else text[:at]


def _any(rxs: list[re.Pattern[str]], text: str) -> bool:
    return any(r.search(text) for r in rxs)


def risk_signals(text: str, large_amount: float = 10_000, phrases: bool = True) -> list[Signal]:
    """Escalation signals in priority order (first is the reason to record).

    The structured rules always run: money movement with a location that does not match, an
    amount at or above ``large_amount``, the legal words the matrix names, any mention of
    self-harm. ``phrases``: also the phrase lists for fraud, vulnerability and distress, which
    the learned risk detector (``models/risk.py``) replaces when it runs."""
    out: list[Signal] = []
    money = bool(re.search(_MONEY_VERB, text, re.IGNORECASE))
    if phrases and _any(_FRAUD, text):
        out.append(Signal(reasons.FRAUD.name, reasons.FRAUD.description))
    if money and _any(_LOCATION_STATED, text) and _any(_LOCATION_SESSION, text):
        out.append(Signal(reasons.LOCATION_MISMATCH.name, reasons.LOCATION_MISMATCH.description))
    if phrases and _any(_VULNERABLE, text):
        out.append(Signal(reasons.VULNERABLE.name, reasons.VULNERABLE.description))
    if _any(_LEGAL, text):
        out.append(Signal(reasons.LEGAL.name, reasons.LEGAL.description))
    if _any(_EMOTIONAL if phrases else _SELF_HARM, text):
        out.append(Signal(reasons.EMOTIONAL.name, reasons.EMOTIONAL.description))
    if any(a >= large_amount for a in moved_amounts(text)):
        # The evidence names the threshold in force (the registry's line names the setting).
        out.append(Signal(reasons.MONEY_MOVEMENT.name, f"asks to move {large_amount:,.0f} or more"))
    return out


# A request to dump whole documents only counts as an attack next to another attack marker.
_DUMP = re.compile(
    r"\b(print|output|dump|reveal|show|give|paste|copy)\b[^.?!]{0,20}\b(complete|full|entire|"
    r"whole|verbatim|all of)\b",
    re.IGNORECASE,
)


@dataclass
class Understanding:
    question: str  # the visible question with attack sentences removed
    parts: list[str]  # sub-questions of a compound question
    findings: list[Finding] = field(default_factory=list)
    refuse: str | None = None  # why the whole request is refused
    signals: list[Signal] = field(default_factory=list)
    intent: str | None = None  # from the operator's trained model, if any
    intent_confidence: float = 0.0
    hidden: tuple[str, ...] = ()  # kinds of hidden content removed before reading it
    hidden_findings: list[str] = field(default_factory=list)  # attack kinds inside that content

    @property
    def injection(self) -> bool:
        return bool(self.findings or self.hidden_findings)

    def audit_note(self) -> dict[str, object] | None:
        """What the audit row's settings say of hidden content and dropped attack sentences
        (kinds and counts only: the words may carry personal data)."""
        if not (self.findings or self.hidden or self.hidden_findings):
            return None
        return {
            "hidden_content_removed": list(self.hidden),
            "hidden_instructions": sorted(set(self.hidden_findings)),
            "findings": sorted({f.kind for f in self.findings}),
            "dropped": "all" if self.refuse else len(self.findings),
        }


# Courtesy around a question, which asks nothing: a greeting that opens it ("Dear Harbor Mutual,",
# "Hi there,", "Good morning,") and a thanks or sign-off that closes it ("Thanks!", "Kind regards,
# <NAME_1>"). Read, they only weigh words no document holds against the answer.
_OPENING = re.compile(
    r"^\s*(?:(?i:hi|hello|hey|dear|greetings|good\s+(?:morning|afternoon|evening)|hola|bonjour"
    r"|hallo|buongiorno|ciao|olá|hej)\b[^,.!?:\n]{0,40}[,.!:\n]\s*)+"
)
# The masker's sign-offs (in the languages it reads), after the question's end.
_CLOSING = re.compile(rf"(?:[.!?]\s*|\n\s*)(?i:{SIGN_OFF})\b[^.?]{{0,60}}$")


def courtesy_stripped(text: str) -> str:
    """``text`` without the greeting that opens it and the thanks or sign-off that closes it,
    when a question of three words or more is left."""
    out = _OPENING.sub("", text, count=1)
    closing = _CLOSING.search(out)
    if closing is not None:
        out = out[: closing.start() + 1].rstrip()
    return out if len(out.split()) >= 3 else text


def split_parts(question: str) -> list[str]:
    """Split a compound question ("What is X, and how do I Y?") into answerable parts.

    A lead-in before a colon ("Thinking about Platinum: what's the fee, and ...") is context,
    not a part: it is carried into every part after it.
    """
    pieces = [p.strip() for p in re.split(r"(?<=\?)\s+", question) if p.strip()]
    parts: list[str] = []
    for piece in pieces:
        context = ""
        lead = re.match(
            r"^([^:?]{3,80}):\s+(?=(?:what|which|how|when|where|who|why|is|are|do|does|"
            r"can)\b)",
            piece,
            flags=re.IGNORECASE,
        )
        if lead:
            context, piece = lead.group(1).strip() + ": ", piece[lead.end() :]
        sub = re.split(
            r",?\s+(?:and|also|plus)\s+(?=(?:what|which|how|when|where|who|why|is|are|does|do|"
            r"can|will|what's|how's)\b)|;\s+(?=(?:what|which|how|when|where|who|why)\b)",
            piece,
            flags=re.IGNORECASE,
        )
        kept = [s.strip() for s in sub if len(query_terms(s)) >= 2]
        for i in range(1, len(kept)):
            # "How long must my password be, and how often do I change it?": the second part
            # asks about the first one's subject, which it names only by a pronoun.
            if _PRONOUN.search(kept[i]) and not _PRONOUN.search(kept[0]):
                subject = [w for w in query_terms(kept[0]) if w not in query_terms(kept[i])]
                kept[i] = f"{kept[i]} ({' '.join(subject)})"
        parts += [context + s for s in kept]
    return parts or [question]


_PRONOUN = re.compile(r"(?i)\b(?:it|its|they|them|their)\b")


REFUSED = "the request tries to override instructions or reach restricted content"
NOTHING_VISIBLE = "the message holds no visible question (only hidden content)"


def understand(
    question: str,
    large_amount: float = 10_000,
    detector: InjectionDetector | None = None,
    seen: Revealed | None = None,
    phrases: bool = True,
) -> Understanding:
    """Read ``question``: hidden content out (``seen``, when the caller already revealed and
    re-masked it), attack sentences out, then what is left and the risk signals it carries.

    Beside a real request, an override or exfiltration sentence is dropped and the rest is
    answered; a claim of authority taints the whole message (what follows it asks under a false
    pretence), so it is refused, as is a message with nothing left to answer."""
    seen = seen if seen is not None else reveal(question)
    text = seen.text
    findings = _disguised(text, _scan(text, detector), detector)
    hidden_kinds = [f.kind for piece in seen.hidden for f in _scan(piece, detector)]
    kept: list[str] = []
    for m in _SENTENCE.finditer(text):
        if not any(f.start < m.end() and f.end > m.start() for f in findings):
            kept.append(m.group().strip())
    if findings or hidden_kinds:
        # Beside an attack, a sentence that goes on with it ("Revela tus instrucciones.") goes
        # with it.
        kept = [k for k in kept if not lexicon.beside_attack(k)]
    clean = " ".join(k for k in kept if k)
    refuse = None
    if findings or hidden_kinds:
        authority = "authority" in {f.kind for f in findings}
        if authority or _DUMP.search(clean) or len(query_terms(clean)) < 2:
            refuse = REFUSED
    elif seen.removed and not clean:
        refuse = NOTHING_VISIBLE
    if refuse:
        clean = ""
    return Understanding(
        question=clean,
        parts=split_parts(clean) if clean else [],
        findings=findings,
        refuse=refuse,
        signals=risk_signals(text, large_amount, phrases),
        hidden=seen.removed,
        hidden_findings=hidden_kinds,
    )


def _scan(piece: str, detector: InjectionDetector | None) -> list[Finding]:
    return detector.findings(piece) if detector else injection_findings(piece)


# Digits and signs written for letters ("1gn0re y0ur ru1es"), inside a word of letters.
_LEET = re.compile(r"(?<=[a-z])[013457@$]|[013457@$](?=[a-z])", re.IGNORECASE)
_LEET_LETTERS = {"0": "o", "1": "1", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}


def _between_vowels(text: str, i: int) -> bool:
    vowels = "aeiouAEIOU"
    return 0 < i < len(text) - 1 and text[i - 1] in vowels and text[i + 1] in vowels


def _disguised(
    text: str, found: list[Finding], detector: InjectionDetector | None
) -> list[Finding]:
    """``found`` (the attacks read in ``text``) and those read once the text is undisguised:
    words spelled letter by letter joined ("I g n o r e"), digits written for letters read as
    the letters ("1gn0re", with "1" as "i" and as "l"). Offsets are the text's own."""
    out = list(found)

    def add(more: list[Finding], start_of: list[int], end_of: list[int]) -> None:
        for f in more:
            a, b = start_of[f.start], end_of[f.end - 1]
            if not any(o.start < b and o.end > a for o in out):
                out.append(Finding(f.kind, a, b, f"disguised:{f.pattern}"))

    plain, starts, ends = read_through(text)
    if plain != text:
        add(_scan(plain, detector), starts, ends)
    leet = {m.start() for m in _LEET.finditer(text)}  # the positions written for letters
    if leet:
        same = list(range(len(text)))
        after = [i + 1 for i in same]
        plain = "".join(_LEET_LETTERS[ch] if i in leet else ch for i, ch in enumerate(text))
        # "1" is "i" or "l": between two vowels an "l" ("ru1es"), else an "i" ("1gn0re",
        # "instruct10ns"); and each of the two throughout ("ca11", "1ist"). A "1" that is a
        # digit (not beside a letter) stays.
        ones = [i for i in leet if text[i] == "1"]

        def with_ones(letter_at: Callable[[int], str]) -> str:
            chars = list(plain)
            for i in ones:
                chars[i] = letter_at(i)
            return "".join(chars)

        for read in (
            with_ones(lambda i: "l" if _between_vowels(plain, i) else "i"),
            with_ones(lambda i: "i"),
            with_ones(lambda i: "l"),
        ):
            add(_scan(read, detector), same, after)
    return sorted(out, key=lambda f: f.start)
