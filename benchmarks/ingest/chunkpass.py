"""Could the default ingestion skip the chunk's own encoder pass?

    python -m benchmarks.ingest.chunkpass DATASET_DIR [--distractors 1200]

With ``sentence_vectors: standalone`` every chunk costs one pass over "heading\\ntext" (its
vector) and one per sentence over "heading: sentence" (the sentence vectors). The chunk vector
could instead be read from the sentence passes: the mean of every sentence's token states in
its own pass, with the heading's tokens once. That saves the chunk pass. This script measures
what it would cost in retrieval: dense-only nDCG@10 on a BEIR dataset's test queries over its
relevant documents plus ``--distractors`` others (each abstract one chunk, its title the
heading), for the chunk-pass vector (the baseline: what ships) and the sentence-pass vector,
their mean cosine, and the tokens and seconds each way. Prints one JSON line.

Result (docs/benchmarks.md, 2026-12-02): the same SciFact quality and 1.41x less work, but on
Meridian the pipeline built that way (commit b111530, reverted) lost Meridian dev
retrieval_recall_at_5 (0.959 against 0.986), so chunks keep their own pass.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.machine import machine
from benchmarks.retrieval.bench import Qrels, load_jsonl, load_qrels, score
from steward.knowledge.chunking import split_sentences
from steward.models.embeddings import MiniLMEmbedder

F32 = npt.NDArray[np.float32]


def _unit(v: F32) -> F32:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _dense(queries: F32, docs: F32, qids: list[str], ids: list[str], qrels: Qrels) -> float:
    """nDCG@10 of ranking ``docs`` by cosine to each query (the retrieval harness's scorer)."""
    order = np.argsort(-(queries @ docs.T), axis=1)[:, :100]
    return score({q: [ids[j] for j in row] for q, row in zip(qids, order, strict=True)}, qrels)[
        "ndcg@10"
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    ap.add_argument("--distractors", type=int, default=1200)
    args = ap.parse_args(argv)
    try:
        corpus = {d["_id"]: d for d in load_jsonl(args.dataset / "corpus.jsonl")}
        queries = {q["_id"]: q["text"] for q in load_jsonl(args.dataset / "queries.jsonl")}
        qrels = load_qrels(args.dataset / "qrels" / "test.tsv")
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"error: {args.dataset} is not a readable BEIR folder ({exc})", file=sys.stderr)
        return 2
    relevant = sorted({c for v in qrels.values() for c in v if c in corpus})
    others = sorted(set(corpus) - set(relevant))
    ids = relevant + random.Random(0).sample(others, min(args.distractors, len(others)))

    emb = MiniLMEmbedder()
    emb.embed(["warm-up"])
    assert emb._run is not None  # the public API pools token states; this reads them raw
    run, tok = emb._run, emb._tokenizer

    def states(text: str) -> tuple[Any, F32, F32]:
        enc = tok.encode(text)
        ids_ = np.array([enc.ids], np.int64)
        vec, st = run(ids_, np.ones_like(ids_), True)
        assert st is not None
        return enc, vec[0], st[0]

    chunk_pass, sentence_pass = [], []
    secs = {"chunk_pass": 0.0, "sentence_passes": 0.0}
    tokens = {"chunk_pass": 0, "sentence_passes": 0}
    for c in ids:
        head, text = corpus[c]["title"], corpus[c]["text"]
        t0 = time.perf_counter()
        enc, vec, _ = states(f"{head}\n{text}")
        secs["chunk_pass"] += time.perf_counter() - t0
        tokens["chunk_pass"] += len(enc.ids)
        chunk_pass.append(vec)
        t0 = time.perf_counter()
        total, first = np.zeros(emb.dim, np.float32), True
        count = 0
        for a, b in split_sentences(text) or [(0, len(text))]:
            enc, _, st = states(f"{head}: {text[a:b]}")
            tokens["sentence_passes"] += len(enc.ids)
            off = np.asarray(enc.offsets)
            special = np.asarray(enc.special_tokens_mask) == 1
            keep = ~special & (off[:, 0] >= len(head) + 2)  # the sentence's own tokens
            if first:  # the heading (and [CLS]/[SEP]) once per chunk
                keep |= special | (off[:, 1] <= len(head))
                first = False
            total += st[keep].sum(axis=0)
            count += int(keep.sum())
        secs["sentence_passes"] += time.perf_counter() - t0
        sentence_pass.append(_unit((total / max(count, 1)).astype(np.float32)))

    qrels = {q: rel for q, rel in qrels.items() if q in queries}
    qids = sorted(qrels)
    qv = emb.embed([queries[q] for q in qids])
    base, alt = np.array(chunk_pass), np.array(sentence_pass)
    print(
        json.dumps(
            {
                "benchmark": "chunk vector from the sentence passes",
                "documents": len(ids),
                "queries": len(qids),
                "dense_ndcg10_sentence_passes": _dense(qv, alt, qids, ids, qrels),
                "baseline_dense_ndcg10_chunk_pass": _dense(qv, base, qids, ids, qrels),
                "mean_cosine_to_chunk_pass": round(float((base * alt).sum(axis=1).mean()), 4),
                "tokens": tokens,
                "seconds": {k: round(v, 1) for k, v in secs.items()},
                "standalone_speedup_if_chunk_pass_skipped": round(
                    sum(secs.values()) / secs["sentence_passes"], 2
                ),
                "machine": machine(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
