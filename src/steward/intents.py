"""Intent classification that an operator trains from labelled examples.

Features: TF-IDF word 1-2-grams and character 2-5-grams (what people type) beside the offline
sentence embedding (what they mean), fed to a multinomial logistic regression. Probabilities are
calibrated by temperature scaling on a held-out tenth of the training data; below the model's
threshold the intent is ``unknown``. Examples labelled ``unknown`` (or ``oos``) in the training
file teach the model what is out of scope.

Models are saved as JSON + NPZ (vocabularies, IDF weights, coefficients): no pickle, so loading a
model file cannot execute code.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack

from steward.embeddings import Embedder
from steward.errors import InputError

UNKNOWN = "unknown"
OUT_OF_SCOPE_LABELS = frozenset({UNKNOWN, "oos", "out_of_scope"})
EMBED_WEIGHT = 2.0  # scale of the sentence embedding beside the TF-IDF features
_WORD = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2}


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
    labels: list[str]
    word_vocab: dict[str, int]
    word_idf: np.ndarray
    char_vocab: dict[str, int]
    char_idf: np.ndarray
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    temperature: float
    threshold: float
    embedder_id: str

    def _vectorizers(self) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        word = TfidfVectorizer(vocabulary=self.word_vocab, **_WORD)
        word.idf_ = self.word_idf
        char = TfidfVectorizer(vocabulary=self.char_vocab, **_CHAR)
        char.idf_ = self.char_idf
        return word, char

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        word, char = self._vectorizers()
        x = hstack(
            [word.transform(texts), char.transform(texts), csr_matrix(vectors * EMBED_WEIGHT)]
        ).tocsr()
        logits = (x @ self.coef.T + self.intercept) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def predict(self, texts: Sequence[str], vectors: np.ndarray) -> list[tuple[str, float]]:
        """(intent, calibrated confidence); ``unknown`` below the threshold."""
        p = self.probabilities(texts, vectors)
        out = []
        for row in p:
            k = int(np.argmax(row))
            label, conf = self.labels[k], float(row[k])
            out.append((UNKNOWN if label == UNKNOWN or conf < self.threshold else label, conf))
        return out

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "labels": self.labels,
            "word_vocab": self.word_vocab,
            "char_vocab": self.char_vocab,
            "temperature": self.temperature,
            "threshold": self.threshold,
            "embedder_id": self.embedder_id,
            "format": 1,
        }
        path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
        with path.with_suffix(".npz").open("wb") as fh:
            np.savez_compressed(
                fh,
                word_idf=self.word_idf,
                char_idf=self.char_idf,
                coef=self.coef,
                intercept=self.intercept,
            )

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            arrays = np.load(path.with_suffix(".npz"), allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"Cannot load the intent model {path}: {exc}") from exc
        return cls(
            meta["labels"],
            meta["word_vocab"],
            arrays["word_idf"],
            meta["char_vocab"],
            arrays["char_idf"],
            arrays["coef"],
            arrays["intercept"],
            float(meta["temperature"]),
            float(meta["threshold"]),
            meta["embedder_id"],
        )


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood on held-out examples."""
    best, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 40)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -float(logp[np.arange(len(y)), y].mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    embedder: Embedder,
    threshold: float = 0.35,
    c: float = 10.0,
    seed: int = 0,
) -> IntentModel:
    """Fit the model; 10% of examples (stratified) calibrate the confidence."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    if len(set(labels)) < 2:
        raise InputError("Training needs at least two different labels.")
    vectors = embedder.embed(list(texts))
    idx = np.arange(len(texts))
    y_all = np.array(labels)
    counts = {lab: int((y_all == lab).sum()) for lab in set(labels)}
    stratify = y_all if min(counts.values()) >= 2 else None
    fit_idx, cal_idx = train_test_split(idx, test_size=0.1, random_state=seed, stratify=stratify)

    def features(word: Any, char: Any, rows: np.ndarray) -> Any:
        sub = [texts[i] for i in rows]
        return hstack(
            [word.transform(sub), char.transform(sub), csr_matrix(vectors[rows] * EMBED_WEIGHT)]
        ).tocsr()

    def fit(rows: np.ndarray) -> tuple[Any, Any, Any]:
        word = TfidfVectorizer(**_WORD).fit([texts[i] for i in rows])
        char = TfidfVectorizer(**_CHAR).fit([texts[i] for i in rows])
        clf = LogisticRegression(C=c, max_iter=3000)
        clf.fit(features(word, char, rows), y_all[rows])
        return word, char, clf

    word, char, clf = fit(fit_idx)
    classes = list(clf.classes_)
    cal_logits = np.asarray(features(word, char, cal_idx) @ clf.coef_.T + clf.intercept_)
    known = np.array([lab in classes for lab in y_all[cal_idx]])
    y_cal = np.array([classes.index(lab) for lab in y_all[cal_idx][known]])
    temperature = _fit_temperature(cal_logits[known], y_cal) if len(y_cal) else 1.0
    # Refit on everything; the temperature found on held-out data carries over.
    word, char, clf = fit(idx)
    return IntentModel(
        labels=[str(x) for x in clf.classes_],
        word_vocab={k: int(v) for k, v in word.vocabulary_.items()},
        word_idf=np.asarray(word.idf_),
        char_vocab={k: int(v) for k, v in char.vocabulary_.items()},
        char_idf=np.asarray(char.idf_),
        coef=np.asarray(clf.coef_, np.float32),
        intercept=np.asarray(clf.intercept_, np.float32),
        temperature=temperature,
        threshold=threshold,
        embedder_id=embedder.model_id,
    )


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
