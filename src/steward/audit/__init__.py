"""The audit trail: append-only, hash-chained, typed events (``trail``, ``events``)."""

from steward.audit.events import AuditEvent, Kind
from steward.audit.trail import (
    GENESIS,
    HASHED_FIELDS,
    HASHED_FIELDS_V2,
    AuditEntry,
    ChainReport,
    ExportReport,
    append,
    as_dict,
    count,
    export,
    export_file,
    get,
    prune,
    record,
    row_hash,
    sources,
    verify,
)

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "HASHED_FIELDS_V2",
    "AuditEntry",
    "AuditEvent",
    "ChainReport",
    "ExportReport",
    "Kind",
    "append",
    "as_dict",
    "count",
    "export",
    "export_file",
    "get",
    "prune",
    "record",
    "row_hash",
    "sources",
    "verify",
]
