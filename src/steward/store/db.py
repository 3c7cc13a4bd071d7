"""Engine, sessions, migrations and the one write path.

Every write goes through :meth:`Store.write`, a transaction that commits or rolls back as a
whole; events queued during it are emitted only after the commit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from steward.core.errors import ConfigError
from steward.store.models import Meta

MIGRATIONS = Path(__file__).parent / "migrations"


@cache
def head_revision() -> str:
    """The newest migration's revision: its file's number (``0016_declared_known_values.py``
    is revision "0016"; tests/test_chunk_repository.py holds this equal to Alembic's head)."""
    numbers = [f.name[:4] for f in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(numbers)


@dataclass(frozen=True)
class Event:
    """Something that happened, emitted after its transaction committed."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]
# The vector size of a new store's pgvector column: a number, or a callable asked only when the
# migration creates that column (so opening an existing store never loads an embedder).
VectorDim = int | Callable[[], int]
_KB_CHANGED = "steward.kb_changed"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros, so erased or replaced text does not linger in
    # free pages of the file.
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Store:
    """A migrated database plus the write path. Cheap to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self, vector_dim: VectorDim | None = None) -> None:
        """Bring the schema to the newest Alembic revision. ``vector_dim`` sizes the pgvector
        column of a new PostgreSQL store (the embedder's dimension); see migration 0005."""
        if self._at_head():
            return  # every process opens the store: Alembic costs 0.2 s even with nothing to do
        # Imported here: Alembic (and Mako, Pygments) cost every CLI process 0.1 s otherwise.
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            cfg.attributes["vector_dim"] = vector_dim
            command.upgrade(cfg, "head")

    def _at_head(self) -> bool:
        """Whether the store's Alembic revision is the newest migration's (they are numbered
        in one line, 0001, 0002, ...: the newest file names the head)."""
        try:
            with self.engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                return list(current) == [head_revision()]
        except SQLAlchemyError:  # a new store: no alembic_version table yet
            return False

    def read(self) -> Session:
        """A session for reading; use as a context manager."""
        return self._sessions()

    @contextlib.contextmanager
    def write(self) -> Iterator[tuple[Session, list[Event]]]:
        """The one write path: a transaction, plus a list to queue events emitted after commit."""
        events: list[Event] = []
        with self._lock, self._sessions() as session, session.begin():
            yield session, events
            if session.info.pop(_KB_CHANGED, False):
                self.bump_kb_version(session)
        for ev in events:
            for listener in self._listeners:
                listener(ev)

    @contextlib.contextmanager
    def raw(self) -> Iterator[Connection]:
        """A connection in a transaction, for engine-specific SQL (retrieval engines only)."""
        with self.engine.begin() as conn:
            yield conn

    def on_event(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def get_meta(self, key: str, default: str = "") -> str:
        with self.read() as s:
            return self.meta_in(s, key, default)

    @staticmethod
    def meta_in(session: Session, key: str, default: str = "") -> str:
        """A meta value read inside the caller's transaction."""
        row = session.get(Meta, key)
        return row.value if row else default

    @staticmethod
    def set_meta(session: Session, key: str, value: str) -> None:
        row = session.get(Meta, key)
        if row is None:
            session.add(Meta(key=key, value=value))
        else:
            row.value = value

    def kb_version(self) -> int:
        """Bumped by every ingestion change; part of cache keys and audit rows."""
        with self.read() as s:
            row = s.execute(select(Meta.value).where(Meta.key == "kb_version")).scalar()
            return int(row) if row else 0

    @staticmethod
    def knowledge_changed(session: Session) -> None:
        """Mark this write transaction as changing what retrieval sees: the knowledge-base
        version moves once when it commits, however many changes it holds."""
        session.info[_KB_CHANGED] = True

    @staticmethod
    def bump_kb_version(session: Session) -> int:
        row = session.get(Meta, "kb_version")
        version = (int(row.value) if row else 0) + 1
        Store.set_meta(session, "kb_version", str(version))
        return version

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True, vector_dim: VectorDim | None = None) -> Store:
    """Open (and by default migrate) the store at ``url``. A URL that names no database Steward
    can open is one ConfigError naming the setting, never the URL (it may hold a password)."""
    try:
        store = Store(url)
    except (ArgumentError, NoSuchModuleError, ValueError, ImportError) as exc:
        raise ConfigError(
            "STEWARD_DATABASE_URL: not a database URL Steward can open (sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB)."
        ) from exc
    if migrate:
        try:
            store.migrate(vector_dim)
        except OperationalError as exc:
            reason = (str(exc.orig).strip().splitlines() or ["no reason given"])[0][:160]
            raise ConfigError(
                f"STEWARD_DATABASE_URL: the database cannot be reached or opened ({reason})."
            ) from exc
    return store
