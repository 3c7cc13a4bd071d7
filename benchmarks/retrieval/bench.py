"""Retrieval quality on a BEIR dataset through Steward's own ingestion and search paths.

    python -m benchmarks.retrieval.bench DATASET_DIR [--engine sqlite|postgres|both]

For each engine: a fresh store is built by ``benchmarks/retrieval/setup DATASET_DIR`` (the real
``steward ingest``), then every test query goes through ``steward search --batch --json`` once
per mode (lexical, dense, hybrid, hybrid + rerank). Chunk hits become a document ranking (a
document ranks where its best chunk does). Beside them: BM25 from the independent ``bm25s``
library over the same corpus, measured in the same run, and the published figures of the
dataset's SOURCE.md. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.machine import machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STEWARD = str(ROOT / ".venv" / "bin" / "steward")
MODES = ("lexical", "dense", "hybrid", "hybrid+rerank")

# nDCG@10 on SciFact's 300 test queries, from ../shared/data/scifact/SOURCE.md.
PUBLISHED = {
    "scifact": {
        "bm25 (BEIR paper, Elasticsearch)": 0.665,
        "bm25 (MTEB/bm25s)": 0.679,
        "all-MiniLM-L6-v2 dense": 0.645,
        "bge-small-en-v1.5 dense": 0.713,
    }
}

Qrels = dict[str, dict[str, int]]


def load_qrels(path: Path) -> Qrels:
    out: Qrels = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if n == 0 and not parts[-1].strip().isdigit():
            continue  # header
        qid, did, score = parts[0], parts[1], int(parts[2])
        if score > 0:
            out.setdefault(qid, {})[did] = score
    return out


def load_jsonl(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def ndcg_at(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    dcg = sum(
        (2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel
    )
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], rel: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(rel)) / len(rel)


def mrr_at(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if d in rel:
            return 1.0 / (i + 1)
    return 0.0


def score(runs: dict[str, list[str]], qrels: Qrels) -> dict[str, float]:
    qids = sorted(qrels)
    n = len(qids)
    return {
        "ndcg@10": round(sum(ndcg_at(runs.get(q, []), qrels[q]) for q in qids) / n, 4),
        "recall@100": round(sum(recall_at(runs.get(q, []), qrels[q]) for q in qids) / n, 4),
        "mrr@10": round(sum(mrr_at(runs.get(q, []), qrels[q]) for q in qids) / n, 4),
    }


def doc_ranking(hits: list[dict[str, object]]) -> list[str]:
    """Chunk hits (best first) to documents in order of their best chunk."""
    return list(dict.fromkeys(str(h["doc_id"]) for h in hits))


def steward_search(
    env: dict[str, str], batch: Path, mode: str
) -> tuple[dict[str, list[str]], float]:
    args = [STEWARD, "search", "--batch", str(batch), "--json"]
    if mode == "hybrid+rerank":
        args += ["--mode", "hybrid", "--rerank"]
    else:
        args += ["--mode", mode]
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"steward search failed ({mode}): {done.stderr.strip()[-500:]}")
    runs: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        runs[str(row["id"])] = doc_ranking(row["hits"])
    return runs, elapsed


def bm25s_baseline(dataset: Path, queries: dict[str, str], qrels: Qrels) -> dict[str, float]:
    """BM25 from the independent bm25s library: Lucene variant, k1=1.2, b=0.75, English stop
    words and Snowball stemming, title + text (as BEIR indexes them)."""
    import bm25s
    import snowballstemmer  # type: ignore[import-untyped]

    stemmer = snowballstemmer.stemmer("english")
    ids, texts = [], []
    for row in load_jsonl(dataset / "corpus.jsonl"):
        ids.append(str(row["_id"]))
        texts.append(f"{row.get('title', '')} {row.get('text', '')}")
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    qids = sorted(qrels)
    tokens = bm25s.tokenize(
        [queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    docs, _ = retriever.retrieve(tokens, k=100, show_progress=False, n_threads=1)
    runs = {q: [ids[int(i)] for i in docs[n]] for n, q in enumerate(qids)}
    return score(runs, qrels)


@contextmanager
def engine_env(engine: str, home: Path, fresh: bool = True) -> Iterator[dict[str, str]]:
    env = dict(os.environ, STEWARD_HOME=str(home / engine))
    env.pop("STEWARD_DATABASE_URL", None)
    if engine == "sqlite":
        yield env
        return
    import pgserver

    server = pgserver.get_server(str(home / "pgdata"), cleanup_mode="stop")
    try:
        if fresh:
            server.psql("DROP DATABASE IF EXISTS steward_bench;")
            server.psql("CREATE DATABASE steward_bench;")
        uri = server.get_uri("steward_bench").replace("postgresql://", "postgresql+psycopg://", 1)
        env["STEWARD_DATABASE_URL"] = uri
        yield env
    finally:
        server.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--home", type=Path, help="Keep the stores here (default: a temp dir).")
    ap.add_argument("--reuse", action="store_true", help="Search existing stores in --home.")
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args(argv)
    dataset: Path = args.dataset.resolve()
    qrels_path = dataset / "qrels" / f"{args.split}.tsv"
    if not (dataset / "corpus.jsonl").exists() or not qrels_path.exists():
        print(f"error: {dataset} is not a BEIR folder with qrels/{args.split}.tsv", file=sys.stderr)
        return 2
    qrels = load_qrels(qrels_path)
    queries = {str(r["_id"]): str(r["text"]) for r in load_jsonl(dataset / "queries.jsonl")}
    qrels = {q: r for q, r in qrels.items() if q in queries}
    home = args.home or Path(tempfile.mkdtemp(prefix="steward-retrieval-"))
    home.mkdir(parents=True, exist_ok=True)
    batch = home / "queries.jsonl"
    batch.write_text(
        "".join(
            json.dumps({"id": q, "user": "bench", "query": queries[q], "k": 100}) + "\n"
            for q in sorted(qrels)
        ),
        encoding="utf-8",
    )
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    result: dict[str, object] = {
        "benchmark": "retrieval",
        "dataset": dataset.name,
        "split": args.split,
        "queries": len(qrels),
        "metric": "ndcg@10 (recall@100, mrr@10 beside it); documents ranked by their best chunk",
    }
    for engine in engines:
        with engine_env(engine, home, fresh=not args.reuse) as env:
            out: dict[str, object] = {}
            if not args.reuse:
                started = time.perf_counter()
                subprocess.run(
                    [str(HERE / "setup"), str(dataset)],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                out["ingest_s"] = round(time.perf_counter() - started, 1)
            for mode in args.modes.split(","):
                runs, elapsed = steward_search(env, batch, mode)
                out[mode] = {**score(runs, qrels), "batch_s": round(elapsed, 1)}
            result[engine] = out
    result["baseline"] = {"bm25s": bm25s_baseline(dataset, queries, qrels)}
    result["published_ndcg@10"] = PUBLISHED.get(dataset.name, {})
    result["machine"] = machine()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
