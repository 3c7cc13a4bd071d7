"""The production engine: PostgreSQL full-text search + pgvector (HNSW), filter in the SQL.

This is the only module that writes PostgreSQL-specific SQL (but the DDL of migration 0005,
which creates the side table and its indexes). A side table holds each chunk's
weighted ``tsvector`` (title A, heading B, text D) and its vector; the permission filter joins
``chunks`` and sits in the WHERE clause of both rankers, so rows outside it are never ranked.

HNSW with a selective filter can return fewer than ``k`` rows (pgvector filters after the index
scan); when that happens and more permitted rows exist, the query is repeated as an exact scan
over the permitted rows, so a narrow permission set never loses its best matches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from steward.core.errors import ConfigError
from steward.models.embeddings import Vectors
from steward.retrieval.search import Filter, Hit, query_terms
from steward.store import Store

log = logging.getLogger(__name__)
_LEXEME = re.compile(r"[^a-z0-9]+")


_SIZE = re.compile(r"\d+\s*(kB|MB|GB)")
_INDEXES = {  # name: method, of the search side table
    "ix_chunk_search_tsv": "gin (tsv)",
    "ix_chunk_search_vec": "hnsw (vec vector_cosine_ops)",
}


def _vector_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in v.astype(np.float32).tolist()) + "]"


def _tsquery(terms: Sequence[str]) -> str:
    """OR of the query's words as a to_tsquery string; nothing but [a-z0-9] reaches it."""
    words = [w for w in (_LEXEME.sub("", t.lower()) for t in terms) if w]
    return " | ".join(dict.fromkeys(words))


