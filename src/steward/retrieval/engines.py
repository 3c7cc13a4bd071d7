"""The retrieval engine for a store's dialect: SQLite FTS5 + NumPy, or PostgreSQL + pgvector."""

from __future__ import annotations

from steward.core.errors import ConfigError
from steward.retrieval.search import SearchIndex
from steward.store import Store


def open_index(store: Store, dim: int, *, match_share: float = 0.05) -> SearchIndex:
    """The engine over ``store`` for vectors of ``dim``; its tables come from the migrations."""
    if store.dialect == "sqlite":
        from steward.retrieval.sqlite import SqliteIndex

        return SqliteIndex(store, dim)
    if store.dialect == "postgresql":
        from steward.retrieval.postgres import PostgresIndex

        return PostgresIndex(store, dim, match_share=match_share)
    raise ConfigError(
        f"No retrieval engine for {store.dialect}: use SQLite or PostgreSQL (with pgvector)."
    )
