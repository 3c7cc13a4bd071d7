"""Per-request cost of the rate limiter: the same authenticated request with the limits on
and off, in one run, on one store.

Serves ``GET /v1/models`` (authentication and nothing else) in process through two apps on one
SQLite store: one with the default limits (a write transaction per request: one upsert of the
key, user and center buckets and a read of the address's failed-login count), one with every
limit at 0 (no counter touched). Runs alternate in rounds so drift hits both. Prints one JSON line.
Usage: python -m benchmarks.limits.bench [--requests 2000] [--rounds 5]
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
from steward.config.settings import LimitsSettings, Settings
from steward.identity.auth import create_key
from steward.identity.directory import import_directory
from steward.runtime import Runtime
from steward.web.app import create_app

DIRECTORY = """\
organization: Bench
centers: [north]
groups:
  - {id: staff, name: Staff, external: false, description: Staff}
users:
  - {id: ana, display_name: Ana, groups: [staff], center: north, role: agent}
"""
OFF = {"rate_per_key": 0, "rate_per_user": 0, "rate_per_center": 0, "auth_failures_max": 0}
# High enough that the benchmark itself is never refused: the cost measured is the counting.
ON = {"rate_per_key": 10**9, "rate_per_user": 10**9, "rate_per_center": 10**9}


def timed(client: TestClient, headers: dict[str, str], n: int) -> float:
    """Mean milliseconds per request over ``n`` requests."""
    started = time.perf_counter()
    for _ in range(n):
        r = client.get("/v1/models", headers=headers)
        assert r.status_code == 200, r.text
    return (time.perf_counter() - started) * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="steward-limits-bench-"))
    (home / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    rts = {
        name: Runtime(Settings(home=home, limits=LimitsSettings(**cfg)))
        for name, cfg in (("on", ON), ("off", OFF))
    }
    import_directory(rts["on"].store, home / "directory.yaml")
    headers = {"Authorization": f"Bearer {create_key(rts['on'].store, 'ana')}"}
    clients = {name: TestClient(create_app(rt)) for name, rt in rts.items()}
    for client in clients.values():
        timed(client, headers, 50)  # warm-up
    runs: dict[str, list[float]] = {"on": [], "off": []}
    per_round = max(1, args.requests // args.rounds)
    for _ in range(args.rounds):
        for name, client in clients.items():
            runs[name].append(timed(client, headers, per_round))
    on, off = statistics.median(runs["on"]), statistics.median(runs["off"])
    out = {
        "benchmark": "limits",
        "engine": "sqlite",
        "requests_per_mode": per_round * args.rounds,
        "ms_per_request_limits_on": round(on, 3),
        "ms_per_request_limits_off": round(off, 3),
        "overhead_ms": round(on - off, 3),
        "machine": machine(),
    }
    print(json.dumps(out))
    for rt in rts.values():
        rt.close()


if __name__ == "__main__":
    main()
