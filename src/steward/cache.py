"""Answer cache, scoped to what the asker may read.

Keys never hold raw text: the key is a SHA-256 of the masked question (normalised), the asker's
permission fingerprint (the set of ACL ids they may read, their center, the policy version) and
the prompt version. A hit is served only if every cited document still exists, is current, has
the version that was cited and is still readable under that fingerprint; abstentions (which
depend on what is *absent*) are also tied to the knowledge-base version. A semantic hit needs a
cosine of at least ``threshold`` with a cached question of the same fingerprint.

Two tiers: an in-process LRU in front (a repeated question costs a dictionary lookup) and the
store's table behind it, shared by every replica on the same database.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from steward.store import Store
from steward.store.models import CacheEntry, Document

CACHED_ACTIONS = ("answer", "abstain")


def fingerprint(acl_ids: frozenset[int], center: str | None, policy_version: str) -> str:
    raw = ",".join(str(i) for i in sorted(acl_ids)) + f"|{center or ''}|{policy_version}"
    return hashlib.sha256(raw.encode()).hexdigest()


def normalise(question: str) -> str:
    return " ".join(question.casefold().split()).rstrip(" ?!.")


@dataclass
class CacheStats:
    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    saved_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        total = self.hits + self.semantic_hits + self.misses
        return {
            "hits": self.hits,
            "semantic_hits": self.semantic_hits,
            "misses": self.misses,
            "hit_rate": round((self.hits + self.semantic_hits) / total, 4) if total else 0.0,
            "saved_ms": round(self.saved_ms, 1),
        }


@dataclass(frozen=True)
class Cached:
    response: dict[str, Any]
    kind: str  # exact | semantic


@dataclass
class AnswerCache:
    store: Store
    semantic_threshold: float = 0.97
    max_local: int = 4096
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._local: OrderedDict[str, tuple[dict[str, Any], dict[str, Any], int | None]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        self._checked: set[tuple[str, int, frozenset[int]]] = set()

    def key(self, question: str, fp: str, prompt_version: str) -> str:
        raw = f"{normalise(question)}\x00{fp}\x00{prompt_version}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _valid(
        self,
        cited: dict[str, Any],
        kb_version_at: int | None,
        acl_ids: frozenset[int],
        kb_version: int,
    ) -> bool:
        if kb_version_at is not None and kb_version_at != kb_version:
            return False
        if not cited:
            return True
        with self.store.read() as s:
            docs = {
                d.doc_id: d
                for d in s.scalars(select(Document).where(Document.doc_id.in_(list(cited))))
            }
        for doc_id, version in cited.items():
            d = docs.get(doc_id)
            if (
                d is None
                or not d.is_current
                or d.version[:16] != version
                or d.acl_set_id not in acl_ids
            ):
                return False
        return True

    def get(self, key: str, acl_ids: frozenset[int], kb_version: int) -> Cached | None:
        with self._lock:
            local = self._local.get(key)
            if local is not None:
                self._local.move_to_end(key)
        if local is None:
            with self.store.read() as s:
                row = s.get(CacheEntry, key)
                if row is not None:
                    local = (
                        row.response,
                        row.cited_versions.get("docs", {}),
                        row.cited_versions.get("kb_version"),
                    )
        if local is None:
            return None
        response, cited, kb_at = local
        checked = (key, kb_version, acl_ids)
        if checked not in self._checked:
            # Documents only change with ingestion (a new knowledge-base version): check once.
            if not self._valid(cited, kb_at, acl_ids, kb_version):
                self.invalidate(key)
                return None
            if len(self._checked) > 65536:
                self._checked.clear()
            self._checked.add(checked)
        with self._lock:
            self._local[key] = local
            self._trim()
        return Cached(response, "exact")

    def get_semantic(
        self, fp: str, vector: np.ndarray, acl_ids: frozenset[int], kb_version: int
    ) -> Cached | None:
        with self.store.read() as s:
            rows = s.execute(
                select(CacheEntry.key, CacheEntry.vector).where(CacheEntry.fingerprint == fp)
            ).all()
        if not rows:
            return None
        matrix = np.vstack([np.frombuffer(v, np.float16).astype(np.float32) for _, v in rows])
        sims = matrix @ vector.astype(np.float32)
        best = int(np.argmax(sims))
        if float(sims[best]) < self.semantic_threshold:
            return None
        hit = self.get(rows[best][0], acl_ids, kb_version)
        return Cached(hit.response, "semantic") if hit else None

    def put(
        self,
        key: str,
        fp: str,
        question: str,
        vector: np.ndarray,
        response: dict[str, Any],
        cited: dict[str, str],
        kb_version: int,
    ) -> None:
        kb_at = kb_version if response.get("action") == "abstain" else None
        meta = {"docs": cited, "kb_version": kb_at}
        with self.store.write() as (s, _):
            s.execute(delete(CacheEntry).where(CacheEntry.key == key))
            s.add(
                CacheEntry(
                    key=key,
                    fingerprint=fp,
                    question=question,
                    vector=vector.astype(np.float16).tobytes(),
                    response=response,
                    cited_versions=meta,
                    hits=0,
                    created_at=datetime.now(UTC),
                )
            )
        with self._lock:
            self._local[key] = (response, cited, kb_at)
            self._trim()

    def record_hit(self, key: str, kind: str, saved_ms: float) -> None:
        with self._lock:
            if kind == "semantic":
                self.stats.semantic_hits += 1
            else:
                self.stats.hits += 1
            self.stats.saved_ms += saved_ms

    def record_miss(self) -> None:
        with self._lock:
            self.stats.misses += 1

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._local.pop(key, None)
        with self.store.write() as (s, _):
            s.execute(delete(CacheEntry).where(CacheEntry.key == key))

    def clear(self) -> int:
        with self._lock:
            self._local.clear()
        with self.store.write() as (s, _):
            result = s.execute(delete(CacheEntry))
        return int(getattr(result, "rowcount", 0) or 0)

    def _trim(self) -> None:
        while len(self._local) > self.max_local:
            self._local.popitem(last=False)
