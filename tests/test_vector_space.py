"""The store knows which model made its vectors and which settings built its documents.

A question vector compared with another model's vectors ranks noise, so search refuses until
every document is re-embedded; the next sync does that (and rebuilds documents whose source
settings changed) without anyone deleting the store. Another runtime or precision of the same
model makes comparable vectors and costs nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from steward.core.errors import VectorSpaceError
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.models.embeddings import MiniLMEmbedder
from steward.pipeline.orchestrator import ask
from steward.retrieval.service import search
from steward.runtime import Runtime
from steward.store.models import Chunk, Document
from steward.web.app import create_app
from tests.conftest import LiveServer, run_cli, settings_for
from tests.kb import write_kb
from tests.test_api import assert_error, post_ask


@pytest.fixture
def kb(tmp_path: Path, make_runtime) -> tuple[Runtime, Path]:
    sources = write_kb(tmp_path / "kb")
    rt = make_runtime(tmp_path / "home")
    import_directory(rt.store, tmp_path / "kb" / "directory.yaml")
    reports = sync(rt, load_sources(sources))
    assert all(r.status == "ok" for r in reports)
    return rt, sources


def _chunks(rt: Runtime) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    with rt.store.read() as s:
        for doc_id, cid in s.execute(select(Document.doc_id, Chunk.id).join(Chunk)).all():
            out.setdefault(doc_id, []).append(cid)
    return out


def _sentence_vector_bytes(rt: Runtime, doc_id: str) -> int:
    with rt.store.read() as s:
        blobs = s.scalars(
            select(Chunk.sentence_vectors).join(Document).where(Document.doc_id == doc_id)
        )
        return sum(len(b) for b in blobs)


def _spaces(rt: Runtime) -> set[str]:
    with rt.store.read() as s:
        return {(m or {}).get("space", "") for m in s.scalars(select(Document.meta))}


def test_another_models_store_refuses_search_until_every_document_is_reembedded(
    kb, tmp_path: Path, make_runtime, model_cache: Path
) -> None:
    rt, sources = kb
    first_space = rt.vector_space
    assert rt.store.get_meta("vector_space") == first_space == rt.embedder.space  # type: ignore[attr-defined]
    cara = principal_for(rt.store, "cara")
    assert search(rt, cara, "international wire fee")
    before = _chunks(rt)

    other = make_runtime(tmp_path / "home", embedder_space="bank-embedder-v2")
    with pytest.raises(VectorSpaceError) as err:
        search(other, cara, "international wire fee")
    assert err.value.status == 503 and err.value.code == "embedder_mismatch"
    assert first_space in err.value.message and "bank-embedder-v2" in err.value.message
    with pytest.raises(VectorSpaceError):
        ask(other, cara, "How much does an international wire cost?")
    # Over HTTP: 503 with the one error shape.
    with LiveServer(create_app(other)) as server:
        resp = post_ask(server, create_key(other.store, "cara"), {"question": "Wire fee?"})
    body = assert_error(resp, 503, "embedder_mismatch")
    assert "steward ingest" in body["message"]
    # The CLI says the same in one line, exit 2, no traceback.
    cli = run_cli(
        "search",
        "--as",
        "cara",
        "international wire fee",
        home=tmp_path / "home",
        model_cache=model_cache,
        extra_env={"STEWARD_EMBEDDER_SPACE": "bank-embedder-v2"},
    )
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "bank-embedder-v2" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1

    # One source re-embedded: the store still mixes two models, so search still refuses.
    specs = load_sources(sources)
    (docs,) = sync(other, [s for s in specs if s.id == "docs"])
    assert docs.status == "ok" and docs.changed == docs.seen == 5 and docs.unchanged == 0
    assert _spaces(other) == {first_space, "bank-embedder-v2"}
    assert other.store.get_meta("vector_space") == first_space
    with pytest.raises(VectorSpaceError):
        search(other, cara, "international wire fee")

    # The rest: every document carries the new model's vectors and search answers again.
    version = other.store.kb_version()
    rest = sync(other, [s for s in specs if s.id != "docs"])
    assert all(r.status == "ok" and r.unchanged == 0 for r in rest)
    assert _spaces(other) == {"bank-embedder-v2"}
    assert other.store.get_meta("vector_space") == "bank-embedder-v2"
    assert other.store.kb_version() > version  # cached answers of the old vectors are gone
    fresh = make_runtime(tmp_path / "home", embedder_space="bank-embedder-v2")
    assert search(fresh, cara, "international wire fee")
    assert set(_chunks(fresh)) == set(before)
    assert not set(_chunks(fresh)["pub-fees"]) & set(before["pub-fees"])  # rebuilt
    # ... and now the old embedder is the one refused.
    with pytest.raises(VectorSpaceError):
        search(make_runtime(tmp_path / "home"), cara, "international wire fee")
    # A third sync has nothing left to do.
    assert all(r.unchanged == r.seen for r in sync(fresh, load_sources(sources)))


def test_changed_source_settings_rebuild_its_documents_and_search_goes_on(kb) -> None:
    rt, sources = kb
    before = _chunks(rt)
    text = sources.read_text()
    # Search-only vectors for `docs`, a lower authority for `faq`: no document changed.
    text = text.replace("    path: docs\n", "    path: docs\n    sentence_vectors: none\n")
    text = text.replace("    faq: true\n", "    faq: true\n    authority: 0.5\n")
    sources.write_text(text)
    assert _sentence_vector_bytes(rt, "pub-fees") > 0
    reports = {r.source_id: r for r in sync(rt, load_sources(sources))}
    assert reports["docs"].changed == 5 and reports["docs"].unchanged == 0
    assert reports["faq"].changed == 2 and reports["tickets"].unchanged == 2
    after = _chunks(rt)
    # `docs` rebuilt the new way (new chunks, no sentence vectors); FAQ rows keep their
    # chunks: authority is metadata, updated in place, nothing re-embedded.
    assert not set(after["pub-fees"]) & set(before["pub-fees"])
    assert _sentence_vector_bytes(rt, "pub-fees") == 0
    assert after["faq:faq-1"] == before["faq:faq-1"]
    with rt.store.read() as s:
        faq = s.scalars(select(Document).where(Document.doc_id == "faq:faq-1")).one()
        assert faq.meta["authority"] == 0.5
    assert search(rt, principal_for(rt.store, "cara"), "international wire fee")
    assert all(r.unchanged == r.seen for r in sync(rt, load_sources(sources)))


def test_another_runtime_or_precision_of_the_same_model_keeps_the_store(
    kb, tmp_path: Path, model_cache: Path
) -> None:
    """fp32 against the int8 store: the same weights, comparable vectors (cosine >= 0.99):
    no refusal, nothing re-embedded."""
    rt, sources = kb
    fp32 = MiniLMEmbedder(cache_dir=model_cache, quantize="none", runtime="onnxruntime")
    assert fp32.model_id != rt.embedder.model_id and fp32.space == rt.vector_space
    other = Runtime(settings_for(tmp_path / "home", model_cache), embedder=fp32)
    try:
        hits = search(other, principal_for(rt.store, "cara"), "international wire fee")
        assert (
            hits
            and hits[0].doc_id
            == search(rt, principal_for(rt.store, "cara"), "international wire fee")[0].doc_id
        )
        assert all(r.unchanged == r.seen for r in sync(other, load_sources(sources)))
    finally:
        other.close()
