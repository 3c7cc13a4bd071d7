"""A small linear text classifier shared by the trained detectors (intents, prompt injection).

TF-IDF word 1-2-grams and character 2-5-grams, optionally beside a sentence embedding, into a
multinomial logistic regression whose probabilities are calibrated by temperature scaling on a
held-out tenth of the training data. Saved as JSON + NPZ (vocabularies, IDF weights,
coefficients): no pickle, so loading a model file cannot run code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steward.core.errors import InputError

_WORD = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2}


@dataclass
class LinearTextModel:
    labels: list[str]
    word_vocab: dict[str, int]
    word_idf: np.ndarray
    char_vocab: dict[str, int]
    char_idf: np.ndarray
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    temperature: float
    embed_weight: float  # 0: no sentence-embedding features
    meta: dict[str, Any] = field(default_factory=dict)

    def _weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The coefficients of the word, character and sentence-vector features, one row per
        feature (split once per model: every question is scored with them)."""
        built: tuple[np.ndarray, np.ndarray, np.ndarray] | None = self.__dict__.get("_split")
        if built is None:
            words = len(self.word_vocab)
            chars = words + len(self.char_vocab)
            coef = np.asarray(self.coef, np.float64)
            built = self.__dict__["_split"] = (
                np.ascontiguousarray(coef[:, :words].T),
                np.ascontiguousarray(coef[:, words:chars].T),
                np.ascontiguousarray(coef[:, chars:].T),
            )
        return built

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        if self.embed_weight and vectors is None:
            raise ValueError("this model needs sentence vectors")
        word_coef, char_coef, vector_coef = self._weights()
        logits = np.tile(np.asarray(self.intercept, np.float64), (len(texts), 1))
        for row, text in enumerate(texts):
            low = text.lower()
            for grams, vocab, idf, coef in (
                (word_ngrams(low), self.word_vocab, self.word_idf, word_coef),
                (char_wb_ngrams(low), self.char_vocab, self.char_idf, char_coef),
            ):
                index, weight = tfidf(grams, vocab, idf)
                if len(index):
                    logits[row] += weight @ coef[index]
        if self.embed_weight and vectors is not None:
            logits += (np.asarray(vectors, np.float64) * self.embed_weight) @ vector_coef
        logits /= self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "labels": self.labels,
            "word_vocab": self.word_vocab,
            "char_vocab": self.char_vocab,
            "temperature": self.temperature,
            "embed_weight": self.embed_weight,
            "meta": self.meta,
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
    def load(cls, path: Path) -> LinearTextModel:
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            arrays = np.load(path.with_suffix(".npz"), allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"Cannot load the model {path}: {exc}") from exc
        return cls(
            meta["labels"],
            meta["word_vocab"],
            arrays["word_idf"],
            meta["char_vocab"],
            arrays["char_idf"],
            arrays["coef"],
            arrays["intercept"],
            float(meta["temperature"]),
            float(meta["embed_weight"]),
            dict(meta.get("meta", {})),
        )


# Inference reads the features as scikit-learn's TfidfVectorizer (the options above) writes
# them, without importing it: scikit-learn and SciPy cost about two seconds in every process that
# scores a question (a CLI command, each server worker), and only training needs them.
# tests/test_textmodel.py checks both give the same vectors.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str) -> list[str]:
    """Word 1- and 2-grams of a lower-cased text (``ngram_range=(1, 2)``)."""
    tokens = _TOKEN.findall(text)
    return tokens + [" ".join(tokens[i : i + 2]) for i in range(len(tokens) - 1)]


def char_wb_ngrams(text: str) -> list[str]:
    """Character 2- to 5-grams inside each word padded with a space (``analyzer="char_wb"``)."""
    out: list[str] = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(2, 6):
            out.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
            if len(padded) <= n:
                break  # a short word counts once, whole
    return out


def tfidf(
    grams: list[str], vocab: dict[str, int], idf: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feature indices and their L2-normalised sublinear TF-IDF weights."""
    counts: dict[int, int] = {}
    for g in grams:
        i = vocab.get(g)
        if i is not None:
            counts[i] = counts.get(i, 0) + 1
    index = np.fromiter(counts, np.int64, len(counts))
    weight = (1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * idf[index]
    norm = float(np.sqrt(weight @ weight))
    return index, weight / norm if norm else weight


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


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    vectors: np.ndarray | None = None,
    embed_weight: float = 2.0,
    c: float = 10.0,
    seed: int = 0,
) -> LinearTextModel:
    """Fit on all examples; a held-out tenth (stratified) first calibrates the temperature."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    if len(set(labels)) < 2:
        raise InputError("Training needs at least two different labels.")
    if vectors is None:
        embed_weight = 0.0
    y_all = np.array(labels)
    idx = np.arange(len(texts))
    counts = {lab: int((y_all == lab).sum()) for lab in set(labels)}
    stratify = y_all if min(counts.values()) >= 2 else None
    fit_idx, cal_idx = train_test_split(idx, test_size=0.1, random_state=seed, stratify=stratify)

    def features(word: Any, char: Any, rows: np.ndarray) -> Any:
        from scipy.sparse import csr_matrix, hstack

        sub = [texts[i] for i in rows]
        blocks = [word.transform(sub), char.transform(sub)]
        if embed_weight and vectors is not None:
            blocks.append(csr_matrix(vectors[rows] * embed_weight))
        return hstack(blocks).tocsr()

    def train(rows: np.ndarray) -> tuple[Any, Any, Any]:
        word = TfidfVectorizer(**_WORD).fit([texts[i] for i in rows])
        char = TfidfVectorizer(**_CHAR).fit([texts[i] for i in rows])
        clf = LogisticRegression(C=c, max_iter=3000)
        clf.fit(features(word, char, rows), y_all[rows])
        return word, char, clf

    word, char, clf = train(fit_idx)
    classes = list(clf.classes_)
    cal_logits = np.asarray(features(word, char, cal_idx) @ clf.coef_.T + clf.intercept_)
    if cal_logits.shape[1] == 1:  # binary: scikit-learn keeps one column
        cal_logits = np.hstack([np.zeros_like(cal_logits), cal_logits])
    known = np.array([lab in classes for lab in y_all[cal_idx]])
    y_cal = np.array([classes.index(lab) for lab in y_all[cal_idx][known]])
    temperature = _fit_temperature(cal_logits[known], y_cal) if len(y_cal) else 1.0
    word, char, clf = train(idx)
    coef, intercept = np.asarray(clf.coef_, np.float32), np.asarray(clf.intercept_, np.float32)
    if coef.shape[0] == 1:  # binary: spell out both classes so one code path serves all
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return LinearTextModel(
        labels=[str(x) for x in clf.classes_],
        word_vocab={k: int(v) for k, v in word.vocabulary_.items()},
        word_idf=np.asarray(word.idf_),
        char_vocab={k: int(v) for k, v in char.vocabulary_.items()},
        char_idf=np.asarray(char.idf_),
        coef=coef,
        intercept=intercept,
        temperature=temperature,
        embed_weight=embed_weight,
    )
