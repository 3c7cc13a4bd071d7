"""Answer cache, scoped to what the asker may read.

Keys never hold raw text: the key is a SHA-256 of the masked question (normalised), the asker's
permission fingerprint (the set of ACL ids they may read, their center, the policy version) and
the prompt version. A hit is served only if every cited document still exists, is current, has
the version that was cited and is still readable under that fingerprint; abstentions (which
depend on what is *absent*) are also tied to the knowledge-base version. A semantic hit needs a
cosine of at least ``threshold`` with a cached question of the same fingerprint.

Two tiers: an in-process LRU in front (a repeated question costs a dictionary lookup) and the
store's table behind it, shared by every replica on the same database. For the semantic lookup
each process keeps the vectors of recently asked fingerprints as one matrix, reloaded from the
table at most every ``semantic_refresh_s`` (entries other replicas add are seen after that) and
at once with the entries this process adds.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from steward.store import Store
from steward.store.models import AuditRecord, CacheEntry, Document

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


def report(store: Store, since: datetime) -> dict[str, Any]:
    """Hit rate and time saved since ``since``, over every replica: read from the audit trail,
    where each request that looked in the cache records ``settings.cache`` = exact, semantic or
    miss. Time saved is estimated per hit as the mean latency of misses minus that of hits."""
    kind = AuditRecord.settings["cache"].as_string()
    total = AuditRecord.latency_ms["total"].as_float()
    with store.read() as s:
        rows = s.execute(
            select(kind, func.count(), func.avg(total))
            .where(AuditRecord.ts >= since, kind.is_not(None))
            .group_by(kind)
        ).all()
        entries = int(s.scalar(select(func.count()).select_from(CacheEntry)) or 0)
    by = {str(k): (int(n), float(avg or 0.0)) for k, n, avg in rows}
    exact, semantic, misses = (by.get(k, (0, 0.0)) for k in ("exact", "semantic", "miss"))
    hits = exact[0] + semantic[0]
    looked = hits + misses[0]
    # Rounded first, so that the report adds up as printed: saved = (miss - hit) x hits.
    hit_ms = round((exact[0] * exact[1] + semantic[0] * semantic[1]) / hits, 2) if hits else 0.0
    miss_ms = round(misses[1], 2)
    return {
        "since": since.isoformat(timespec="seconds"),
        "requests": looked,
        "hits": exact[0],
        "semantic_hits": semantic[0],
        "misses": misses[0],
        "hit_rate": round(hits / looked, 4) if looked else 0.0,
        "mean_ms_hit": hit_ms,
        "mean_ms_miss": miss_ms,
        "saved_ms": round(max(miss_ms - hit_ms, 0.0) * hits, 1) if misses[0] else 0.0,
        "entries": entries,
    }


_DIGITS = re.compile(r"\d+")


def _numbers(question: str) -> frozenset[str]:
    return frozenset(_DIGITS.findall(question))


@dataclass(frozen=True)
class Cached:
    response: dict[str, Any]
    kind: str  # exact | semantic


@dataclass
class AnswerCache:
    store: Store
    semantic_threshold: float = 0.97
    max_local: int = 4096
    semantic_refresh_s: float = 5.0
    max_semantic: int = 50_000  # newest entries per fingerprint searched semantically
    max_fingerprints: int = 256  # fingerprints whose vectors are kept in memory
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._local: OrderedDict[str, tuple[dict[str, Any], dict[str, Any], int | None]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        self._index: OrderedDict[str, tuple[float, list[str], np.ndarray]] = OrderedDict()
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

    def _stored(self, key: str) -> bool:
        with self.store.read() as s:
            return s.scalar(select(CacheEntry.key).where(CacheEntry.key == key)) is not None

    def get(self, key: str, acl_ids: frozenset[int], kb_version: int) -> Cached | None:
        with self._lock:
            local = self._local.get(key)
            if local is not None:
                self._local.move_to_end(key)
        in_memory = local is not None
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
            # Documents only change with ingestion or erasure (a new knowledge-base version):
            # check once per version, including that no replica has deleted the entry since.
            if in_memory and not self._stored(key):
                with self._lock:
                    self._local.pop(key, None)
                return None
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

    def _semantic_index(self, fp: str) -> tuple[list[str], np.ndarray]:
        """The keys and vectors (float32 rows) cached under ``fp``, newest first."""
        now = time.monotonic()
        with self._lock:
            got = self._index.get(fp)
            if got is not None and now - got[0] <= self.semantic_refresh_s:
                self._index.move_to_end(fp)
                return got[1], got[2]
        with self.store.read() as s:
            rows = s.execute(
                select(CacheEntry.key, CacheEntry.vector)
                .where(CacheEntry.fingerprint == fp)
                .order_by(CacheEntry.created_at.desc())
                .limit(self.max_semantic)
            ).all()
        keys = [k for k, _ in rows]
        matrix = (
            np.vstack([np.frombuffer(v, np.float16) for _, v in rows]).astype(np.float32)
            if rows
            else np.zeros((0, 0), np.float32)
        )
        with self._lock:
            self._index[fp] = (now, keys, matrix)
            self._index.move_to_end(fp)
            while len(self._index) > self.max_fingerprints:
                self._index.popitem(last=False)
        return keys, matrix

    def get_semantic(
        self,
        fp: str,
        vector: np.ndarray,
        acl_ids: frozenset[int],
        kb_version: int,
        question: str | None = None,
    ) -> Cached | None:
        """The answer to a differently worded question whose vector is within the threshold
        and, given ``question``, whose numbers (years, amounts, tokens) are the same: "in 2024"
        and "in 2025" read alike to the embedder but are not the same question."""
        keys, matrix = self._semantic_index(fp)
        if not keys:
            return None
        sims = matrix @ vector.astype(np.float32)
        for best in np.argsort(-sims)[:5]:
            if float(sims[best]) < self.semantic_threshold:
                return None
            if question is not None and _numbers(self._question(keys[best])) != _numbers(question):
                continue
            hit = self.get(keys[best], acl_ids, kb_version)
            if hit is not None and hit.response.get("action") != "answer":
                # An abstention's text names the words its own question was searched for: to
                # another wording (another asker's, perhaps), only the same question gets it.
                continue
            return Cached(hit.response, "semantic") if hit else None
        return None

    def _question(self, key: str) -> str:
        with self.store.read() as s:
            found = s.execute(select(CacheEntry.question).where(CacheEntry.key == key)).scalar()
        return found or ""

    def put(
        self,
        key: str,
        fp: str,
        question: str,
        vector: np.ndarray,
        response: dict[str, Any],
        cited: dict[str, str],
        kb_version: int,
        session: Session | None = None,
    ) -> None:
        """Cache an answer. With ``session``, the entry joins the caller's transaction and
        this process's memory learns it only once that commits (a rolled-back request must
        not be served from memory)."""
        kb_at = kb_version if response.get("action") == "abstain" else None
        meta = {"docs": cited, "kb_version": kb_at}
        entry = CacheEntry(
            key=key,
            fingerprint=fp,
            question=question,
            vector=vector.astype(np.float16).tobytes(),
            response=response,
            cited_versions=meta,
            hits=0,
            created_at=datetime.now(UTC),
        )

        def remember(*_: object) -> None:
            self._remember(key, fp, vector, response, cited, kb_at)

        if session is None:
            with self.store.write() as (s, _):
                s.execute(delete(CacheEntry).where(CacheEntry.key == key))
                s.add(entry)
            remember()
            return
        session.execute(delete(CacheEntry).where(CacheEntry.key == key))
        session.add(entry)
        event.listen(session, "after_commit", remember, once=True)

    def _remember(
        self,
        key: str,
        fp: str,
        vector: np.ndarray,
        response: dict[str, Any],
        cited: dict[str, str],
        kb_at: int | None,
    ) -> None:
        row = vector.astype(np.float16).astype(np.float32)[None, :]
        with self._lock:
            self._local[key] = (response, cited, kb_at)
            self._trim()
            got = self._index.get(fp)
            if got is not None:  # this process sees its own entry at once
                at, keys, matrix = got
                keep = [i for i, k in enumerate(keys) if k != key]
                self._index[fp] = (
                    at,
                    [key, *(keys[i] for i in keep)],
                    np.vstack([row, matrix[keep]]) if keep else row,
                )

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
            self._index.clear()
        with self.store.write() as (s, _):
            result = s.execute(delete(CacheEntry))
        return int(getattr(result, "rowcount", 0) or 0)

    def _trim(self) -> None:
        while len(self._local) > self.max_local:
            self._local.popitem(last=False)
