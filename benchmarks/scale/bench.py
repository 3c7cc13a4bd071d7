"""How retrieval cost grows with the corpus: 10k, 100k, 1M chunks on the embedded engine.

    python -m benchmarks.scale.bench --sizes 10000,100000,1000000 [--dir DIR] [--engine sqlite]

For each size a fresh store is filled with a synthetic corpus (benchmarks/scale/gen.py) through
the engine's own index (`SearchIndex.add`, the call ingestion makes) with precomputed vectors,
so the build rate is ingestion with embedding excluded (embedding is measured on real text by
benchmarks/ingest). Then, per permission filter (the asker's groups keep ~1%, ~10%, 100% of
chunks): hybrid search latency p50/p95/p99 over fresh queries (lexical + dense + fusion; the
query embedding, ~3 ms, is not included), and queries/s with two worker processes (2 cores).
Also the index size on disk and the resident memory of a searching process. One JSON line per
size, then a summary line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy import text as sql

from benchmarks.machine import machine
from benchmarks.scale.gen import CHUNKS_PER_DOC, DIM, Corpus
from steward.retrieval.search import Filter, HybridSearch, SearchIndex, allowed_acl_ids
from steward.store import Store
from steward.store.db import open_store
from steward.store.models import AclSet, Chunk, Document, Source

FILTERS = (0.01, 0.10, 1.0)
BATCH = 5000


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


COMMON_WORD_SHARE = 0.05  # PostgreSQL engine's common-terms cutoff (--pg-common-word-share)


def open_engine(url: str) -> tuple[Store, SearchIndex]:
    store = open_store(url)
    if store.dialect == "sqlite":
        from steward.retrieval.sqlite import SqliteIndex

        return store, SqliteIndex(store, DIM)
    from steward.retrieval.postgres import PostgresIndex

    return store, PostgresIndex(store, DIM, match_share=COMMON_WORD_SHARE)


def build(
    url: str, corpus: Corpus, n: int, bulk: bool = False, memory: str = "4GB"
) -> dict[str, Any]:
    """Load ``n`` chunks; with ``bulk`` inside the engine's ``bulk()`` (what
    `steward ingest --bulk` does: PostgreSQL builds its indexes once, at the end)."""
    store, index = open_engine(url)
    from steward.retrieval.postgres import PostgresIndex

    deferred: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if bulk:
        deferred = index.bulk(memory=memory) if isinstance(index, PostgresIndex) else index.bulk()
    with deferred:
        started = _load(store, index, corpus, n)
    took = time.perf_counter() - started
    out: dict[str, Any] = {"build_s": round(took, 1), "build_chunks_per_s": round(n / took)}
    if store.dialect == "postgresql":
        with store.read() as s:
            size = s.execute(sql("SELECT pg_database_size(current_database())")).scalar()
        out["disk_mib"] = round(int(size or 0) / 2**20, 1)
    store.dispose()
    return out


def _load(store: Store, index: SearchIndex, corpus: Corpus, n: int) -> float:
    """Write the corpus; returns the perf_counter reading at the start."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    with store.write() as (s, _events):
        s.add(Source(id="synthetic", kind="synthetic", config={}, created_at=now))
        for i, name in enumerate(corpus.groups):
            s.add(AclSet(id=i + 1, groups_key=name, groups=[name]))
    chunks: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    fts: list[tuple[int, str, str, str]] = []
    group = 0
    empty = b""

    def flush() -> None:
        with store.write() as (s, _events):
            if docs:
                s.execute(insert(Document), docs)
            s.execute(insert(Chunk), chunks)
            index.add(s, fts)
        docs.clear()
        chunks.clear()
        fts.clear()

    for cid, (doc, g, title, text, vec) in enumerate(corpus.chunks(n), 1):
        if g >= 0:
            group = g
            docs.append(
                dict(
                    id=doc + 1,
                    source_id="synthetic",
                    doc_id=f"syn-{doc}",
                    title=title,
                    version="v1",
                    sensitivity="internal",
                    acl_set_id=group + 1,
                    is_current=True,
                    meta={},
                    ingested_at=now,
                )
            )
        chunks.append(
            dict(
                id=cid,
                document_id=doc + 1,
                ordinal=(cid - 1) % CHUNKS_PER_DOC,
                heading=title,
                text=text,
                acl_set_id=group + 1,
                is_current=True,
                center=None,
                quarantined=False,
                embedding=vec.tobytes(),
                heading_vector=empty,
                sentences=[],
                sentence_vectors=empty,
            )
        )
        fts.append((cid, title, title, text))
        if len(chunks) >= BATCH:
            flush()
    if chunks:
        flush()
    with store.write() as (s, _events):
        Store.bump_kb_version(s)
    return started


