"""Secret files created on first use, safely when several processes start at once.

``steward serve --workers N`` starts N processes that each reach for the same key files in the
same instant. Opening with ``O_EXCL`` alone lets the loser fail (``File exists``), and checking
for the file first lets a reader see it half written. Here the value is written whole to a
private temporary file, then linked to its name, which is atomic and fails if the name exists:
every process then reads the one value that won.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The file's text; if there is no file, ``make()``'s text, written 0600 by one process."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
            fh.flush()
            os.fsync(fh.fileno())
        # Another process may have made it first: then its value is the one.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
