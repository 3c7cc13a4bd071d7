"""Instruction-like text: in questions (direct injection) and in documents (indirect).

Two layers. Rules catch the classic forms: regular expressions (English and German) for "ignore
your previous instructions", "you are now in developer mode", "print the system prompt", and a
lexicon per language (``lexicon.py``: English, Spanish, French, German, Italian, Portuguese) that
reads which kinds of words meet in a sentence (a verb of setting aside with the assistant's
instructions, a verb of showing with what only the system holds, a claimed role granting
permission), so an override in another language is recognised, not handed off. An optional
classifier, trained by the operator on labelled examples with ``steward guard train-injection
FILE...`` (TF-IDF n-grams, calibrated logistic regression, see ``textmodel.py``), catches the
rest. It judges one sentence at a time; unless the operator gives a threshold, training picks
the one that flags at most 5% of the benign examples out of fold (k-fold cross-validation
inside the training examples). Steward ships no training data and no
trained model: the model's vocabulary would carry pieces of its training texts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steward.core.errors import InputError
from steward.guard import lexicon
from steward.models.textmodel import LinearTextModel, fit

INJECTION, BENIGN = "injection", "benign"


@dataclass(frozen=True)
class Finding:
    """Instruction-like text: ``kind`` is override, exfiltration, authority or concealment."""

    kind: str
    start: int
    end: int
    pattern: str


# "Ignore all rules" is read by the lexicon only when it opens the sentence (a command): "can I
# ignore all the rules about minimum balance?" is a question.
_INJECTION_PATTERNS: list[tuple[str, str]] = [
    (
        "override",
        r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|"
        r"earlier|your|system|safety)\b[^.\n]{0,20}\b(instructions?|rules|prompts?|"
        r"guidelines|restrictions|directives)\b",
    ),
    ("override", r"\b(system|admin|developer)\s+(note|override|message|prompt|instruction)s?\b"),
    ("override", r"\bnote\s+(?:for|to)\s+the\s+ai\b|\b(?:note|message)\s+to\s+(?:the\s+)?ai\b"),
    # A header that speaks to the model ("ASSISTANT INSTRUCTION:", "AI directive:", "New rule:")
    (
        "override",
        r"\b(?:assistant|ai|model|bot|chatbot)\s+(?:instructions?|directives?|commands?)\s*:"
        r"|(?:^|[.!?\-]\s*|\balso,?\s+)new\s+(?:rules?|instructions?|directives?)\s*:",
    ),
    # "you're MeridianBot-Unfiltered now", "you are an uncensored assistant"
    (
        "override",
        r"\byou(?:'re|\s+are)\s+(?:now\s+)?(?:an?\s+)?[\w-]*(?:bot|gpt|unfiltered|unrestricted|"
        r"uncensored|jailbr\w*)[\w-]*\b",
    ),
    # A mode switched on, not a phone's setting asked about ("what is developer mode in your
    # app?").
    (
        "override",
        r"\byou\s+are\s+now\b|\b(?:enable|enabled|activate|activated|enter|entering|switch\s+"
        r"(?:on|to|into)|turn\s+on|in|with|into|now\s+in)\s+(?:the\s+)?(?:developer|god|dan|jailbreak|"
        r"unrestricted)\s+mode\b|\b(?:developer|god|dan|jailbreak|unrestricted)\s+mode\s+"
        r"(?:enabled|activated|on)\b|\b(?:god|dan|jailbreak|unrestricted)\s+mode\b",
    ),
    ("override", r"\bno\s+(?:restrictions|rules|filters|limits)\b"),
    # "Act as" a persona, not a role in a policy ("act as the named driver").
    (
        "override",
        r"\b(?:pretend|role-?play)\s+(?:to\s+be|as|that\s+you)\b"
        # said to the assistant ("I want you to act as", "now you act as") or as a command
        r"|(?:^|[.!?:;]\s*|\byou\s+(?:to\s+)?|\bnow\s+)act\s+as\b"
        r"|\bact\s+as\s+(?:if\s+you\b|"
        r"(?:an?\s+|the\s+|my\s+)?(?:ai|assistant|bot|chatbot|model|[a-z]*gpt|dan|system|developer|"
        r"admin\w*|unfiltered|unrestricted|uncensored|jailbroken|evil|hacker|grand(?:ma|mother|pa|"
        r"father)|deceased|(?:[\w-]+\s+)?(?:interpreter|terminal|console|shell))\b)",
    ),
    ("concealment", r"\bdo\s+not\s+(?:mention|reveal|tell)\b[^.\n]{0,30}\b(note|instruction)"),
    (
        "exfiltration",
        r"\b(print|output|reveal|show|dump|display|list|give|send|append|include|repeat|paste)\b"
        # "your rules" of the assistant, not the bank's rules on a topic ("your rules for
        # overdrafts", "your instructions for a wire").
        r"[^.\n]{0,60}\b(system\s+prompt|your\s+(?:instructions|prompt|rules)(?!\s+(?:for|on|"
        r"about|regarding|when|if|around)\b)|full\s+text\s+of"
        r"|every\s+(?:restricted|confidential|hidden|internal|secret)"
        r"|the\s+internal\s+(?:underwriting|pricing|policy|policies|scores?|thresholds?|rules?)"
        r"|all\s+(?:the\s+)?"
        r"(?:restricted|confidential|hidden|internal|secret)|(?:titles|names)\s+of\s+(?:every|all)"
        r"|(?:other|another)\s+(?:users?|customers?|people)'?s?\b)",
    ),
    ("authority", r"\b(?:i\s*am|i'm)\s+an?\s+\w+\s+with\s+(?:full|admin|root|unrestricted)\s+"),
    ("authority", r"\bfull\s+(?:clearance|access\s+rights)\b"),
    # A message dressed as the system's own ("```system", "<|system|>", "[system]:" or "###
    # System" on a line of its own): what follows claims an authority no asker has.
    (
        "authority",
        r"(?:```+|~~~+)[ \t]*(?:system|developer|admin)\b"
        r"|<\|?\s*(?:system|developer|admin)\s*\|?>"
        r"|(?:^|\n)[ \t]*(?:\[\s*(?:system|developer|admin)(?:\s+(?:message|prompt))?\s*\]"
        r"|#{1,3}[ \t]*(?:system|developer|admin)(?:\s+(?:message|prompt))?)[ \t]*(?::|\n)",
    ),
    # "My grandmother used to read me the ... thresholds": the old role-play that asks for a
    # secret as a memory.
    (
        "override",
        r"\b(?:grand(?:ma|mother|pa|father)|granny|nana)\b[^.\n]{0,60}\bused\s+to\s+(?:(?:read|"
        r"recite|sing|whisper)\s+(?:me\s+)?(?:the|a|her|his|their)\b|tell\s+me\s+(?:the|her|his|"
        r"their)\s+(?:[\w-]+\s+){0,3}(?:secrets?|codes?|passwords?|thresholds?|keys?|"
        r"instructions|prompts?|rules|triggers?|limits?)\b)",
    ),
    (
        "exfiltration",
        r"\bwhat\s+(?:were|are|have)\s+you\s+(?:been\s+)?(?:told|instructed|programmed|"
        r"trained|configured)\s+(?:to\s+)?(?:never|not)\b",
    ),
    # Goal hijacking: "forget everything (before that) and ...", "ignore all preceding orders".
    (
        "override",
        r"\b(forget|ignore|disregard)\s+(?:about\s+)?(everything|all\s+(?:of\s+)?"
        r"(?:that|this|the\s+above|before|preceding|previous))\b",
    ),
    (
        "override",
        r"\b(ignore|forget|disregard)\s+(?:all\s+)?(?:the\s+)?(?:preceding|previous|"
        r"prior|above|earlier)\s+(?:orders|commands|instructions|prompts?|directions|tasks|"
        r"rules|context|text|input)\b",
    ),
    (
        "override",
        r"\bnow\s+(?:you\s+(?:are|will|must)|your\s+new\s+task|i\s+have\s+a\s+new\s+"
        r"(?:task|challenge))\b",
    ),
    (
        "exfiltration",
        r"\b(?:show|print|reveal|repeat|what\s+(?:is|was|are))\s+(?:me\s+)?(?:your|the)"
        r"\s+(?:initial|original|hidden|secret|system)\s+(?:prompt|instructions?)\b",
    ),
    (
        "override",
        r"\b(?:do\s+anything\s+now|DAN|STAN|DUDE|AIM)\b(?=[^.\n]{0,80}\b(?:mode|"
        r"character|persona|role|prompt|jailbreak|rules?|restrictions?)\b)",
    ),
    # German: "vergiss/ignoriere alle (vorherigen) Anweisungen/Aufträge".
    (
        "override",
        r"\b(vergiss|vergessen\s+sie|ignorier(?:e|en\s+sie)?|missachte)\b[^.\n]{0,40}"
        r"\b(alle[sn]?|vorherigen?|obigen?|bisherigen?|anweisungen|auftr[äa]ge|befehle|"
        r"aufgaben)\b",
    ),
    ("override", r"\b(du\s+bist\s+(?:jetzt|nun|keine?)|neue\s+aufgabe)\b"),
]
_INJECTION_RES = [(k, re.compile(p, re.IGNORECASE)) for k, p in _INJECTION_PATTERNS]


DEFAULT_MAX_FALSE_POSITIVES = 0.05  # share of benign training examples the chosen threshold flags
# A sentence ends at a stop, not at the point of a decimal ("4.5%", "$1,000.50").
_SENTENCE = re.compile(r"(?:[^.!?\n]|(?<=\d)\.(?=\d))+(?:[.!?]+|$)")


def injection_findings(text: str) -> list[Finding]:
    """Instruction-like passages in ``text`` (a question or a retrieved passage): the English
    and German patterns, then each other sentence read against every language's lexicon."""
    found = []
    for kind, rx in _INJECTION_RES:
        for m in rx.finditer(text):
            found.append(Finding(kind, m.start(), m.end(), rx.pattern[:40]))
    for m in _SENTENCE.finditer(text):
        a, b = m.start(), m.end()
        if any(f.start < b and f.end > a for f in found) or not m.group().strip():
            continue
        hit = lexicon.match(m.group())
        if hit is not None:
            found.append(Finding(hit[0], a, b, hit[1]))
    return sorted(found, key=lambda f: f.start)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where each sentence of ``text`` starts and ends: the unit the classifier judges."""
    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]
    return spans or [(0, len(text))]


@dataclass
class InjectionModel:
    """A trained injection classifier, the probability at which it flags a sentence, and (when
    the threshold was chosen by cross-validation) what that cross-validation measured."""

    model: LinearTextModel
    threshold: float = 0.5
    cv: dict[str, float] | None = None

    def score(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        k = self.model.labels.index(INJECTION)
        return [float(p[k]) for p in self.model.probabilities(list(texts))]

    def sentence_scores(self, texts: Sequence[str]) -> list[float]:
        """Each text's highest sentence score: what the detector compares with the threshold."""
        pieces = [[t[a:b] for a, b in sentence_spans(t)] for t in texts]
        flat = self.score([s for p in pieces for s in p])
        out, i = [], 0
        for p in pieces:
            out.append(max(flat[i : i + len(p)]))
            i += len(p)
        return out

    def save(self, path: Path) -> None:
        self.model.meta = {"threshold": self.threshold, "cv": self.cv}
        self.model.save(path)

    @classmethod
    def load(cls, path: Path) -> InjectionModel:
        model = LinearTextModel.load(path)
        return cls(model, float(model.meta.get("threshold", 0.5)), model.meta.get("cv"))


