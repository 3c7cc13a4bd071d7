"""retrieval index tables: SQLite FTS5 chunks_fts; PostgreSQL chunk_search (tsvector + pgvector)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

The retrieval engines used to create these at start-up. Stores that already have them keep
them (every statement is IF NOT EXISTS), except a SQLite full-text index from before
permission-filter tokens, which is rebuilt once from the chunks.

The pgvector column's size is the embedder's: ``Store.migrate(vector_dim=...)`` passes it (a
number, or a callable asked only here, so that opening an existing store never loads a model).
Without one, a new store takes 384, the size of the bundled MiniLM embedder. An existing column
keeps its size; the PostgreSQL engine refuses an embedder of another size when it opens.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DEFAULT_VECTOR_DIM = 384
FTS_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5("
    "title, heading, text, filt, tokenize='porter unicode61 remove_diacritics 2')"
)
_TOKEN = re.compile(r"[^a-z0-9]+")


def _filter_tokens(acl_set_id: int, center: str | None, live: bool) -> str:
    """The FTS filter column as retrieval/sqlite.py reads it (a frozen copy: a migration must
    not change when that module does)."""
    center_token = "xc" + (_TOKEN.sub("", center.lower()) if center else "none")
    return f"xa{int(acl_set_id)} {center_token}" + (" xlive" if live else "")


def _sqlite_upgrade(bind: sa.Connection) -> None:
    cols = [r[1] for r in bind.execute(sa.text("PRAGMA table_info(chunks_fts)")).all()]
    if cols and "filt" in cols:
        return
    if cols:  # an index from before filter tokens: rebuilt from the chunks below
        op.execute("DROP TABLE chunks_fts")
    op.execute(FTS_TABLE)
    if not cols:
        return
    rows = bind.execute(
        sa.text(
            "SELECT c.id, d.title, c.heading, c.text, c.acl_set_id, c.center, c.is_current, "
            "c.quarantined FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.id"
        )
    ).all()
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO chunks_fts(rowid, title, heading, text, filt) "
                "VALUES (:i, :t, :h, :x, :f)"
            ),
            [
                {
                    "i": i,
                    "t": title,
                    "h": heading,
                    "x": text,
                    "f": _filter_tokens(acl, center, bool(cur) and not bool(quar)),
                }
                for i, title, heading, text, acl, center, cur, quar in rows
            ],
        )


def _vector_dim() -> int:
    given = context.config.attributes.get("vector_dim")
    if given is None:
        return DEFAULT_VECTOR_DIM
    dim = int(given() if callable(given) else given)
    if dim <= 0:
        raise ValueError(f"vector_dim must be positive, not {dim}")
    return dim


def _postgresql_upgrade(bind: sa.Connection) -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    if not sa.inspect(bind).has_table("chunk_search"):
        op.execute(
            "CREATE TABLE chunk_search ("
            "chunk_id integer PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE, "
            f"tsv tsvector NOT NULL, vec vector({_vector_dim()}) NOT NULL)"
        )
    op.execute("CREATE INDEX IF NOT EXISTS ix_chunk_search_tsv ON chunk_search USING gin (tsv)")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_chunk_search_vec ON chunk_search "
        "USING hnsw (vec vector_cosine_ops)"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_upgrade(bind)
    elif bind.dialect.name == "postgresql":
        _postgresql_upgrade(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS chunk_search")