def disk_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def _queries(corpus: Corpus, seed: int, count: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [corpus.query(rng) for _ in range(count)]


def _filter(store: Store, corpus: Corpus, frac: float) -> tuple[Filter, float]:
    groups = frozenset(corpus.filter_groups(frac))
    with store.read() as s:
        acl = allowed_acl_ids(s, groups)
    flt = Filter(acl, None, store.kb_version())
    from sqlalchemy import func, select

    with store.read() as s:
        total = s.execute(select(func.count()).select_from(Chunk)).scalar() or 1
        kept = (
            s.execute(
                select(func.count()).select_from(Chunk).where(Chunk.acl_set_id.in_(acl))
            ).scalar()
            or 0
        )
    return flt, kept / total


def latency(url: str, corpus: Corpus, count: int) -> dict[str, Any]:
    store, index = open_engine(url)
    search = HybridSearch(store, index)
    out: dict[str, Any] = {}
    flt_all, _ = _filter(store, corpus, 1.0)
    started = time.perf_counter()
    q, v = corpus.query(np.random.default_rng(1))
    search.search(q, v, flt_all, 10)  # loads the dense matrix
    out["cold_start_s"] = round(time.perf_counter() - started, 2)
    for frac in FILTERS:
        flt, kept = _filter(store, corpus, frac)
        times = []
        for q, v in _queries(corpus, int(frac * 1000) + 2, count):
            t0 = time.perf_counter()
            hits = search.search(q, v, flt, 10)
            times.append((time.perf_counter() - t0) * 1000)
            assert hits, "a query over permitted chunks found nothing"
        ms = np.array(times)
        out[f"filter_{int(frac * 100)}pct"] = {
            "kept": round(kept, 4),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
        }
    out["rss_mib"] = round(rss_mib())
    store.dispose()
    return out


def _worker(args: tuple[str, int, float, float]) -> int:
    url, seed, frac, seconds = args
    corpus = Corpus()
    store, index = open_engine(url)
    search = HybridSearch(store, index)
    flt, _ = _filter(store, corpus, frac)
    qs = _queries(corpus, 100 + seed, 400)
    search.search(qs[0][0], qs[0][1], flt, 10)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        q, v = qs[done % len(qs)]
        search.search(q, v, flt, 10)
        done += 1
    store.dispose()
    return done


def qps(url: str, frac: float, seconds: float = 10.0, workers: int = 2) -> float:
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        counts = pool.map(_worker, [(url, i, frac, seconds) for i in range(workers)])
    return round(sum(counts) / seconds, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/steward-scale"))
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument(
        "--pg-url",
        help="PostgreSQL URL for --engine postgres (default: a pgserver instance under --dir)",
    )
    ap.add_argument("--keep", action="store_true", help="Keep the stores.")
    ap.add_argument(
        "--bulk",
        action="store_true",
        help="Load as `steward ingest --bulk` does (PostgreSQL: indexes built once at the end).",
    )
    ap.add_argument("--bulk-memory", default="4GB", help="maintenance_work_mem for --bulk.")
    ap.add_argument(
        "--pg-common-word-share",
        type=float,
        default=0.05,
        help="PostgreSQL: share of chunks above which a word only scores (1.0: every word "
        "finds rows, as before 2026-12-02).",
    )
    args = ap.parse_args(argv)
    global COMMON_WORD_SHARE  # read by open_engine in this process and its forked workers
    COMMON_WORD_SHARE = args.pg_common_word_share
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
    except ValueError:
        print("error: --sizes takes numbers separated by commas", file=sys.stderr)
        return 2
    server = None
    corpus = Corpus()
    rows = []
    for n in sizes:
        where = args.dir / f"{args.engine}-{n}"
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        if args.engine == "postgres":
            if args.pg_url is None:
                import pgserver

                server = server or pgserver.get_server(
                    str(args.dir / "pgdata"), cleanup_mode="stop"
                )
                server.psql(f"DROP DATABASE IF EXISTS scale_{n};")
                server.psql(f"CREATE DATABASE scale_{n};")
                url = server.get_uri(f"scale_{n}").replace(
                    "postgresql://", "postgresql+psycopg://", 1
                )
            else:
                url = args.pg_url
        else:
            url = f"sqlite:///{where}/steward.db"
        row: dict[str, Any] = {"benchmark": "scale", "engine": args.engine, "chunks": n}
        row.update(build(url, corpus, n, args.bulk, args.bulk_memory))
        row["bulk"] = args.bulk
        if args.engine == "postgres":
            row["pg_common_word_share"] = args.pg_common_word_share
        if args.engine == "sqlite":
            row["disk_mib"] = disk_mib(where)
        row.update(latency(url, corpus, args.queries))
        row["qps_2proc_filter_10pct"] = qps(url, 0.10)
        row["machine"] = machine()
        print(json.dumps(row), flush=True)
        rows.append(row)
        if not args.keep and args.engine == "sqlite":
            shutil.rmtree(where, ignore_errors=True)
    if server is not None:
        server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
