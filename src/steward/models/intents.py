"""Intent classification that an operator trains from labelled examples.

Features: TF-IDF word and character n-grams (what people type) beside the offline sentence
embedding (what they mean), in the calibrated linear model of ``textmodel.py``; below the model's
threshold the intent is ``unknown``. Examples labelled ``unknown`` (or ``oos``) in the training
file teach the model what is out of scope.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steward.core.errors import InputError
from steward.models.embeddings import Embedder
from steward.models.textmodel import LinearTextModel, fit

UNKNOWN = "unknown"
OUT_OF_SCOPE_LABELS = frozenset({UNKNOWN, "oos", "out_of_scope"})
EMBED_WEIGHT = 2.0  # scale of the sentence embedding beside the TF-IDF features


def load_examples(path: Path) -> tuple[list[str], list[str]]:
    """``text,label`` rows from a CSV (header ``text,label`` or ``text,category``) or JSONL."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read examples file {path}: {exc.strerror}") from exc
    texts: list[str] = []
    labels: list[str] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                texts.append(str(row["text"]))
                labels.append(str(row.get("label", row.get("intent"))))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f'{path}:{n}: expected {{"text", "label"}}') from exc
    else:
        reader = csv.DictReader(raw.splitlines())
        cols = reader.fieldnames or []
        label_col = next((c for c in ("label", "category", "intent") if c in cols), None)
        if "text" not in cols or label_col is None:
            raise InputError(f"{path}: the CSV needs a `text` column and a `label` column.")
        for row in reader:
            texts.append(row["text"])
            labels.append(row[label_col])
    if not texts:
        raise InputError(f"{path} has no examples.")
    labels = [UNKNOWN if lab in OUT_OF_SCOPE_LABELS else lab for lab in labels]
    return texts, labels


@dataclass
class IntentModel:
    """The trained linear model plus the confidence below which the intent is ``unknown``."""

    model: LinearTextModel
    threshold: float
    embedder_id: str

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return self.model.probabilities(texts, vectors)

    def predict(self, texts: Sequence[str], vectors: np.ndarray) -> list[tuple[str, float]]:
        """(intent, calibrated confidence); ``unknown`` below the threshold."""
        out = []
        for row in self.probabilities(texts, vectors):
            k = int(np.argmax(row))
            label, conf = self.labels[k], float(row[k])
            out.append((UNKNOWN if label == UNKNOWN or conf < self.threshold else label, conf))
        return out

    def save(self, path: Path) -> None:
        self.model.meta = {"threshold": self.threshold, "embedder_id": self.embedder_id}
        self.model.save(path)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        model = LinearTextModel.load(path)
        return cls(
            model, float(model.meta.get("threshold", 0.35)), str(model.meta.get("embedder_id", ""))
        )


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    embedder: Embedder,
    threshold: float = 0.35,
    c: float = 10.0,
    seed: int = 0,
) -> IntentModel:
    """Fit on the examples (text n-grams and the sentence embedding)."""
    vectors = embedder.embed(list(texts))
    model = fit(texts, labels, vectors, embed_weight=EMBED_WEIGHT, c=c, seed=seed)
    return IntentModel(model, threshold, embedder.model_id)


def evaluate(
    model: IntentModel, texts: Sequence[str], labels: Sequence[str], embedder: Embedder
) -> dict[str, float]:
    """accuracy, macro-F1 and n on labelled examples (unknown counts as a label)."""
    from sklearn.metrics import f1_score

    predicted = [p for p, _ in model.predict(texts, embedder.embed(list(texts)))]
    y = list(labels)
    accuracy = sum(a == b for a, b in zip(predicted, y, strict=True)) / len(y)
    macro = float(f1_score(y, predicted, average="macro", zero_division=0))
    return {"accuracy": round(accuracy, 4), "macro_f1": round(macro, 4), "n": len(y)}
