"""Exact dense search in process: a NumPy matrix of chunk vectors, filtered before scoring.

The matrix is loaded from the store and reloaded when the knowledge-base version changes, so
every replica sees ingestion without a restart.
"""

from __future__ import annotations

import threading

import numpy as np
from sqlalchemy import select

from steward.embeddings import Vectors
from steward.retrieval.search import Filter, Hit, top_k
from steward.store import Store
from steward.store.models import Chunk


class DenseMatrix:
    def __init__(self, store: Store, dim: int) -> None:
        self.store = store
        self.dim = dim
        self._version = -1
        self._lock = threading.Lock()
        self.ids = np.zeros(0, np.int64)
        self.acl = np.zeros(0, np.int32)
        self.center = np.zeros(0, np.int32)  # 0: no center; else index into _centers
        self._centers: dict[str, int] = {}
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
                    .order_by(Chunk.id)
                ).all()
            self.ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            self.acl = np.fromiter((r[1] for r in rows), np.int32, len(rows))
            centers = sorted({r[2] for r in rows if r[2]})
            self._centers = {c: i + 1 for i, c in enumerate(centers)}
            self.center = np.fromiter(
                (self._centers.get(r[2], 0) if r[2] else 0 for r in rows), np.int32, len(rows)
            )
            vecs = np.zeros((len(rows), self.dim), np.float32)
            for i, r in enumerate(rows):
                vecs[i] = np.frombuffer(r[3], np.float16)
            self.vectors = vecs
            self._version = version

    def search(self, vector: Vectors, flt: Filter, k: int) -> list[Hit]:
        self._refresh(flt.kb_version)
        if not flt.acl_ids or len(self.ids) == 0:
            return []
        # Permission filter first: only permitted rows are ever scored.
        mask = np.isin(self.acl, np.fromiter(flt.acl_ids, np.int32))
        if flt.center is not None:
            mask &= (self.center == 0) | (self.center == self._centers.get(flt.center, -1))
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return []
        scores = self.vectors[rows] @ vector.reshape(-1).astype(np.float32)
        best = top_k(scores, k)
        return [Hit(int(self.ids[rows[i]]), float(scores[i])) for i in best]
