"""The embedded engine: SQLite FTS5 (BM25, Porter stemming) + exact NumPy dense search.

This is the only module that writes SQLite-specific SQL.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from steward.embeddings import Vectors
from steward.retrieval.dense import DenseMatrix
from steward.retrieval.search import Filter, Hit, query_terms
from steward.store import Store

# Column weights for bm25(): title, heading, text.
BM25_WEIGHTS = (2.0, 1.5, 1.0)


class SqliteIndex:
    name = "sqlite"

    def __init__(self, store: Store, dim: int) -> None:
        if store.dialect != "sqlite":
            raise ValueError("SqliteIndex needs a SQLite store")
        self.store = store
        self.dense_matrix = DenseMatrix(store, dim)
        # Word counts per (knowledge-base version, permission filter): the same filter asks
        # about the same words again and again.
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[int, Filter], dict[str, int]] = OrderedDict()
        with store.raw() as conn:
            conn.execute(
                text(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5("
                    "title, heading, text, tokenize='porter unicode61 remove_diacritics 2')"
                )
            )

    def add(self, session: Session, rows: Sequence[tuple[int, str, str, str]]) -> None:
        if rows:
            session.execute(
                text("INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (:i, :t, :h, :x)"),
                [{"i": i, "t": t, "h": h, "x": x} for i, t, h, x in rows],
            )

    def remove(self, session: Session, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            session.execute(
                text("DELETE FROM chunks_fts WHERE rowid = :i"), [{"i": i} for i in chunk_ids]
            )

    def lexical(self, query: str, flt: Filter, k: int) -> list[Hit]:
        terms = query_terms(query)
        if not terms or not flt.acl_ids:
            return []
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        w = ", ".join(str(x) for x in BM25_WEIGHTS)
        # The permission filter is part of the WHERE clause: rows outside it are never ranked.
        # Only integers (ACL ids, weights) are formatted into the SQL; text goes in as parameters.
        sql = (
            f"SELECT chunks_fts.rowid, bm25(chunks_fts, {w}) AS s FROM chunks_fts "  # noqa: S608
            "JOIN chunks c ON c.id = chunks_fts.rowid "
            f"WHERE chunks_fts MATCH :m AND {self._where(flt)} ORDER BY s LIMIT :k"
        )
        with self.store.read() as s:
            rows = s.execute(text(sql), {"m": match, "k": k, "center": flt.center}).all()
        return [Hit(int(r[0]), -float(r[1])) for r in rows]

    def dense(self, vector: Vectors, flt: Filter, k: int) -> list[Hit]:
        return self.dense_matrix.search(vector, flt, k)

    def _where(self, flt: Filter) -> str:
        acl = ",".join(str(int(a)) for a in sorted(flt.acl_ids))
        center = "" if flt.center is None else "AND (c.center IS NULL OR c.center = :center)"
        return f"c.acl_set_id IN ({acl}) AND c.is_current = 1 AND c.quarantined = 0 {center}"

    def term_counts(self, terms: Sequence[str], flt: Filter) -> tuple[int, dict[str, int]]:
        if not flt.acl_ids:
            return 0, {}
        key = (flt.kb_version if flt.kb_version >= 0 else self.store.kb_version(), flt)
        with self._lock:
            known = dict(self._counts.get(key, {}))
        todo = [t for t in dict.fromkeys(terms) if t not in known] + (
            [] if "\x00total" in known else ["\x00total"]
        )
        if todo:
            where = self._where(flt)
            with self.store.read() as s:
                for t in todo:
                    if t == "\x00total":
                        sql, params = f"SELECT count(*) FROM chunks c WHERE {where}", {}  # noqa: S608
                    else:
                        # Capped: past a few thousand hits a word is common whatever the count.
                        sql = (  # `where` holds only integer ACL ids
                            "SELECT count(*) FROM (SELECT 1 FROM chunks_fts JOIN chunks c "  # noqa: S608
                            "ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH :m AND "
                            f"{where} LIMIT 2000)"
                        )
                        params = {"m": '"' + t.replace('"', "") + '"'}
                    known[t] = int(
                        s.execute(text(sql), {**params, "center": flt.center}).scalar() or 0
                    )
            with self._lock:
                self._counts[key] = known
                self._counts.move_to_end(key)
                while len(self._counts) > 256:
                    self._counts.popitem(last=False)
        return known["\x00total"], {t: known[t] for t in terms}
