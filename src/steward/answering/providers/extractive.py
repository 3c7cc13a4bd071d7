"""The default provider: answers with the most relevant sentences of permitted passages.

No model writes anything, so it cannot hallucinate: every sentence of the answer is a sentence
of a cited passage. Each candidate sentence is scored on six signals:

- ``sd``: cosine of its (heading-prefixed) vector with the question;
- ``cd``: cosine of its whole passage with the question (plus a bonus when the passage was
  written for the asker's own center);
- ``hd``: cosine of its heading path ("Fee Schedule > Penalty fees") with the question;
- ``ls``: the IDF-weighted share of the question's words found in the sentence and heading
  (words no permitted passage contains count against every sentence);
- ``lc``: the same share over the whole passage;
- ``tm``: +1 when it holds the kind of value asked for (an amount, a time, a phone number...),
  -1 when such a value is asked for and it holds none.

A compound question gets a different sentence per part. A sentence may bring its neighbour
from the same paragraph when that neighbour continues it. When two documents say different
things about one point, the more recently updated one wins. The support (0..1) is a logistic
function of the signals of the weakest part, so it falls when any part goes unanswered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from steward.answering.answertypes import expected_types, type_match
from steward.answering.providers.base import AnswerRequest, Claim, Draft, Passage
from steward.retrieval.search import stem_set, stem_terms

if TYPE_CHECKING:
    from steward.config.settings import Settings

SIGNALS = ("sd", "cd", "hd", "ls", "lc", "tm")
# A record's field label at the start of a sentence ("resolution: Claim paid ..."): it helps
# ranking, but an answer quotes the sentence without it.
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,30}:\s+")


class ExtractiveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_sentences: int = 4
    # Ranking weights of the signals, in the order of SIGNALS.
    rank_weights: tuple[float, ...] = (0.40, 0.20, 0.15, 0.15, 0.10, 0.08)
    # support = logistic(scale * (weights . signals - bias)). Fitted by logistic regression on
    # the Meridian dev and training questions (190; answered correctly vs. not), with the
    # operating point chosen by 5-fold cross-validation (benchmarks/meridian/calibrate.py: the
    # best out-of-fold utility, right answers minus three times the wrong ones, at a fitted
    # probability of 0.65). The bias carries that choice (2.605 + logit 0.65 - logit 0.55), so
    # the default answer threshold of 0.55 is that operating point.
    support_weights: tuple[float, ...] = (1.87, 2.223, -0.139, 0.343, 1.52, 0.106)
    support_bias: float = 3.024
    support_scale: float = 1.0
    scoped_bonus: float = 0.05
    neighbour_ratio: float = 0.75
    tie_ratio: float = 0.97  # a near-tie in the same passage joins the answer
    context_mix: float = 0.2  # share of the whole question in each part's vector
    conflict_similarity: float = 0.80


@dataclass
class _Cand:
    passage: Passage
    index: int
    text: str
    terms: frozenset[str]
    chunk_terms: frozenset[str]


def coverage(terms: frozenset[str], weights: dict[str, float], missing: float = 0.0) -> float:
    """Weighted share of the query words in ``terms``; ``missing`` is the weight of query words
    that no permitted passage contains (they can never be covered)."""
    total = sum(weights.values()) + missing
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in terms) / total


def is_label(text: str) -> bool:
    """A list label or heading fragment ("Everyday Checking."), not a statement."""
    return len(text.split()) < 4 and ":" not in text and not any(ch.isdigit() for ch in text)


def _same_block(p: Passage, i: int, j: int) -> bool:
    """Sentences i and j sit in one paragraph (no line break between them)."""
    a, b = sorted((i, j))
    return "\n" not in p.text[p.sentences[a][1] : p.sentences[b][0]]


class ExtractiveProvider:
    name: ClassVar[str] = "extractive"
    can_stream: ClassVar[bool] = False  # stream() replays a finished draft
    Options: ClassVar[type[BaseModel]] = ExtractiveOptions

    def __init__(self, options: ExtractiveOptions | None = None) -> None:
        self.opts = options or ExtractiveOptions()
        self.model = "extractive-v3"
        self.prompt_version = "extractive-v3"

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractiveProvider:
        """`STEWARD_PROVIDER=extractive` (the default): no setting tunes it."""
        return cls()

    # ------------------------------------------------------------------ signals

    @staticmethod
    def candidates(request: AnswerRequest) -> tuple[list[_Cand], dict[str, np.ndarray]]:
        cands: list[_Cand] = []
        vecs: dict[str, list[np.ndarray]] = {"s": [], "c": [], "h": []}
        for p in request.passages:
            head = stem_set(p.heading)
            chunk = stem_set(p.text) | head
            for i in range(len(p.sentences)):
                text = p.sentence(i)
                cands.append(_Cand(p, i, text, stem_set(text) | head, chunk))
                vecs["s"].append(p.sentence_vectors[i])
                vecs["c"].append(p.vector)
                vecs["h"].append(p.heading_vector)
        if not cands:
            return [], {}
        return cands, {k: np.vstack(v).astype(np.float32) for k, v in vecs.items()}

    def signals(
        self,
        cands: list[_Cand],
        vecs: dict[str, np.ndarray],
        vector: np.ndarray,
        weights: dict[str, float],
        question: str,
        missing: float = 0.0,
    ) -> np.ndarray:
        """An (n, 6) matrix of the SIGNALS for each candidate."""
        wanted = expected_types(question)
        out = np.zeros((len(cands), len(SIGNALS)), np.float32)
        out[:, 0] = vecs["s"] @ vector
        out[:, 1] = vecs["c"] @ vector
        out[:, 1] += self.opts.scoped_bonus * np.array([c.passage.scoped for c in cands])
        out[:, 2] = vecs["h"] @ vector
        out[:, 3] = [coverage(c.terms, weights, missing) for c in cands]
        out[:, 4] = [coverage(c.chunk_terms, weights, missing) for c in cands]
        out[:, 5] = [type_match(wanted, c.text) for c in cands]
        labels = np.array([is_label(c.text) for c in cands])
        out[labels, 0] -= 0.15  # a label is never the answer by itself
        # Records (past tickets) illustrate; policies and FAQs answer.
        authority = np.array([c.passage.authority for c in cands], np.float32)
        out[:, :3] *= authority[:, None]
        return out

    def support(self, signals: np.ndarray) -> float:
        raw = float(np.dot(np.asarray(self.opts.support_weights), signals))
        return 1.0 / (1.0 + math.exp(-self.opts.support_scale * (raw - self.opts.support_bias)))

    @staticmethod
    def part_weights(request: AnswerRequest, part: str, whole: bool) -> dict[str, float]:
        """Words of this part count fully; the rest of the question is context (a third)."""
        if whole:
            return dict(request.term_weights)
        mine = set(stem_terms(part))
        return {t: w if t in mine else w / 3 for t, w in request.term_weights.items()}

    def part_signals(
        self, request: AnswerRequest, cands: list[_Cand], vecs: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        whole = len(request.parts) <= 1
        parts = [request.question] if whole else request.parts
        q = request.query_vector.reshape(-1)
        missing = request.missing_weight
        out = []
        for j, part in enumerate(parts):
            if whole:
                v = q
            else:
                # Each part keeps some of the whole question's meaning (its context).
                mix = self.opts.context_mix
                v = (1 - mix) * request.part_vectors[j] + mix * q
                v = v / np.linalg.norm(v)
            out.append(
                self.signals(cands, vecs, v, self.part_weights(request, part, whole), part, missing)
            )
        return out

    # ------------------------------------------------------------------ answering

    def complete(self, request: AnswerRequest) -> Draft:
        cands, vecs = self.candidates(request)
        if not cands:
            return Draft("", [], 0.0, self.model, no_answer=True)
        rank_w = np.asarray(self.opts.rank_weights, np.float32)
        sigs = self.part_signals(request, cands, vecs)
        scores = [s @ rank_w for s in sigs]
        picks = self._assign(scores, vecs["s"], cands)
        supports = [self.support(sigs[j][k]) for j, k in picks]
        chosen: dict[int, float] = {k: float(scores[j][k]) for j, k in picks}
        best_all = np.max(np.vstack(scores), axis=0)
        for j, k in picks:
            n = self._neighbour(k, best_all, cands)
            if n is not None and n not in chosen:
                chosen[n] = float(best_all[n])
            for tie in self._near_ties(k, scores[j], cands, chosen):
                chosen[tie] = float(scores[j][tie])
        ordered = sorted(chosen, key=lambda k: (cands[k].passage.n, cands[k].index))
        ordered = ordered[: self.opts.max_sentences]
        claims = [
            Claim(_LABEL.sub("", cands[k].text.strip()), cands[k].passage.n, chosen[k])
            for k in ordered
        ]
        text = " ".join(f"{c.text} [{c.passage}]" for c in claims)
        return Draft(text, claims, min(supports), self.model)

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        """The answer's sentences (nothing to wait for: no model writes them)."""
        for c in self.complete(request).claims:
            yield f"{c.text} [{c.passage}] "

    def _assign(
        self, scores: list[np.ndarray], svecs: np.ndarray, cands: list[_Cand]
    ) -> list[tuple[int, int]]:
        """Give each part its own sentence, the strongest (part, sentence) pair first."""
        open_scores = [s.astype(np.float64) for s in scores]
        left = set(range(len(scores)))
        picks: list[tuple[int, int]] = []
        while left:
            j = max(left, key=lambda p: float(open_scores[p].max()))
            k = int(np.argmax(open_scores[j]))
            if not np.isfinite(open_scores[j][k]):  # more parts than sentences
                k = int(np.argmax(scores[j]))
            k = self._prefer_newer(k, scores[j], svecs, cands)
            picks.append((j, k))
            left.discard(j)
            for s in open_scores:
                s[k] = -np.inf
        return picks

    def _neighbour(self, k: int, score: np.ndarray, cands: list[_Cand]) -> int | None:
        """The previous or next sentence of the same paragraph, when it continues this one."""
        c = cands[k]
        best = None
        for d in (-1, 1):
            n = k + d
            if not (0 <= n < len(cands)) or cands[n].passage is not c.passage:
                continue
            if not _same_block(c.passage, c.index, cands[n].index):
                continue
            if (
                score[n] >= self.opts.neighbour_ratio * score[k]
                and (cands[n].terms - stem_set(c.passage.heading)) & c.terms
                and (best is None or score[n] > score[best])
            ):
                best = n
        return best

    def _near_ties(
        self, k: int, score: np.ndarray, cands: list[_Cand], chosen: dict[int, float]
    ) -> list[int]:
        """Runners-up from the same document that score all but the same (at most two)."""
        out = []
        for n in np.argsort(-score)[:4]:
            n = int(n)
            if n == k or n in chosen or cands[n].passage.doc_id != cands[k].passage.doc_id:
                continue
            if score[n] >= self.opts.tie_ratio * score[k]:
                out.append(n)
        return out[:2]

    def _prefer_newer(
        self, best: int, score: np.ndarray, svecs: np.ndarray, cands: list[_Cand]
    ) -> int:
        """If another document says much the same thing and is newer, use that one instead."""
        top = cands[best]
        sims = svecs @ svecs[best]
        for k in np.argsort(-score)[:12]:
            other = cands[int(k)]
            if other.passage.doc_id == top.passage.doc_id:
                continue
            if (
                sims[k] >= self.opts.conflict_similarity
                and score[k] >= 0.85 * score[best]
                and ((other.passage.updated or "") > (top.passage.updated or ""))
            ):
                return int(k)
        return best
