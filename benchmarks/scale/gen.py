"""A synthetic corpus for speed benchmarks: realistic lengths, Zipfian vocabulary, topics,
and permission groups assigned with skew.

- Vocabulary: 40,000 pronounceable pseudo-words drawn with a Zipf law (s = 1.1), as words in
  English text are; each of 400 topics favours its own 300 words, so that queries have
  discriminating terms and BM25 has realistic posting-list lengths.
- Lengths: chunk words ~ log-normal with median 170 (5th-95th percentile about 80-330),
  close to what the chunker emits for policy documents (at most ~180 words per paragraph run).
- Vectors: unit vectors around a per-topic centroid (384 dims), so nearest neighbours are
  topical, as with a real sentence encoder.
- Permissions: 60 groups; each document is readable by one group, chosen with a Zipf skew
  (a few large departments, many small ones). `filter_groups(frac)` picks groups whose chunks
  add up to about that fraction of the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

DIM = 384
VOCAB = 40_000
TOPICS = 400
GROUPS = 60
CHUNKS_PER_DOC = 4


def _words(rng: np.random.Generator, n: int) -> list[str]:
    onset = [
        "b",
        "c",
        "d",
        "f",
        "g",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "r",
        "s",
        "t",
        "v",
        "w",
        "z",
        "br",
        "cr",
        "dr",
        "fl",
        "gr",
        "pl",
        "st",
        "tr",
    ]
    vowel = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
    coda = ["n", "r", "s", "t", "l", "m", "nd", "st", "rk", "ng", "x"] + [""] * 6
    out: set[str] = set()
    while len(out) < n:
        syl = int(rng.integers(1, 4))
        w = "".join(
            str(rng.choice(onset)) + str(rng.choice(vowel)) + str(rng.choice(coda))
            for _ in range(syl)
        )
        out.add(w)
    return sorted(out)


@dataclass
class Corpus:
    seed: int = 7

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.vocab = np.array(_words(rng, VOCAB))
        ranks = np.arange(1, VOCAB + 1)
        p = 1.0 / ranks**1.1
        self.p_general = p / p.sum()
        self.p_content = p[150:] / p[150:].sum()
        self.topic_words = rng.integers(200, VOCAB, size=(TOPICS, 300))
        centroids = rng.standard_normal((TOPICS, DIM)).astype(np.float32)
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        g = 1.0 / np.arange(1, GROUPS + 1) ** 1.2
        self.p_group = g / g.sum()
        self.groups = [f"g{i:02d}" for i in range(GROUPS)]

    def chunks(self, n: int, seed: int = 0) -> Iterator[tuple[int, int, str, str, np.ndarray]]:
        """(doc number, group index, title, text, float16 vector) for n chunks."""
        rng = np.random.default_rng(self.seed * 1000 + seed)
        block = 2000
        for start in range(0, n, block):
            m = min(block, n - start)
            topics = rng.integers(0, TOPICS, m)
            lengths = np.clip(rng.lognormal(np.log(170), 0.4, m).astype(int), 20, 600)
            noise = rng.standard_normal((m, DIM)).astype(np.float32) * 0.06
            vecs = self.centroids[topics] + noise
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            vecs16 = vecs.astype(np.float16)
            total = int(lengths.sum())
            general = rng.choice(VOCAB, size=total, p=self.p_general)
            topical = rng.random(total) < 0.25
            pos = 0
            for i in range(m):
                ln = int(lengths[i])
                ids = general[pos : pos + ln].copy()
                mask = topical[pos : pos + ln]
                ids[mask] = self.topic_words[topics[i], rng.integers(0, 300, int(mask.sum()))]
                pos += ln
                words = self.vocab[ids]
                text = " ".join(words[:ln]).capitalize() + "."
                doc = (start + i) // CHUNKS_PER_DOC
                group = int(rng.choice(GROUPS, p=self.p_group)) if i % CHUNKS_PER_DOC == 0 else -1
                title = " ".join(self.vocab[self.topic_words[topics[i], :3]]).title()
                yield doc, group, title, text, vecs16[i]

    def query(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """A 3-6 word query on a random topic and its vector."""
        topic = int(rng.integers(0, TOPICS))
        n = int(rng.integers(3, 7))
        # Content words: the topic's, or general words past the 150 most frequent (those
        # behave as stop words do in real text and are rarely what people type).
        ids = np.where(
            rng.random(n) < 0.6,
            self.topic_words[topic, rng.integers(0, 300, n)],
            150 + rng.choice(VOCAB - 150, size=n, p=self.p_content),
        )
        vec = self.centroids[topic] + rng.standard_normal(DIM).astype(np.float32) * 0.05
        return " ".join(self.vocab[ids]), (vec / np.linalg.norm(vec)).astype(np.float32)

    def filter_groups(self, frac: float) -> list[str]:
        """Groups whose expected share of chunks adds up to about ``frac``."""
        if frac >= 1.0:
            return list(self.groups)
        chosen, total = [], 0.0
        for i in range(GROUPS):  # the largest groups that still fit, then smaller ones
            if total + self.p_group[i] > frac * 1.05:
                continue
            chosen.append(self.groups[i])
            total += float(self.p_group[i])
            if total >= frac * 0.95:
                break
        return chosen
