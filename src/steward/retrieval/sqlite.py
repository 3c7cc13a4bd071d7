"""The embedded engine: SQLite FTS5 (BM25, Porter stemming) + exact NumPy dense search.

This is the only module that writes SQLite-specific SQL.

The permission filter reaches into the full-text index itself: each FTS row carries filter
tokens in a fourth column (``xa<acl set id>``, ``xc<center>``, ``xlive`` for current,
unquarantined chunks), and the MATCH expression requires them. FTS5 then scores only permitted
rows — BM25 is the cost that grows with the corpus, so a 10% filter costs about a tenth — and
the join to ``chunks`` checks every returned row again (defence in depth: a stale token can
hide a row, never show one). Every change to a chunk's ACL, center, currency or quarantine
goes through ``refresh`` (the chunk repository, ``store/chunks.py``, calls it). The
``chunks_fts`` table is created by an Alembic migration (0005), never here.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from steward.models.embeddings import Vectors
from steward.retrieval.dense import DenseMatrix
from steward.retrieval.search import Filter, Hit, query_terms
from steward.store import Store

# Column weights for bm25(): title, heading, text, filter tokens (never scored).
BM25_WEIGHTS = (2.0, 1.5, 1.0, 0.0)
_TOKEN = re.compile(r"[^a-z0-9]+")


def _center_token(center: str | None) -> str:
    return "xc" + (_TOKEN.sub("", center.lower()) if center else "none")


def filter_tokens(acl_set_id: int, center: str | None, live: bool) -> str:
    """The filter column of one chunk's FTS row."""
    return f"xa{int(acl_set_id)} {_center_token(center)}" + (" xlive" if live else "")


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
        self._out: dict[tuple[int, frozenset[int]], frozenset[int]] = {}  # switched-out chunks

    @staticmethod
    def _filter_column(session: Session, chunk_ids: Sequence[int]) -> dict[int, str]:
        """The filter tokens of each chunk, from its row in ``chunks``."""
        out: dict[int, str] = {}
        for start in range(0, len(chunk_ids), 900):
            marks = ",".join(str(int(i)) for i in chunk_ids[start : start + 900])
            for i, acl, center, cur, quar in session.execute(
                text(
                    "SELECT id, acl_set_id, center, is_current, quarantined FROM chunks "  # noqa: S608
                    f"WHERE id IN ({marks})"
                )
            ).all():
                out[int(i)] = filter_tokens(int(acl), center, bool(cur) and not bool(quar))
        return out

    def add(self, session: Session, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Index rows of chunks already written (flushed) in this session; their filter
        tokens come from the chunks table."""
        if not rows:
            return
        filt = self._filter_column(session, [r[0] for r in rows])
        session.execute(
            text(
                "INSERT INTO chunks_fts(rowid, title, heading, text, filt) "
                "VALUES (:i, :t, :h, :x, :f)"
            ),
            [{"i": i, "t": t, "h": h, "x": x, "f": filt[i]} for i, t, h, x in rows if i in filt],
        )

    def refresh(self, session: Session, chunk_ids: Sequence[int]) -> None:
        """New filter tokens for chunks whose ACL, center, currency or quarantine changed."""
        filt = self._filter_column(session, chunk_ids)
        if filt:
            session.execute(
                text("UPDATE chunks_fts SET filt = :f WHERE rowid = :i"),
                [{"i": i, "f": f} for i, f in filt.items()],
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
        match = self._match(terms, flt)
        w = ", ".join(str(x) for x in BM25_WEIGHTS)
        # The permission filter is part of the WHERE clause: rows outside it are never ranked.
        # CROSS JOIN keeps the full-text match as the outer loop (SQLite's planner otherwise
        # may walk every permitted chunk and probe the index once per chunk).
        # Only integers (ACL ids, weights) are formatted into the SQL; text goes in as parameters.
        sql = (
            f"SELECT chunks_fts.rowid, bm25(chunks_fts, {w}) AS s FROM chunks_fts "  # noqa: S608
            "CROSS JOIN chunks c ON c.id = chunks_fts.rowid "
            f"WHERE chunks_fts MATCH :m AND {self._where(flt)} ORDER BY s LIMIT :k"
        )
        with self.store.read() as s:
            rows = s.execute(text(sql), {"m": match, "k": k, "center": flt.center}).all()
        return [Hit(int(r[0]), -float(r[1])) for r in rows]

    def dense(self, vector: Vectors, flt: Filter, k: int) -> list[Hit]:
        if not flt.excluded:
            return self.dense_matrix.search(vector, flt, k)
        # Documents switched out: their chunks are dropped before the cut (asking for as many
        # more as they have leaves exactly the k best of the rest; dense scores are per row).
        out = self._excluded_chunks(flt)
        hits = self.dense_matrix.search(vector, flt, k + len(out))
        return [h for h in hits if h.chunk_id not in out][:k]

    def _excluded_chunks(self, flt: Filter) -> frozenset[int]:
        key = (flt.kb_version, flt.excluded)
        with self._lock:
            found = self._out.get(key)
        if found is None:
            docs = ",".join(str(int(d)) for d in sorted(flt.excluded))
            with self.store.read() as s:
                found = frozenset(
                    int(r[0])
                    for r in s.execute(
                        text(f"SELECT id FROM chunks WHERE document_id IN ({docs})")  # noqa: S608
                    ).all()
                )
            with self._lock:
                self._out = {key: found}
        return found

    @staticmethod
    def _match(terms: Sequence[str], flt: Filter) -> str:
        """The query words (in the text columns only) AND the asker's filter tokens."""
        words = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        acl = " OR ".join(f"xa{int(a)}" for a in sorted(flt.acl_ids))
        out = f"{{title heading text}} : ({words}) AND filt : ({acl}) AND filt : xlive"
        if flt.center is not None:
            out += f" AND filt : (xcnone OR {_center_token(flt.center)})"
        return out

    def _where(self, flt: Filter) -> str:
        acl = ",".join(str(int(a)) for a in sorted(flt.acl_ids))
        center = "" if flt.center is None else "AND (c.center IS NULL OR c.center = :center)"
        if flt.excluded:  # switched out by an operator (integers only)
            out = ",".join(str(int(d)) for d in sorted(flt.excluded))
            center += f" AND c.document_id NOT IN ({out})"
        return f"c.acl_set_id IN ({acl}) AND c.is_current = 1 AND c.quarantined = 0 {center}"

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Nothing to defer: FTS5 merges its segments as it goes and the vector matrix is
        read from the chunks table."""
        yield

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
            # One statement per 100 words (SQLite allows 500 terms in a compound select), each
            # word counted on its own, not one statement per word.
            where = self._where(flt)  # holds only integer ACL ids
            with self.store.read() as s:
                for start in range(0, len(todo), 100):
                    selects, params = [], {"center": flt.center}
                    for n, t in enumerate(todo[start : start + 100], start):
                        if t == "\x00total":
                            selects.append(f"SELECT {n}, count(*) FROM chunks c WHERE {where}")  # noqa: S608
                        else:
                            # Capped: past a few thousand hits a word is common whatever the count.
                            selects.append(
                                f"SELECT {n}, count(*) FROM (SELECT 1 FROM chunks_fts "  # noqa: S608
                                "CROSS JOIN chunks c ON c.id = chunks_fts.rowid "
                                f"WHERE chunks_fts MATCH :m{n} AND {where} LIMIT 2000)"
                            )
                            params[f"m{n}"] = '"' + t.replace('"', "") + '"'
                    for n, count in s.execute(text(" UNION ALL ".join(selects)), params).all():
                        known[todo[int(n)]] = int(count or 0)
            with self._lock:
                self._counts[key] = known
                self._counts.move_to_end(key)
                while len(self._counts) > 256:
                    self._counts.popitem(last=False)
        return known["\x00total"], {t: known[t] for t in terms}
