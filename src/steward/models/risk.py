"""The learned risk detector: which conversations a person must take (fraud, vulnerability,
distress, legal), read from how people describe them rather than from phrase lists.

A calibrated linear model (``textmodel.py``: TF-IDF word and character n-grams) over five
labels, ``none`` and the four hand-off reasons of the escalation matrix that live in words
(``fraud``, ``vulnerable``, ``emotional``, ``legal``; location and amount rules stay structured
in ``pipeline/understand.py``). A message is handed off when the model's probability that it is
*not* ``none`` reaches the threshold; the reason is the most probable risk label. The threshold is
chosen by k-fold cross-validation on the training examples: the lowest one whose out-of-fold
false-escalation rate stays within the stated budgets (1% of all ``none`` examples, 5% of the
hand-written ones, which are mostly near misses such as "how do I report fraud?").

Training data (``scripts/train-risk``): Banking77's train split (its four reports of card,
cash, direct-debit activity the customer did not make or a compromised card as ``fraud``, the
other 73 intents as ``none``), CLINC150's banking and credit-card intents (``report_fraud`` as
``fraud``) and the project's own labelled examples of the typologies banks train staff on
(``training/risk/examples.jsonl``). The trained model ships with Steward
(``models/data/risk.*``: vocabularies and coefficients, JSON + NPZ, no pickle); operators can
override it per center with their own rules (``escalation_rules`` in the policy).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from steward.core.errors import InputError
from steward.models.textmodel import LinearTextModel, fit

NONE = "none"
LABELS = ("fraud", "vulnerable", "emotional", "legal")  # the matrix's priority order
SHIPPED = Path(__file__).parent / "data" / "risk"
DEFAULT_BUDGET = 0.01  # out-of-fold false escalations allowed on the `none` examples
HARD_BUDGET = 0.05  # ... and on the hand-written ones (near misses)
HARD_WEIGHT = 3  # how many times a hand-written example counts in training


@dataclass(frozen=True)
class RiskScore:
    reason: str | None  # the most probable risk label, when the threshold is reached
    probability: float  # 1 - p(none)
    by_label: dict[str, float] = field(default_factory=dict)


@dataclass
class RiskModel:
    model: LinearTextModel
    threshold: float

    @cached_property
    def model_id(self) -> str:
        """A short fingerprint of the coefficients: the audit row names the model it used."""
        import hashlib

        digest = hashlib.sha256(self.model.coef.tobytes() + self.model.intercept.tobytes())
        return f"risk-{digest.hexdigest()[:12]}"

    @property
    def embedder_id(self) -> str:
        """The sentence embedder whose vectors the model reads ("" for a text-only model)."""
        return str(self.model.meta.get("embedder_id", "")) if self.model.embed_weight else ""

    def score(
        self,
        texts: Sequence[str],
        vectors: np.ndarray | None = None,
        threshold: float | None = None,
    ) -> list[RiskScore]:
        if not texts:
            return []
        cut = self.threshold if threshold is None else threshold
        labels = self.model.labels
        probs = self.model.probabilities(list(texts), vectors)
        none = labels.index(NONE)
        out = []
        for row in probs:
            risk = 1.0 - float(row[none])
            by_label = {lab: round(float(row[i]), 4) for i, lab in enumerate(labels) if i != none}
            reason = max(by_label, key=lambda k: by_label[k]) if risk >= cut else None
            out.append(RiskScore(reason, round(risk, 4), by_label))
        return out

    def save(self, path: Path) -> None:
        self.model.meta = {**self.model.meta, "threshold": self.threshold}
        self.model.save(path)

    @classmethod
    def load(cls, path: Path) -> RiskModel:
        model = LinearTextModel.load(path)
        if NONE not in model.labels:
            raise InputError(f"{path} is not a risk model (it has no `{NONE}` label)")
        return cls(model, float(model.meta.get("threshold", 0.5)))


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
MAX_WINDOWS = 8
MAX_TEXT = 10_000  # longest training example, in characters


def windows(text: str) -> list[str]:
    """The message, and (when it has more than two sentences) each pair of neighbouring
    sentences: a report buried in a long message about something else is read without the
    rest diluting it, and one told over two sentences ("A man called. I gave him the code.") is
    read whole. Single sentences are not read alone: out of context they mislead ("my session
    is coming from Texas" alone reads as fraud; beside the wire request it is a location
    mismatch). At most MAX_WINDOWS pairs, the last ones kept: risk is often said last."""
    sentences = [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]
    if len(sentences) <= 2:
        return [text]
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(sentences)]
    return [text, *pairs[-MAX_WINDOWS:]]


def strongest(scores: list[RiskScore]) -> RiskScore:
    """The whole message's reading when it reaches the threshold (its reason is read in
    context), else the reading of the window most likely to be a risk."""
    if scores[0].reason is not None:
        return scores[0]
    return max(scores, key=lambda s: s.probability)


@lru_cache(maxsize=2)
def shipped(text_only: bool = False) -> RiskModel | None:
    """The model that ships with Steward (it reads the default MiniLM embedder's vectors; its
    ``text_only`` companion reads words only), or None when the package was built without it."""
    path = SHIPPED.with_name(SHIPPED.name + "-text") if text_only else SHIPPED
    if not path.with_suffix(".json").is_file():
        return None
    return RiskModel.load(path)


def out_of_fold(
    texts: Sequence[str],
    labels: Sequence[str],
    vectors: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    c: float = 10.0,
    groups: Sequence[int] | None = None,
) -> np.ndarray:
    """1 - p(none) for every example, from a model that never saw it (stratified k-fold; copies
    of one example share its ``groups`` number and so its fold)."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.array(labels)
    risk = np.zeros(len(texts))
    group_ids = np.arange(len(y)) if groups is None else np.asarray(groups)
    for train_idx, test_idx in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(
        np.zeros(len(y)), y, group_ids
    ):
        model = fit(
            [texts[i] for i in train_idx],
            list(y[train_idx]),
            None if vectors is None else vectors[train_idx],
            c=c,
            seed=seed,
        )
        probs = model.probabilities(
            [texts[i] for i in test_idx], None if vectors is None else vectors[test_idx]
        )
        risk[test_idx] = 1.0 - probs[:, model.labels.index(NONE)]
    return risk


