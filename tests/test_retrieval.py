"""Retrieval options: search modes on the CLI, the BEIR harness setup, chunk-only sources,
and the int8 embedder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from steward.embeddings import MiniLMEmbedder
from steward.identity import principal_for
from steward.ingest.pipeline import sync
from steward.ingest.sources import load_sources
from steward.orchestrator import ask
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent

CORPUS = [
    {
        "_id": "d1",
        "title": "Tidal energy",
        "text": "Tidal turbines convert the kinetic energy "
        "of moving sea water into electricity. Output follows the lunar cycle.",
    },
    {
        "_id": "d2",
        "title": "Honey bees",
        "text": "Worker bees communicate the direction of "
        "nectar with a waggle dance. The angle of the dance encodes the sun's bearing.",
    },
    {
        "_id": "d3",
        "title": "Glaciers",
        "text": "Glacier retreat exposes bare rock that "
        "lichens colonise first. Mosses follow within decades.",
    },
]


def beir_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in CORPUS))
    (root / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "how do bees share where food is"}\n'
    )
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    return root


def test_beir_setup_and_batch_search_in_every_mode(tmp_path: Path, model_cache: Path) -> None:
    dataset = beir_folder(tmp_path / "beir")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_HOME=str(home), STEWARD_MODEL_CACHE=str(model_cache))
    done = subprocess.run(
        [str(ROOT / "benchmarks" / "retrieval" / "setup"), str(dataset)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        '{"id": "q1", "user": "bench", "query": "how do bees share where food is", "k": 3}\n'
        '{"id": "q2", "user": "bench", "query": "electricity from the sea", "k": 2}\n'
        '{"id": "q3", "user": "stranger", "query": "bees", "k": 2}\n'
    )
    for mode in ("lexical", "dense", "hybrid"):
        r = run_cli(
            "search",
            "--batch",
            str(batch),
            "--json",
            "--mode",
            mode,
            home=home,
            model_cache=model_cache,
        )
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert [row["id"] for row in rows] == ["q1", "q2", "q3"]
        assert rows[0]["hits"][0]["doc_id"] == "d2", (mode, rows[0])
        assert rows[1]["hits"][0]["doc_id"] == "d1", (mode, rows[1])
        assert len(rows[1]["hits"]) <= 2
        scores = [h["score"] for h in rows[0]["hits"]]
        assert scores == sorted(scores, reverse=True)
        assert rows[2]["hits"] is None and rows[2]["error"]["code"]  # unknown user, line kept
        assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_unknown_search_mode_is_a_clear_cli_error(kb_home: Path, model_cache: Path) -> None:
    r = run_cli(
        "search", "--as", "cara", "fee", "--mode", "fuzzy", home=kb_home, model_cache=model_cache
    )
    assert r.returncode == 2
    assert "fuzzy" in r.stderr and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_chunk_only_source_still_answers_with_cited_sentences(make_runtime, tmp_path: Path) -> None:
    """`sentence_vectors: false` skips sentence embedding at ingestion; answering embeds the
    sentences of the chunks it uses, so answers keep their quality."""
    from sqlalchemy import select

    from steward.directory import import_directory
    from steward.store.models import Chunk, Document
    from tests.kb import write_kb

    sources = write_kb(tmp_path / "kb")
    sources.write_text(
        sources.read_text().replace(
            "connector: folder", "connector: folder\n    sentence_vectors: false", 1
        )
    )
    rt = make_runtime(tmp_path / "home")
    import_directory(rt.store, tmp_path / "kb" / "directory.yaml")
    spec = [s for s in load_sources(sources) if s.id == "docs"]
    assert spec[0].sentence_vectors is False
    sync(rt, spec)
    with rt.store.read() as s:
        blobs = list(
            s.scalars(
                select(Chunk.sentence_vectors).join(Document).where(Document.doc_id == "pub-fees")
            )
        )
    assert blobs and all(b == b"" for b in blobs)
    r = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    assert r.action == "answer" and "$45" in r.answer
    assert r.citations[0].doc_id == "pub-fees"


def test_int8_encoder_stays_close_to_fp32(model_cache: Path, embedder: MiniLMEmbedder) -> None:
    texts = [
        "How much does an international wire transfer cost?",
        "Worker bees communicate the direction of nectar with a waggle dance.",
        "Glacier retreat exposes bare rock that lichens colonise first.",
    ]
    fp32 = MiniLMEmbedder(cache_dir=model_cache, quantize="none")
    assert embedder.quantize == "int8" and embedder.model_id != fp32.model_id
    a, b = embedder.embed(texts), fp32.embed(texts)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.98, cos
    # Still a useful encoder: each text is nearest to itself across the two.
    assert (np.argmax(a @ b.T, axis=1) == np.arange(3)).all()
