"""Retrieval options: search modes on the CLI, the BEIR harness setup, chunk-only sources,
and the int8 embedder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from steward.core.errors import EmbedderError
from steward.identity.auth import principal_for
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.models.embeddings import MiniLMEmbedder, embed_with_spans
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
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


def docs_synced_with(make_runtime, tmp_path: Path, option: str, mode: str) -> tuple[Runtime, list]:
    """The test knowledge base with `sentence_vectors: <option>` on its docs source, synced;
    returns the runtime and each pub-fees chunk as (heading, text, sentences, vectors blob)."""
    from sqlalchemy import select

    from steward.identity.directory import import_directory
    from steward.store.models import Chunk, Document
    from tests.kb import write_kb

    sources = write_kb(tmp_path / "kb")
    sources.write_text(
        sources.read_text().replace(
            "connector: folder", f"connector: folder\n    sentence_vectors: {option}", 1
        )
    )
    rt = make_runtime(tmp_path / "home")
    import_directory(rt.store, tmp_path / "kb" / "directory.yaml")
    spec = [s for s in load_sources(sources) if s.id == "docs"]
    assert spec[0].sentence_vectors == mode
    sync(rt, spec)
    with rt.store.read() as s:
        rows = list(
            s.execute(
                select(Chunk.heading, Chunk.text, Chunk.sentences, Chunk.sentence_vectors)
                .join(Document)
                .where(Document.doc_id == "pub-fees")
            )
        )
    r = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    assert r.action == "answer" and "$45" in r.answer
    assert r.citations[0].doc_id == "pub-fees"
    return rt, rows


def test_chunk_only_source_still_answers_with_cited_sentences(make_runtime, tmp_path: Path) -> None:
    """`sentence_vectors: false` (the earlier yes/no form of `none`) skips sentence embedding at
    ingestion; answering embeds the sentences of the chunks it uses, so answers keep their
    quality (checked in docs_synced_with)."""
    _, rows = docs_synced_with(make_runtime, tmp_path, "false", "none")
    assert rows and all(blob == b"" for *_, blob in rows)


def test_pooled_sentence_vectors_answer_and_are_not_standalone(
    make_runtime, tmp_path: Path
) -> None:
    """`sentence_vectors: pooled` stores one vector per sentence, read from the chunk's own pass
    (so not the standalone vector of that sentence), and answers with the right sentence."""
    rt, rows = docs_synced_with(make_runtime, tmp_path, "pooled", "pooled")
    heading, text, sentences, blob = max(rows, key=lambda r: len(r[2]))
    stored = np.frombuffer(blob, np.float16).astype(np.float32).reshape(len(sentences), -1)
    alone = rt.embedder.embed([f"{heading}: {text[a:b]}" for a, b in sentences])
    cos = (stored * alone).sum(axis=1)
    assert len(stored) == len(sentences) > 1
    assert (cos < 0.995).all() and (cos > 0.3).all(), cos


ENCODER_TEXTS = [
    "How much does an international wire transfer cost?",
    "Worker bees communicate the direction of nectar with a waggle dance.",
    "Glacier retreat exposes bare rock that lichens colonise first.",
]


@pytest.mark.parametrize(
    ("runtime", "quantize", "floor"), [("onnxruntime", "int8", 0.98), ("openvino", "none", 0.999)]
)
def test_fast_encoders_stay_close_to_fp32(
    model_cache: Path, runtime: str, quantize: str, floor: float
) -> None:
    """int8 weights on onnxruntime and bfloat16 (or fp32) on OpenVINO give the fp32 vectors."""
    fp32 = MiniLMEmbedder(cache_dir=model_cache, quantize="none", runtime="onnxruntime")
    fast = MiniLMEmbedder(cache_dir=model_cache, quantize=quantize, runtime=runtime)
    assert fast.runtime == runtime and fast.model_id != fp32.model_id  # the audit tells them apart
    a, b = fast.embed(ENCODER_TEXTS), fp32.embed(ENCODER_TEXTS)
    cos = (a * b).sum(axis=1)
    assert cos.min() > floor, cos
    # Still a useful encoder: each text is nearest to itself across the two.
    assert (np.argmax(a @ b.T, axis=1) == np.arange(3)).all()


def test_unknown_embedder_runtime_is_a_clear_error(model_cache: Path) -> None:
    with pytest.raises(EmbedderError, match=r"tensorflow.*auto, onnxruntime, openvino"):
        MiniLMEmbedder(cache_dir=model_cache, runtime="tensorflow")


def test_a_vector_does_not_depend_on_its_batch(model_cache: Path) -> None:
    """The same text gets the same vector whatever else is embedded with it (onnxruntime's
    dynamic int8 scales activations per run, so batch-mates would move it): a re-ingested chunk
    keeps its vector, and an audit replay embeds the question exactly as asked."""
    emb = MiniLMEmbedder(cache_dir=model_cache, runtime="onnxruntime")
    texts = [
        "An international wire costs $45.",
        "Worker bees communicate the direction of nectar with a waggle dance " * 12,
        "Call 1-800-555-0134 to report a lost card.",
    ]
    together = emb.embed(texts)
    for i, t in enumerate(texts):
        assert np.array_equal(together[i], emb.embed([t])[0])
    assert np.array_equal(emb.embed(texts[::-1])[::-1], together)


def test_pooled_spans_come_from_the_texts_own_pass(model_cache: Path) -> None:
    """A span's vector is read from the whole text's pass (so it differs from the span embedded
    alone, yet stays close to it); spans past the truncation are read in a pass over the rest of
    the text with its heading in front; a span longer than one pass is embedded on its own."""
    emb = MiniLMEmbedder(cache_dir=model_cache, max_tokens=24, runtime="onnxruntime")
    head = "Fees > Wires"
    first = "An international wire costs $45 and a domestic wire costs $25."
    last = "Worker bees communicate the direction of nectar with a waggle dance."
    text = f"{head}\n{first} {last}"
    a = len(head) + 1
    spans = [(a, a + len(first)), (a + len(first) + 1, len(text))]
    alone = [f"{head}: {first}", f"{head}: {last}"]
    vecs, sents = embed_with_spans(emb, [text], [spans], [alone])
    own = np.vstack([emb.embed([t]) for t in [*alone, text]])
    assert np.allclose(vecs[0], own[2], atol=1e-5)
    assert sents[0].shape == (2, emb.dim)
    assert 0.5 < float(sents[0][0] @ own[0]) < 0.999  # pooled in context, not the same text
    # 24 tokens end inside the second sentence: it is read from "heading\nsecond sentence"
    tail = f"{head}\n{last}"
    again = emb.embed_spans([tail], [[(a, len(tail))]])[1][0][0]
    assert again is not None and np.allclose(sents[0][1], again, atol=1e-5)
    # a sentence longer than a whole pass (8 tokens) falls back to its standalone text
    short = MiniLMEmbedder(cache_dir=model_cache, max_tokens=8, runtime="onnxruntime")
    _, one = embed_with_spans(short, [text], [spans[1:]], [alone[1:]])
    assert np.allclose(one[0][0], short.embed([alone[1]])[0], atol=1e-5)


def test_words_with_accents_are_searched_whole_and_match_the_index() -> None:
    """The eighth review's third look: "póliza" was searched as "liza" and "daños" as "da",
    "os". Words of any Latin-script language are kept whole, without their accents, as the
    full-text index stores them (FTS5 ``remove_diacritics``); English questions read as before."""
    import sqlite3

    from steward.retrieval.search import query_terms

    terms = query_terms("¿La póliza de hogar cubre daños por agua?")
    assert "poliza" in terms and "danos" in terms and "liza" not in terms
    assert query_terms("Was kostet die Überweisung?")[-1] == "uberweisung"
    assert query_terms("How much is a $25 wire for U.S. follow-up?") == ["25", "wire", "follow"]
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute("INSERT INTO t VALUES ('La póliza de hogar cubre los daños por agua.')")
    for term in ("poliza", "danos"):
        assert db.execute("SELECT count(*) FROM t WHERE t MATCH ?", [f'"{term}"']).fetchone()[0]
