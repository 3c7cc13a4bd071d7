"""Ingestion throughput on real text through the real pipeline (connector, PII masking,
injection scan, chunking, embedding, both indexes).

    python -m benchmarks.ingest.bench DATASET_DIR [--limit 1000]

DATASET_DIR is a BEIR folder (../shared/data/scifact: scientific abstracts of ~200 words; one
longer than `chunk_words` splits between sentences, so words/s is the comparable figure). Runs
`Syncer` in process on a fresh SQLite store once per `sentence_vectors` mode (standalone, the
default; pooled; none) on the default embedder runtime (`auto`), and once (standalone) on
onnxruntime int8, the baseline. Each run shows chunks/s and words/s end to end and the share of
that time the embedder was busy (it works beside the reading, masking and writing, so the rest
of the pipeline costs only where it is not hidden; chunks/s with embedding excluded is in
benchmarks.scale). Prints one JSON line, with a plain batch-embedding rate of the same chunks
per runtime.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.machine import machine
from steward.config.settings import Settings
from steward.knowledge.pipeline import Syncer
from steward.knowledge.sources import SourceSpec
from steward.models.embeddings import Embedder, SpanEmbedder, Vectors
from steward.runtime import Runtime

T = TypeVar("T")


class TimedEmbedder:
    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.seconds = 0.0
        self.texts = 0

    def _timed(self, call: Callable[[], T], texts: int) -> T:
        t0 = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds += time.perf_counter() - t0
            self.texts += texts

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self._timed(lambda: self.inner.embed(texts), len(texts))

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[Vectors, list[list[Vectors | None]]]:
        inner = self.inner
        assert isinstance(inner, SpanEmbedder)
        return self._timed(lambda: inner.embed_spans(texts, spans), len(texts))


def run(corpus: Path, home: Path, inner: Embedder, sentence_vectors: str) -> dict[str, Any]:
    home.mkdir(parents=True)
    (home / "directory.yaml").write_text(
        "groups: [{id: public, name: Public}]\nusers: [{id: bench, groups: [public]}]\n"
    )
    timed = TimedEmbedder(inner)
    rt = Runtime(Settings(home=home), embedder=timed)
    from steward.identity.directory import import_directory

    import_directory(rt.store, home / "directory.yaml")
    spec = SourceSpec.model_validate(
        {
            "id": "bench",
            "connector": "jsonl",
            "path": str(corpus),
            "id_field": "_id",
            "title_field": "title",
            "text_fields": ["text"],
            "field_labels": False,
            "acl_field": None,
            "acl_default": ["public"],
            "sentence_vectors": sentence_vectors,
        }
    )
    t0 = time.perf_counter()
    report = Syncer(rt, spec).run()
    total = time.perf_counter() - t0
    from sqlalchemy import func, select

    from steward.store.models import Chunk

    with rt.store.read() as s:
        chunks = int(s.execute(select(func.count()).select_from(Chunk)).scalar() or 0)
        words = [len(t.split()) for t in s.scalars(select(Chunk.text))]
    rt.store.dispose()
    return {
        "documents": report.added,
        "chunks": chunks,
        "words_per_chunk": round(sum(words) / max(len(words), 1)),
        "seconds": round(total, 1),
        "chunks_per_s": round(chunks / total, 1),
        # comparable across chunk sizes: 60 chunks/s of 200 words is 12,000 words/s
        "words_per_s": round(sum(words) / total),
        # busy time of the embedder, which runs beside the reading, masking and writing
        "embed_s": round(timed.seconds, 1),
        "texts_embedded": timed.texts,
        "embedder_busy_share": round(timed.seconds / total, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--limit", type=int, default=1000, help="Records to ingest (first N).")
    ap.add_argument(
        "--runtimes",
        default="auto,onnxruntime",
        help="Embedder runtimes: the first runs every mode, the others (the baseline) standalone.",
    )
    ap.add_argument("--modes", default="standalone,pooled,none", help="sentence_vectors modes.")
    args = ap.parse_args(argv)
    source = args.dataset / "corpus.jsonl"
    if not source.exists():
        print(f"error: no corpus.jsonl in {args.dataset}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="steward-ingest-"))
    lines = source.read_text(encoding="utf-8").splitlines()[: args.limit]
    sample = work / "corpus.jsonl"
    sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
    texts = [f"{r['title']}\n{r['text']}" for r in (json.loads(line) for line in lines[:300])]
    result: dict[str, Any] = {"benchmark": "ingest"}
    for runtime in args.runtimes.split(","):
        inner = Runtime(Settings(home=work / "models", embedder_runtime=runtime)).embedder
        inner.embed(texts[:16])  # load the model
        t0 = time.perf_counter()
        inner.embed(texts)
        plain = len(texts) / (time.perf_counter() - t0)
        modes = args.modes.split(",") if runtime == args.runtimes.split(",")[0] else ["standalone"]
        result[runtime] = {
            "embedder": inner.model_id,
            "plain_embedding_texts_per_s": round(plain, 1),
            **{m: run(sample, work / f"{runtime}-{m}", inner, m) for m in modes},
        }
    result["machine"] = machine()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