class PostgresIndex:
    name = "postgres"

    def __init__(
        self, store: Store, dim: int, ef_search: int = 200, match_share: float = 0.05
    ) -> None:
        if store.dialect != "postgresql":
            raise ValueError("PostgresIndex needs a PostgreSQL store")
        self.store = store
        self.dim = dim
        self.ef_search = ef_search
        self._df: dict[str, int] = {}  # document frequency per word, per kb version
        # Words in more than this share of chunks score the rows other words find, but do not
        # find rows themselves (a common-terms cutoff: they add little rank and many rows).
        self.match_share = match_share
        self._idf_version = -1
        self._idf_total = -1
        self._permitted: dict[tuple[frozenset[int], str | None, frozenset[int]], int] = {}
        self._check_dimension()
        self._restore_indexes()

    def _check_dimension(self) -> None:
        """The table comes from migration 0005, sized for the embedder that made the store;
        another size cannot be written into it (said now, not halfway through a sync)."""
        with self.store.read() as s:
            # pgvector keeps a column's dimension as its type modifier.
            have = s.execute(
                text(
                    "SELECT atttypmod FROM pg_attribute "
                    "WHERE attrelid = 'chunk_search'::regclass AND attname = 'vec'"
                )
            ).scalar()
        if have is not None and int(have) > 0 and int(have) != self.dim:
            raise ConfigError(
                f"This PostgreSQL store holds vectors of {have} dimensions; the configured "
                f"embedder makes {self.dim}. A model with another vector size needs a fresh "
                "database (STEWARD_DATABASE_URL): ingest into it, then switch."
            )

    def _restore_indexes(self) -> None:
        """The migration creates both indexes; only a bulk load interrupted before its rebuild
        (``bulk``) leaves them missing, and then they are built again here."""
        with self.store.read() as s:
            have = set(
                s.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunk_search'"))
            )
        if not set(_INDEXES) <= have:
            log.warning("rebuilding search indexes missing after an interrupted bulk load")
            self._create_indexes()

    def _create_indexes(self, memory: str | None = None, workers: int | None = None) -> None:
        with self.store.raw() as conn:
            if memory is not None:
                conn.execute(
                    text("SELECT set_config('maintenance_work_mem', :m, true)"), {"m": memory}
                )
            if workers is not None:
                conn.execute(
                    text("SELECT set_config('max_parallel_maintenance_workers', :w, true)"),
                    {"w": str(workers)},
                )
            for name, how in _INDEXES.items():
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON chunk_search USING {how}"))

    @contextmanager
    def bulk(self, memory: str = "1GB", workers: int = 1) -> Iterator[None]:
        """A large first load: drop the GIN and HNSW indexes, load, build both once on exit
        (pgvector's advice: an HNSW index builds far faster over a full table, more so when its
        graph fits in ``maintenance_work_mem``). Queries still answer meanwhile, by scans."""
        if not _SIZE.fullmatch(memory):
            raise ValueError(f"Bad memory size {memory!r}: use e.g. 512MB or 2GB.")
        with self.store.raw() as conn:
            for name in _INDEXES:
                conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        try:
            yield
        finally:
            self._create_indexes(memory, workers)

    def refresh(self, session: Session, chunk_ids: Sequence[int]) -> None:
        """Nothing to do: both rankers join ``chunks`` for the filter columns."""

    def add(self, session: Session, rows: Sequence[tuple[int, str, str, str]]) -> None:
        if not rows:
            return
        ids = [r[0] for r in rows]
        vecs: dict[int, bytes] = {
            int(i): bytes(e)
            for i, e in session.execute(
                text("SELECT id, embedding FROM chunks WHERE id = ANY(:ids)"), {"ids": ids}
            ).all()
        }
        session.execute(
            text(
                "INSERT INTO chunk_search (chunk_id, tsv, vec) VALUES (:i, "
                "setweight(to_tsvector('english', :t), 'A') || "
                "setweight(to_tsvector('english', :h), 'B') || "
                "setweight(to_tsvector('english', :x), 'D'), CAST(:v AS vector)) "
                "ON CONFLICT (chunk_id) DO UPDATE SET tsv = EXCLUDED.tsv, vec = EXCLUDED.vec"
            ),
            [
                {
                    "i": i,
                    "t": t,
                    "h": h,
                    "x": x,
                    "v": _vector_literal(np.frombuffer(vecs[i], np.float16)),
                }
                for i, t, h, x in rows
            ],
        )

    def remove(self, session: Session, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            session.execute(
                text("DELETE FROM chunk_search WHERE chunk_id = ANY(:ids)"),
                {"ids": list(chunk_ids)},
            )

    @staticmethod
    def _where(flt: Filter) -> str:
        center = "" if flt.center is None else "AND (c.center IS NULL OR c.center = :center)"
        if flt.excluded:  # switched out by an operator (operations/switches.py)
            center += " AND NOT (c.document_id = ANY(:excluded))"
        return f"c.acl_set_id = ANY(:acl) AND c.is_current AND NOT c.quarantined {center}"

    def _params(self, flt: Filter, **extra: object) -> dict[str, object]:
        out: dict[str, object] = {"acl": sorted(flt.acl_ids), "center": flt.center, **extra}
        if flt.excluded:
            out["excluded"] = sorted(flt.excluded)
        return out

    def _idf(self, words: Sequence[str], version: int) -> dict[str, float]:
        """BM25 inverse document frequency of each word over the whole index (as FTS5 has),
        remembered per knowledge-base version (the request's, read once per request)."""
        if version < 0:
            version = self.store.kb_version()
        if self._idf_version != version:
            self._df, self._idf_version, self._idf_total = {}, version, -1
            self._permitted = {}
        todo = [w for w in words if w not in self._df]
        if todo or self._idf_total < 0:
            with self.store.read() as s:
                if self._idf_total < 0:
                    self._idf_total = int(
                        s.execute(text("SELECT count(*) FROM chunk_search")).scalar() or 0
                    )
                for w in todo:
                    df = int(
                        s.execute(
                            text(
                                "SELECT count(*) FROM chunk_search "
                                "WHERE tsv @@ to_tsquery('english', :q)"
                            ),
                            {"q": w},
                        ).scalar()
                        or 0
                    )
                    self._df[w] = df
        n = self._idf_total
        return {
            w: float(np.log((n - self._df[w] + 0.5) / (self._df[w] + 0.5) + 1.0)) for w in words
        }

    def _sizes(self, s: Session, flt: Filter) -> tuple[int, int]:
        """Indexed and permitted chunk counts, remembered per knowledge-base version."""
        self._idf([], flt.kb_version)
        key = (flt.acl_ids, flt.center, flt.excluded)
        if key not in self._permitted:
            self._permitted[key] = int(
                s.execute(
                    text(f"SELECT count(*) FROM chunks c WHERE {self._where(flt)}"),
                    self._params(flt),
                ).scalar()
                or 0
            )
        return self._idf_total, self._permitted[key]

    def lexical(self, query: str, flt: Filter, k: int) -> list[Hit]:
        """BM25-like ranking: the sum over query words of IDF x a length-normalised,
        column-weighted, saturated term frequency (``ts_rank`` normalisation 1|32; title 2,
        heading 1.5, text 1; chosen on SciFact train queries). Plain ``ts_rank_cd`` over an OR
        query lets common words dominate (SciFact nDCG@10 0.39 against FTS5's BM25 0.68).
        Rows are found by the words in at most ``match_share`` of the chunks; common words only
        add to their scores (docs/retrieval.md)."""
        words = [w for w in (_LEXEME.sub("", t.lower()) for t in query_terms(query)) if w]
        words = list(dict.fromkeys(words))[:32]
        if not words or not flt.acl_ids:
            return []
        idf = self._idf(words, flt.kb_version)
        common = self.match_share * max(self._idf_total, 1)
        finders = [w for w in words if self._df.get(w, 0) <= common]
        if not finders:  # only common words: the two rarest still find the rows
            finders = sorted(words, key=lambda w: -idf[w])[:2]
        params = self._params(flt, q=" | ".join(finders), k=k)
        parts = []
        for i, w in enumerate(words):
            params[f"t{i}"], params[f"w{i}"] = w, idf[w]
            parts.append(
                f"CAST(:w{i} AS float8) * ts_rank('{{0.5, 0.1, 0.75, 1.0}}', cs.tsv, "
                f"to_tsquery('english', :t{i}), 33)"
            )
        sql = (
            f"SELECT c.id, {' + '.join(parts)} AS s FROM chunk_search cs "
            "JOIN chunks c ON c.id = cs.chunk_id "
            f"WHERE cs.tsv @@ to_tsquery('english', :q) AND {self._where(flt)} "
            "ORDER BY s DESC, c.id LIMIT :k"
        )
        with self.store.read() as s:
            rows = s.execute(text(sql), params).all()
        return [Hit(int(r[0]), float(r[1])) for r in rows]

    def dense(self, vector: Vectors, flt: Filter, k: int) -> list[Hit]:
        if not flt.acl_ids:
            return []
        sql = (
            "SELECT c.id, 1 - (cs.vec <=> CAST(:v AS vector)) AS s FROM chunk_search cs "
            f"JOIN chunks c ON c.id = cs.chunk_id WHERE {self._where(flt)} "
            "ORDER BY cs.vec <=> CAST(:v AS vector) LIMIT :k"
        )
        params = self._params(flt, v=_vector_literal(vector.reshape(-1)), k=k)
        with self.store.read() as s:
            total, permitted = self._sizes(s, flt)
            total = max(total, 1)
            # HNSW filters after its scan: widen the scan in proportion to how much of the
            # index the filter hides, so that about k permitted rows survive it.
            ef = int(min(1000, max(self.ef_search, 2 * k * total / max(permitted, 1))))
            exact = permitted <= 2000 or ef >= 1000
            rows: Sequence[Any] = []
            if not exact:
                s.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
                rows = s.execute(text(sql), params).all()
            if exact or (len(rows) < k and permitted > len(rows)):
                # Narrow filter, or the index scan filtered too much away: exact search over
                # the permitted rows only.
                s.execute(text("SET LOCAL enable_indexscan = off"))
                rows = s.execute(text(sql), params).all()
        return [Hit(int(r[0]), float(r[1])) for r in rows]

    def term_counts(self, terms: Sequence[str], flt: Filter) -> tuple[int, dict[str, int]]:
        if not flt.acl_ids:
            return 0, {}
        where = self._where(flt)
        counts: dict[str, int] = {}
        with self.store.read() as s:
            total = int(
                s.execute(
                    text(f"SELECT count(*) FROM chunks c WHERE {where}"), self._params(flt)
                ).scalar()
                or 0
            )
            for t in terms:
                q = _tsquery([t])
                if not q:
                    counts[t] = 0
                    continue
                counts[t] = int(
                    s.execute(
                        text(
                            "SELECT count(*) FROM (SELECT 1 FROM chunk_search cs JOIN chunks c "
                            "ON c.id = cs.chunk_id WHERE cs.tsv @@ to_tsquery('english', :q) "
                            f"AND {where} LIMIT 2000) x"
                        ),
                        self._params(flt, q=q),
                    ).scalar()
                    or 0
                )
        return total, counts