def threshold_for(risk: np.ndarray, labels: Sequence[str], budget: float) -> float:
    """The lowest threshold whose false-escalation rate on the ``none`` examples is <= budget."""
    negatives = np.sort(risk[np.array(labels) == NONE])[::-1]
    if not len(negatives):
        raise InputError("Risk training needs `none` examples to set a threshold.")
    allowed = int(np.floor(budget * len(negatives)))
    # escalate when risk >= threshold: just above the (allowed+1)-th highest negative score
    return (
        float(min(0.99, np.nextafter(negatives[allowed], 1.0))) if allowed < len(negatives) else 0.0
    )


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    vectors: np.ndarray | None = None,
    embedder_id: str = "",
    budget: float = DEFAULT_BUDGET,
    folds: int = 5,
    c: float = 10.0,
    seed: int = 0,
    sources: dict[str, int] | None = None,
    hard: Sequence[bool] | None = None,
    hard_budget: float = HARD_BUDGET,
    hard_weight: int = HARD_WEIGHT,
) -> tuple[RiskModel, dict[str, object]]:
    """Fit on every example; the threshold comes from out-of-fold scores: the lowest that hands
    off at most ``budget`` of all ``none`` examples and at most ``hard_budget`` of the ``hard``
    ones (the hand-written examples, whose `none` lines are mostly near misses: "how do I
    report fraud?"). The hard examples weigh ``hard_weight`` times (copies that stay in one
    fold), so that a few hundred of them count beside thousands of public ones. Returns the
    model and its cross-validated figures (over the examples as given, each once)."""
    unknown = sorted(set(labels) - {NONE, *LABELS})
    if unknown:
        raise InputError(f"unknown risk label {unknown[0]!r}; use {NONE} or {', '.join(LABELS)}")
    counts = {lab: list(labels).count(lab) for lab in set(labels)}
    if NONE not in counts or len(counts) < 2 or min(counts.values()) < folds:
        raise InputError(
            f"Risk training needs `{NONE}` and at least one risk label, each with at least "
            f"{folds} examples (for {folds}-fold cross-validation); got "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
    n = len(texts)
    mark = np.zeros(n, bool) if hard is None else np.asarray(hard, bool)
    idx = list(range(n)) + [i for _ in range(max(1, hard_weight) - 1) for i in range(n) if mark[i]]
    texts = [texts[i] for i in idx]
    labels = [labels[i] for i in idx]
    vectors = None if vectors is None else vectors[idx]
    risk = out_of_fold(texts, labels, vectors, folds=folds, seed=seed, c=c, groups=idx)[:n]
    y = np.array(labels[:n])
    cut = threshold_for(risk, list(y), budget)
    if (mark & (y == NONE)).any():
        cut = max(cut, threshold_for(risk[mark], list(y[mark]), hard_budget))
    figures: dict[str, object] = {
        "threshold": round(cut, 4),
        "budget": budget,
        "hard_budget": hard_budget,
        "folds": folds,
        "cv_false_escalation_rate": round(float((risk[y == NONE] >= cut).mean()), 4),
        "cv_false_escalation_rate_hard": round(float((risk[mark & (y == NONE)] >= cut).mean()), 4)
        if (mark & (y == NONE)).any()
        else None,
        "cv_recall": {
            lab: round(float((risk[y == lab] >= cut).mean()), 4)
            for lab in LABELS
            if (y == lab).any()
        },
        "cv_recall_hard": {
            lab: round(float((risk[mark & (y == lab)] >= cut).mean()), 4)
            for lab in LABELS
            if (mark & (y == lab)).any()
        },
        "examples": {lab: int((y == lab).sum()) for lab in (NONE, *LABELS)},
        "hard_weight": hard_weight,
    }
    model = fit(list(texts), list(labels), vectors, c=c, seed=seed)
    model.meta = {"cv": figures, "sources": sources or {}, "embedder_id": embedder_id}
    return RiskModel(model, cut), figures


def load_examples(path: Path) -> tuple[list[str], list[str]]:
    """``{"text", "label"}`` lines (other keys, such as ``typology``, are kept out)."""
    texts, labels = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, label = row["text"], row["label"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f'{path}:{n}: expected {{"text", "label"}}') from exc
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{n}: `text` must be non-empty text")
        if len(text) > MAX_TEXT:
            raise InputError(f"{path}:{n}: `text` is longer than {MAX_TEXT:,} characters")
        if label not in (NONE, *LABELS):
            raise InputError(
                f"{path}:{n}: unknown risk label {label!r}; use {NONE} or {', '.join(LABELS)}"
            )
        texts.append(text)
        labels.append(label)
    if not texts:
        raise InputError(f"{path} has no examples.")
    return texts, labels


# Banking77's reports of activity the customer did not make or control (the `fraud` reason).
BANKING77_FRAUD = frozenset(
    {
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "compromised_card",
        "direct_debit_payment_not_recognised",
    }
)
CLINC150_FRAUD = frozenset({"report_fraud"})
CLINC150_DOMAINS = ("banking", "credit_cards")


def banking77(folder: Path, split: str = "train") -> tuple[list[str], list[str]]:
    """Banking77 ``{split}.csv`` as risk examples (the four fraud intents, the rest ``none``)."""
    import csv

    path = folder / f"{split}.csv"
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror}") from exc
    if not rows or "text" not in rows[0] or "category" not in rows[0]:
        raise InputError(f"{path}: expected Banking77's `text,category` columns")
    texts = [r["text"] for r in rows]
    return texts, ["fraud" if r["category"] in BANKING77_FRAUD else NONE for r in rows]


def clinc150(folder: Path, split: str = "train") -> tuple[list[str], list[str]]:
    """CLINC150's banking and credit-card intents (``report_fraud`` as ``fraud``) and its
    out-of-scope examples, all from ``split``."""
    path = folder / "data_full.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        domains = json.loads((folder / "domains.json").read_text(encoding="utf-8"))
        keep = {i for d in CLINC150_DOMAINS for i in domains[d]}
        rows = [(t, i) for t, i in data[split] if i in keep] + list(data[f"oos_{split}"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{folder}: expected CLINC150's data_full.json and domains.json") from exc
    return [t for t, _ in rows], ["fraud" if i in CLINC150_FRAUD else NONE for _, i in rows]
