"""The relational store: models, the engine, migrations and the one write path."""

from steward.store.db import Store, open_store

__all__ = ["Store", "open_store"]
