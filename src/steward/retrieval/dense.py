"""Exact dense search in process: a NumPy matrix of chunk vectors, filtered before scoring.

The matrix is loaded from the store and reloaded when the knowledge-base version changes, so
every replica sees ingestion without a restart.
"""

from __future__ import annotations

import threading

import numpy as np
from sqlalchemy import select

from steward.models.embeddings import Vectors
from steward.retrieval.search import Filter, Hit, top_k
from steward.store import Store
from steward.store.models import Chunk


class DenseMatrix:
    """Chunk vectors as one float32 matrix whose rows are grouped by ACL set.

    Grouping makes the permission filter a list of contiguous row ranges: only the rows of the
    asker's ACL sets are ever multiplied, with no copy of the matrix (a 10% filter reads 10% of
    it). Memory: 4 bytes x dim per chunk (1.5 KiB for MiniLM's 384), plus 16 bytes of ids.
    """

    def __init__(self, store: Store, dim: int) -> None:
        self.store = store
        self.dim = dim
        self._version = -1
        self._lock = threading.Lock()
        self.ids = np.zeros(0, np.int64)
        self.center = np.zeros(0, np.int32)  # 0: no center; else index into _centers
        self._centers: dict[str, int] = {}
        self._blocks: dict[int, tuple[int, int]] = {}  # ACL set id -> [start, end) rows
        self.vectors = np.zeros((0, dim), np.float32)

    def _refresh(self, version: int) -> None:
        if version < 0:
            version = self.store.kb_version()
        if version == self._version:
            return
        with self._lock:
            if version == self._version:
                return
            with self.store.read() as s:
                rows = s.execute(
                    select(Chunk.id, Chunk.acl_set_id, Chunk.center, Chunk.embedding)
                    .where(Chunk.is_current.is_(True), Chunk.quarantined.is_(False))
                    .order_by(Chunk.acl_set_id, Chunk.id)
                ).all()
            n = len(rows)
            ids = np.fromiter((r[0] for r in rows), np.int64, n)
            acl = np.fromiter((r[1] for r in rows), np.int64, n)
            centers = sorted({r[2] for r in rows if r[2]})
            index = {c: i + 1 for i, c in enumerate(centers)}
            center = np.fromiter((index.get(r[2], 0) if r[2] else 0 for r in rows), np.int32, n)
            raw = b"".join(r[3] for r in rows)
            vecs = np.frombuffer(raw, np.float16).reshape(n, self.dim).astype(np.float32)
            del raw, rows
            blocks: dict[int, tuple[int, int]] = {}
            if n:
                cuts = np.flatnonzero(np.diff(acl)) + 1
                starts = np.concatenate(([0], cuts))
                ends = np.concatenate((cuts, [n]))
                blocks = {int(acl[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
            self.ids, self.center, self._centers = ids, center, index
            self._blocks, self.vectors = blocks, vecs
            self._version = version

    def search(self, vector: Vectors, flt: Filter, k: int) -> list[Hit]:
        self._refresh(flt.kb_version)
        if not flt.acl_ids or len(self.ids) == 0:
            return []
        # Permission filter first: only rows of the asker's ACL sets are ever scored.
        spans = sorted(self._blocks[a] for a in flt.acl_ids if a in self._blocks)
        if not spans:
            return []
        q = vector.reshape(-1).astype(np.float32)
        scores = np.concatenate([self.vectors[a:b] @ q for a, b in spans])
        # Position in `scores` -> matrix row: the spans laid end to end.
        lengths = np.array([b - a for a, b in spans], np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        starts = np.array([a for a, _ in spans], np.int64)

        def row_of(pos: np.ndarray) -> np.ndarray:
            span = np.searchsorted(offsets, pos, side="right") - 1
            return np.asarray(starts[span] + (pos - offsets[span]), np.int64)

        if flt.center is not None and self._centers:
            own = self._centers.get(flt.center, -1)
            c = np.concatenate([self.center[a:b] for a, b in spans])
            scores = np.where((c == 0) | (c == own), scores, -np.inf)
        best = top_k(scores, k)
        best = best[np.isfinite(scores[best])]
        rows = row_of(best)
        return [Hit(int(self.ids[r]), float(scores[i])) for r, i in zip(rows, best, strict=True)]
