"""The audit trail: append-only, hash-chained records (``steward.audit.trail``)."""

from steward.audit.trail import (
    GENESIS,
    HASHED_FIELDS,
    AuditEntry,
    ChainReport,
    append,
    as_dict,
    count,
    export,
    get,
    prune,
    row_hash,
    sources,
    verify,
)

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "AuditEntry",
    "ChainReport",
    "append",
    "as_dict",
    "count",
    "export",
    "get",
    "prune",
    "row_hash",
    "sources",
    "verify",
]
