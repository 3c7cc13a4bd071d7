"""Per-request cost of the telemetry (Prometheus metrics; tracing off, as by default): the same
requests through the same ASGI app in process, with the instrumentation on and off.

Two loops on the bundled demo store: ``GET /healthz`` (the HTTP middleware alone) and
``POST /v1/ask`` with a question the answer cache holds (the middleware plus every pipeline
hook: a stage histogram per stage, the decision, the cache lookup). On and off alternate
request by request; the figure is the median of the differences between neighbours. Beside it, the
instrumentation calls of one question request timed on their own (no request around them), a
steadier figure for the same cost. Prints one JSON line.
Usage: python -m benchmarks.ops.metrics_overhead [--requests 3000] [--asks 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from benchmarks.machine import machine
from steward.config.settings import Settings
from steward.identity.auth import create_key
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.observability import metrics
from steward.runtime import Runtime
from steward.web.app import create_app

DEMO = Path(__file__).parents[2] / "src" / "steward" / "demo" / "data"
QUESTION = {"question": "How do I file a claim?"}
STAGES = ("guard", "understand", "risk", "cache", "embed", "retrieve", "answer", "output_guard")


def once(client: TestClient, method: str, path: str, headers: dict[str, str]) -> float:
    """Milliseconds one request takes."""
    started = time.perf_counter()
    r = client.request(method, path, headers=headers, json=QUESTION if method == "POST" else None)
    took = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, r.text
    return took


def compare(
    client: TestClient, method: str, path: str, headers: dict[str, str], n: int
) -> dict[str, float]:
    """Median per-request time with the instrumentation on and off, alternating request by
    request (so drift and the neighbours' load hit both alike)."""
    runs: dict[bool, list[float]] = {True: [], False: []}
    for i in range(n):
        for on in (True, False) if i % 2 else (False, True):
            metrics.set_enabled(on)
            runs[on].append(once(client, method, path, headers))
    metrics.set_enabled(True)
    median_on, median_off = statistics.median(runs[True]), statistics.median(runs[False])
    # Each on request beside its off neighbour: the median of those differences resists the
    # load spikes of a shared machine better than the difference of the medians.
    paired = statistics.median(a - b for a, b in zip(runs[True], runs[False], strict=True))
    return {
        "requests_per_mode": n,
        "ms_per_request_on": round(median_on, 4),
        "ms_per_request_off": round(median_off, 4),
        "overhead_ms": round(paired, 4),
        "overhead_ms_of_medians": round(median_on - median_off, 4),
    }


def hooks_alone(n: int) -> float:
    """Milliseconds the recording calls of one question request take, without the request."""
    started = time.perf_counter()
    for _ in range(n):
        for stage in STAGES:
            metrics.stage(stage, 0.003)
        metrics.cache_lookup("exact")
        metrics.provider_call("extractive", "extractive-v3", "ok", 0.004, (0, 0))
        metrics.decided("api", "answer", "policy:default@1:threshold", None, "seattle", 0.05)
        metrics.http_request("POST", "/v1/ask", 200, 0.06)
    return (time.perf_counter() - started) * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=3000, help="GET /healthz per mode")
    ap.add_argument("--asks", type=int, default=500, help="POST /v1/ask per mode")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="steward-metrics-bench-"))
    # No checkpoint thread, no rate limits: the loops time the request and its telemetry.
    rt = Runtime(
        Settings(
            home=home, audit_checkpoint_interval_s=0, rate_per_key=0, rate_per_user=0,
            rate_per_center=0, auth_failures_max=0,
        )
    )  # fmt: skip
    import_directory(rt.store, DEMO / "directory.yaml")
    assert all(r.status == "ok" for r in sync(rt, load_sources(DEMO / "sources.yaml")))
    headers = {"Authorization": f"Bearer {create_key(rt.store, 'cust-lena')}"}
    client = TestClient(create_app(rt))
    for _ in range(50):  # warm-up; the question is now cached
        once(client, "POST", "/v1/ask", headers)
        once(client, "GET", "/healthz", {})
    health = compare(client, "GET", "/healthz", {}, args.requests)
    ask = compare(client, "POST", "/v1/ask", headers, args.asks)
    out = {
        "benchmark": "metrics_overhead",
        "engine": "sqlite",
        "healthz": health,
        "ask_cached": ask,
        "hooks_of_one_question_ms": round(hooks_alone(20_000), 4),
        "target_ms": 1.0,
        "machine": machine(),
    }
    print(json.dumps(out))
    rt.close()


if __name__ == "__main__":
    main()
