"""Shared fixtures: real stores on disk, the real offline embedder, real servers on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from steward.config.settings import Settings
from steward.identity.auth import create_key
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.models.embeddings import MiniLMEmbedder
from steward.runtime import Runtime

DEMO = Path(__file__).parents[1] / "src" / "steward" / "demo" / "data"
FIXTURES = Path(__file__).parent / "fixtures"


# The slowest modules (seconds of worker time on 2 cores, `pytest --durations`), scheduled first:
# under `-n` with `--dist loadfile` a module runs whole on one worker, and a long one picked up
# last leaves the other worker idle for its whole length at the end of the run.
SLOW_FIRST = (
    "test_pilot_guide", "test_openapi_fuzz", "test_chat_browser", "test_promotion_meridian",
    "test_switches", "test_cli", "test_llama_provider", "test_serve", "test_promotion",
    "test_retrieval", "test_readiness_meridian", "test_metrics", "test_console",
    "test_feedback_review", "test_records", "test_rollout", "test_report", "test_actions_api",
    "test_judgment",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    # A stable sort: the modules' own order, and their tests' order, are kept otherwise.
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).stem, len(rank)))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit the developer's STEWARD_* settings."""
    for name in list(os.environ):
        if name.startswith("STEWARD_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> MiniLMEmbedder:
    """One real MiniLM (ONNX, offline) for the whole session."""
    return MiniLMEmbedder(cache_dir=model_cache)


def settings_for(home: Path, model_cache: Path, **overrides: object) -> Settings:
    return Settings(home=home, model_cache=model_cache, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def make_runtime(model_cache: Path, embedder: MiniLMEmbedder) -> Iterator[object]:
    """Factory: a Runtime on a given home, sharing the session's embedder."""
    made: list[Runtime] = []

    def make(home: Path, provider: object = None, **overrides: object) -> Runtime:
        rt = Runtime(
            settings_for(home, model_cache, **overrides),
            embedder=embedder,
            provider=provider,  # type: ignore[arg-type]
        )
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


@pytest.fixture(scope="session")
def demo_home(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, embedder: MiniLMEmbedder
) -> Path:
    """A store with the bundled demo organisation ingested once per session."""
    home = tmp_path_factory.mktemp("demo-home")
    rt = Runtime(settings_for(home, model_cache), embedder=embedder)
    import_directory(rt.store, DEMO / "directory.yaml")
    reports = sync(rt, load_sources(DEMO / "sources.yaml"))
    assert all(r.status == "ok" for r in reports), [r.errors for r in reports]
    rt.close()
    return home


@pytest.fixture
def demo_copy(demo_home: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store for one test (tests may write to it)."""
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


@pytest.fixture
def demo_rt(demo_copy: Path, make_runtime: object) -> Runtime:
    rt: Runtime = make_runtime(demo_copy)  # type: ignore[operator]
    return rt


class LiveServer:
    """A real uvicorn server on 127.0.0.1 in a background thread.

    The listening socket is bound before the thread starts, so a client can connect at once:
    the kernel queues the connection until uvicorn accepts it (no waiting or polling).
    """

    def __init__(self, app: object, **options: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture
def live_demo(demo_rt: Runtime) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """The demo store served over real HTTP, with an API key per demo user."""
    from steward.web.app import create_app

    keys = {
        u: create_key(demo_rt.store, u)
        for u in (
            "cust-lena",
            "cust-omar",
            "agent-rita",
            "agent-sam",
            "uw-jonas",
            "siu-maya",
            "ops-admin",
        )
    }
    with LiveServer(create_app(demo_rt)) as server:
        yield server, keys


def run_cli(
    *args: str,
    home: Path,
    model_cache: Path,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m steward`` as a real process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_HOME=str(home), STEWARD_MODEL_CACHE=str(model_cache), **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-m", "steward", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def kb_home(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, embedder: MiniLMEmbedder
) -> Path:
    """The small test knowledge base of tests/kb.py, ingested once per session."""
    return ingest_kb(tmp_path_factory.mktemp("kb"), model_cache, embedder)


def ingest_kb(
    root: Path, model_cache: Path, embedder: MiniLMEmbedder, docs: dict[str, str] | None = None
) -> Path:
    """Write the test knowledge base (its documents, or ``docs``) under ``root`` and ingest it
    with its directory; returns the data home."""
    from tests.kb import write_kb

    sources = write_kb(root / "kb", docs)
    home = root / "home"
    rt = Runtime(settings_for(home, model_cache), embedder=embedder)
    import_directory(rt.store, root / "kb" / "directory.yaml")
    reports = sync(rt, load_sources(sources))
    assert all(r.status == "ok" for r in reports), [r.errors for r in reports]
    rt.close()
    return home


@pytest.fixture
def kb_rt(kb_home: Path, tmp_path: Path, make_runtime: object) -> Runtime:
    """A private copy of the test knowledge base's store."""
    home = tmp_path / "kb-home"
    shutil.copytree(kb_home, home)
    rt: Runtime = make_runtime(home)  # type: ignore[operator]
    return rt


@pytest.fixture
def live_kb(kb_rt: Runtime) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """The test knowledge base served over real HTTP, with an API key per user."""
    from steward.web.app import create_app

    keys = {
        u: create_key(kb_rt.store, u)
        for u in ("cara", "sam", "fin", "nora", "solo", "ops", "nobody")
    }
    with LiveServer(create_app(kb_rt)) as server:
        yield server, keys


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real PostgreSQL 16 with pgvector, started by pgserver in a temp dir."""
    # pgserver asks platformdirs for a runtime dir (at import); give it one, not a warning.
    runtime_dir = tmp_path_factory.mktemp("xdg")
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server
    server.cleanup()
    if previous is None:
        os.environ.pop("XDG_RUNTIME_DIR", None)
    else:
        os.environ["XDG_RUNTIME_DIR"] = previous


@pytest.fixture
def pg_url(pg_server: object, request: pytest.FixtureRequest) -> str:
    """A fresh database on the session's PostgreSQL, as a SQLAlchemy URL."""
    import re

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50]
    server: Any = pg_server
    server.psql(f"DROP DATABASE IF EXISTS {name};")
    server.psql(f"CREATE DATABASE {name};")
    uri = server.get_uri(name)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def _ingested(tmp_path: Path, make_runtime: object, **overrides: object) -> Runtime:
    from tests.kb import write_kb

    sources = write_kb(tmp_path / "kb")
    rt: Runtime = make_runtime(tmp_path / "home", **overrides)  # type: ignore[operator]
    import_directory(rt.store, tmp_path / "kb" / "directory.yaml")
    reports = sync(rt, load_sources(sources))
    assert all(r.status == "ok" for r in reports), [r.errors for r in reports]
    return rt


@pytest.fixture(params=["sqlite", "postgres"])
def engine_rt(request: pytest.FixtureRequest, tmp_path: Path, make_runtime: object) -> Runtime:
    """The test knowledge base ingested into each engine, through the same code path."""
    if request.param == "postgres":
        return _ingested(tmp_path, make_runtime, database_url=request.getfixturevalue("pg_url"))
    return _ingested(tmp_path, make_runtime)


@pytest.fixture
def pg_rt(pg_url: str, tmp_path: Path, make_runtime: object) -> Runtime:
    """The test knowledge base on PostgreSQL only (tests of that engine's own behaviour)."""
    return _ingested(tmp_path, make_runtime, database_url=pg_url)
