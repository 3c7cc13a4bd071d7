"""Exact and near duplicates among the current items.

Exact: the same normalised text (case, whitespace, Markdown emphasis and punctuation runs
folded), whatever the title. Near: word 3-shingles of the same normalised text with personal
tokens folded to their kind (``<NAME_3>`` -> ``<NAME>``, so two copies of one letter to two
customers match), compared by MinHash: 128 hash functions, LSH banding (32 bands of 4 rows) to
find candidate pairs, and a pair is a near duplicate when its estimated Jaccard similarity is at
least the threshold (``STEWARD_READINESS_NEAR_DUPLICATE``, default 0.8; the estimate's standard
error there is about 0.035). Signatures are computed while the text streams past and kept (128
numbers per item), never the text.

In each group of duplicates one item is kept (the newest by date, then the more authoritative
source, then the smaller id); the others count as duplicates and are not usable.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PERMUTATIONS = 128
BANDS = 32
ROWS = PERMUTATIONS // BANDS
_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20261207)  # fixed: the same text gets the same signature
_A = _rng.integers(1, _PRIME, PERMUTATIONS, dtype=np.int64)
_B = _rng.integers(0, _PRIME, PERMUTATIONS, dtype=np.int64)
_TOKEN = re.compile(r"<([A-Z][A-Z_]*?)(?:_\d+)?>")
_WORD = re.compile(r"<[A-Z_]+>|[^\W_]+(?:['.,-][^\W_]+)*")

Signature = npt.NDArray[np.int64]


def normalise(text: str) -> list[str]:
    """The words of ``text``: lower case, Markdown and punctuation dropped."""
    return [w.lower() for w in _WORD.findall(text)]


def exact_key(text: str) -> str:
    """Digest of the normalised text (personal tokens kept as they are: two records about two
    people are not the same item)."""
    return hashlib.sha256(" ".join(normalise(text)).encode()).hexdigest()


def signature(text: str) -> Signature | None:
    """MinHash signature of the text's word 3-shingles (personal tokens folded to their kind);
    None for an empty text."""
    words = normalise(_TOKEN.sub(lambda m: f"<{m.group(1)}>", text))
    if not words:
        return None
    grams = {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}
    x = np.fromiter((zlib.crc32(g.encode()) % _PRIME for g in grams), np.int64, len(grams))
    sig: Signature = ((_A[:, None] * x[None, :] + _B[:, None]) % _PRIME).min(axis=1)
    return sig


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of two signatures' shingle sets."""
    return float(np.mean(a == b))


@dataclass(frozen=True)
class Duplicate:
    """``index`` duplicates ``kept`` (indexes into the items given)."""

    index: int
    kept: int
    kind: str  # exact | near
    similarity: float


def find(
    keys: Sequence[str],
    signatures: Sequence[Signature | None],
    rank: Callable[[int], tuple[object, ...]],
    threshold: float,
) -> list[Duplicate]:
    """Duplicates among items given by their exact keys and signatures; ``rank`` orders the
    members of a group (the smallest is kept)."""
    out: list[Duplicate] = []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key:
            groups[key].append(i)
    primaries: list[int] = []
    for members in groups.values():
        members.sort(key=rank)
        primaries.append(members[0])
        out += [Duplicate(i, members[0], "exact", 1.0) for i in members[1:]]
    out += _near(sorted(primaries), signatures, rank, threshold)
    return out


def _near(
    items: list[int],
    signatures: Sequence[Signature | None],
    rank: Callable[[int], tuple[object, ...]],
    threshold: float,
) -> list[Duplicate]:
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for i in items:
        sig = signatures[i]
        if sig is not None:
            for band in range(BANDS):
                buckets[(band, sig[band * ROWS : (band + 1) * ROWS].tobytes())].append(i)
    parent = {i: i for i in items}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best: dict[int, float] = {}
    checked: set[tuple[int, int]] = set()
    for members in buckets.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                if (a, b) in checked:
                    continue
                checked.add((a, b))
                sa, sb = signatures[a], signatures[b]
                assert sa is not None and sb is not None
                sim = similarity(sa, sb)
                if sim >= threshold:
                    parent[root(a)] = root(b)
                    best[a] = max(best.get(a, 0.0), sim)
                    best[b] = max(best.get(b, 0.0), sim)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in best:
        clusters[root(i)].append(i)
    out = []
    for members in clusters.values():
        members.sort(key=rank)
        kept = members[0]
        out += [Duplicate(i, kept, "near", round(best[i], 3)) for i in members[1:]]
    return out
