"""The phrase rules of commit 066d2d2 (the risk signals before the learned detector), kept
verbatim as the baseline that ``bench.py`` measures in the same run. Not used by Steward."""

from __future__ import annotations

import re
from dataclasses import dataclass

REASONS = ("fraud", "location_mismatch", "vulnerable", "legal", "emotional", "money_movement")
_MONEY_VERB = (
    r"\b(wire|wiring|transfer|send|sending|move|moving|pay out|speed up|recall|reverse|"
    r"raise|increase)\b"
)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")


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
    r"\b(i'?m|i am|we'?re|currently|right now)\s+(travel+ing|in|at|abroad|overseas|visiting)\b",
    r"\b(travel+ing|on (a )?trip|on vacation|on holiday)\s+(in|to|through)\b",
)
_LOCATION_SESSION = _rx(
    r"\b(session|sign-?in|log-?in|ip|app|device|connection)\b[^.?!]{0,60}\b(from|in|coming from|"
    r"located in|shows?|says?)\b",
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
    r"(?<!power of )\b(attorney|lawyer|solicitor)\b(?! general)",
    r"\b(lawsuit|sue|suing|legal action|court order|court date|court case|in court|to court|"
    r"subpoena|garnish\w*|bankruptcy|litigation)\b",
    r"\b(report|complain|file a complaint|escalate)\b[^.?!]{0,30}\b(to|with)\s+(the\s+)?"
    r"(cfpb|ombudsman|regulator|attorney general|better business bureau|bbb|fca|occ|fdic)\b",
)
_EMOTIONAL = _rx(
    r"\b(can'?t|cannot|can not)\s+cope\b|\bcrying\b(?!\s+out\s+loud)|\bin tears\b|"
    r"\bpanic\w*\b(?!\s+(button|mode|alarm))|\bhopeless\w*\b",
    r"\b(kill myself|end (it|my life)|suicid\w*|self-?harm|hurt myself|don'?t want to live|"
    r"want to die)\b",
    r"\b(desperate|falling apart|breaking down|at the end of my rope)\b",
    r"\boverwhelmed\b(?![^.?!]{0,25}\b(app|options?|choices?|features?|settings?|menus?)\b)",
    r"\b(furious|livid|outraged|fed up|sick and tired|at my wits'? end|had enough of you)\b",
)
_AMOUNT = re.compile(
    r"(?:\$|usd\s?|€|£)\s?(\d[\d,]*(?:\.\d+)?)\s*(k|thousand|m|million)?"
    r"|(\d[\d,]*(?:\.\d+)?)\s*(k|thousand|million)?\s*(?:dollars|usd)",
    re.IGNORECASE,
)


def amounts(text: str) -> list[float]:
    out = []
    for m in _AMOUNT.finditer(text):
        num, mult = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = float(num.replace(",", ""))
        scale = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get((mult or "").lower(), 1)
        out.append(value * scale)
    return out


def _any(rxs: list[re.Pattern[str]], text: str) -> bool:
    return any(r.search(text) for r in rxs)


def risk_signals(text: str, large_amount: float = 10_000) -> list[Signal]:
    """Escalation signals in priority order (first is the reason to record)."""
    out: list[Signal] = []
    money = bool(re.search(_MONEY_VERB, text, re.IGNORECASE))
    if _any(_FRAUD, text):
        out.append(Signal("fraud", "reports activity the customer did not make or authorise"))
    if money and _any(_LOCATION_STATED, text) and _any(_LOCATION_SESSION, text):
        out.append(
            Signal("location_mismatch", "money movement with a location that does not match")
        )
    if _any(_VULNERABLE, text):
        out.append(Signal("vulnerable", "signs of vulnerability or third-party pressure"))
    if _any(_LEGAL, text):
        out.append(Signal("legal", "mentions legal action or legal process"))
    if _any(_EMOTIONAL, text):
        out.append(Signal("emotional", "signs of distress"))
    if money and any(a >= large_amount for a in amounts(text)):
        out.append(Signal("money_movement", f"asks to move {large_amount:,.0f} or more"))
    return out