def _flags(labels: Sequence[bool | int | str]) -> list[bool]:
    return [str(x).lower() in ("1", "true", INJECTION) for x in labels]


def _fit(texts: Sequence[str], flags: Sequence[bool], seed: int) -> InjectionModel:
    """The classifier alone. The detector judges sentences, so each sentence of a multi-sentence
    benign example is also a benign example (an injection's sentences may be innocent: not so)."""
    xs, names = list(texts), [INJECTION if f else BENIGN for f in flags]
    for text, flag in zip(texts, flags, strict=True):
        spans = sentence_spans(text)
        if not flag and len(spans) > 1:
            xs.extend(text[a:b] for a, b in spans)
            names.extend(BENIGN for _ in spans)
    return InjectionModel(fit(xs, names, None, c=10.0, seed=seed))


def choose_threshold(
    texts: Sequence[str],
    labels: Sequence[bool | int | str],
    max_false_positives: float = DEFAULT_MAX_FALSE_POSITIVES,
    folds: int = 5,
    seed: int = 0,
) -> tuple[float, dict[str, float]]:
    """The lowest threshold that flags at most ``max_false_positives`` of the benign examples,
    judged out of fold (k-fold cross-validation inside these examples only), and what it scored.
    """
    from sklearn.model_selection import StratifiedKFold

    flags = np.array(_flags(labels))
    k = min(folds, int(flags.sum()), int((~flags).sum()))
    if k < 2:
        raise InputError(
            "Choosing a threshold needs at least two injections and two benign "
            "examples — add examples or pass a threshold."
        )
    scores = np.zeros(len(texts))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(texts, flags):
        model = _fit([texts[i] for i in tr], flags[tr].tolist(), seed)
        scores[te] = model.sentence_scores([texts[i] for i in te])
    benign = np.sort(scores[~flags])[::-1]
    allowed = int(np.floor(max_false_positives * len(benign) + 1e-9))
    threshold = float(np.nextafter(benign[allowed], 1.0)) if allowed < len(benign) else 0.0
    threshold = min(max(threshold, 0.05), 0.99)
    cv = {
        "folds": float(k),
        "detection": round(float(np.mean(scores[flags] >= threshold)), 4),
        "false_positive_rate": round(float(np.mean(scores[~flags] >= threshold)), 4),
    }
    return threshold, cv


