"""Key files created on first use by several processes at once (``steward serve --workers``):
every process gets the one value that was written, whole, and none fails."""

from __future__ import annotations

import multiprocessing as mp
import stat
from pathlib import Path

from steward.core.secretfile import read_or_create


def _race(path: str, barrier: object, out: object) -> None:
    import secrets

    barrier.wait()  # type: ignore[attr-defined]
    out.put(read_or_create(Path(path), lambda: secrets.token_hex(32)))  # type: ignore[attr-defined]


def test_processes_racing_to_create_a_key_all_read_the_same_one(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    n = 6
    barrier, out = ctx.Barrier(n), ctx.Queue()
    path = tmp_path / "keys" / "signing.key"
    procs = [ctx.Process(target=_race, args=(str(path), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    values = [out.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(values)) == 1 and len(values[0]) == 64
    assert path.read_text() == values[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [f.name for f in path.parent.iterdir()] == ["signing.key"]  # no temporary left


def test_an_existing_file_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("abc\n")
    assert read_or_create(path, lambda: "new") == "abc"
    assert path.read_text() == "abc\n"
