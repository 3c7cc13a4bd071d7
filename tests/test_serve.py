"""`steward serve` as an operator runs it: a real process, one line when it is up, several
workers sharing one data home."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from steward.identity.auth import create_key
from steward.runtime import Runtime


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, model_cache: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_HOME=str(home), STEWARD_MODEL_CACHE=str(model_cache))
    proc = subprocess.Popen(
        [sys.executable, "-m", "steward", "serve", "--host", "127.0.0.1", "--port", str(port),
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    return proc, port


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=60)
    assert proc.stdout is not None
    proc.stdout.close()


def _drain(proc: subprocess.Popen[str], into: list[str]) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed by _stop
        into.extend(proc.stdout or ())


def _workers_ready(proc: subprocess.Popen[str], workers: int) -> list[str]:
    """Each worker prints one line once it has warmed up and serves: read them, don't poll.
    Then a thread keeps reading what the server prints (a full pipe would block it); the
    returned list holds it, for a failure message."""
    assert proc.stdout is not None
    ready = 0
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        ready += "is ready" in line
        if ready == workers:
            threading.Thread(target=_drain, args=(proc, seen), daemon=True).start()
            return seen
    pytest.fail("the server exited before its workers were ready:\n" + "".join(seen))


def _key(home: Path, model_cache: Path, embedder, user: str) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import settings_for

    rt = Runtime(settings_for(home, model_cache), embedder=embedder)
    try:
        return create_key(rt.store, user)
    finally:
        rt.close()


def test_serve_says_when_it_listens_and_what_it_runs(kb_home, tmp_path, model_cache) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    proc, port = _serve(home, model_cache)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the socket listens: read, don't sleep
        assert f"serving on http://127.0.0.1:{port}/" in line
        for part in (f"data home {home}", "store sqlite", "embedder ", "provider extractive",
                     "1 worker"):  # fmt: skip
            assert part in line, line
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        _stop(proc)


def test_several_workers_share_one_store(kb_home, tmp_path, model_cache, embedder) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    key = _key(home, model_cache, embedder, "cara")
    proc, port = _serve(home, model_cache, "--workers", "2")
    try:
        assert proc.stdout is not None
        assert "2 workers" in proc.stdout.readline()
        printed = _workers_ready(proc, 2)
        headers = {"Authorization": f"Bearer {key}"}
        try:
            answers = [
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/ask",
                    json={"question": "How much does an international wire cost?"},
                    headers=headers,
                    timeout=120,
                ).json()
                for _ in range(6)
            ]
        except httpx.ConnectError:
            pytest.fail(f"exit {proc.poll()}; the server printed:\n" + "".join(printed))
        assert all(a["action"] == "answer" and "$45" in a["answer"] for a in answers)
        # Every answer is one row in the one audit trail, whichever worker wrote it.
        from tests.conftest import settings_for

        check = Runtime(settings_for(home, model_cache), embedder=embedder)
        try:
            from steward import audit

            ids = {a["audit_id"] for a in answers}
            assert all(audit.get(check.store, i).action == "answer" for i in ids)
            assert len(ids) == 6
        finally:
            check.close()
    finally:
        _stop(proc)


def test_piped_tables_never_cut_an_id(kb_home, tmp_path, model_cache) -> None:
    from tests.conftest import run_cli

    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    for user in ("cara", "sam"):
        assert (
            run_cli("keys", "create", "--user", user, home=home, model_cache=model_cache).returncode
            == 0
        )
    listed = run_cli("keys", "list", "--json", home=home, model_cache=model_cache)
    ids = [row["id"] for row in json.loads(listed.stdout)]
    table = run_cli("keys", "list", home=home, model_cache=model_cache).stdout
    assert ids and all(str(i) in table for i in ids)
    assert table.count("…") == len(ids)  # only each key's prefix ends in an ellipsis
    assert max(len(line) for line in table.splitlines()) > 80  # wider than a default terminal