def train_injection_model(
    texts: Sequence[str],
    labels: Sequence[bool | int | str],
    threshold: float | None = None,
    seed: int = 0,
    max_false_positives: float = DEFAULT_MAX_FALSE_POSITIVES,
) -> InjectionModel:
    """Fit on examples labelled injection (True/1/"injection") or benign. Without a
    ``threshold``, choose one by cross-validation on these examples (``choose_threshold``)."""
    flags = _flags(labels)
    cv = None
    if threshold is None:
        threshold, cv = choose_threshold(texts, flags, max_false_positives, seed=seed)
    model = _fit(texts, flags, seed)
    model.threshold, model.cv = threshold, cv
    return model


class InjectionDetector:
    """Rules, plus the operator's trained model when there is one. The model judges each
    sentence on its own, so a legitimate question beside an attack keeps its legitimate part."""

    def __init__(self, model: InjectionModel | None = None) -> None:
        self.model = model

    def findings(self, text: str) -> list[Finding]:
        found = injection_findings(text)
        if self.model is not None:
            spans = sentence_spans(text) if text.strip() else []
            scores = self.model.score([text[a:b] for a, b in spans])
            for (a, b), p in zip(spans, scores, strict=True):
                if p >= self.model.threshold and not any(f.start < b and f.end > a for f in found):
                    found.append(Finding("classifier", a, b, f"p={p:.2f}"))
        return sorted(found, key=lambda f: f.start)

    def flags(self, text: str) -> bool:
        return bool(self.findings(text))
