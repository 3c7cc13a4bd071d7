"""Shadow replay of logged questions against a candidate profile version (issue 20).

On the bundled demo store (Harbor Mutual): ``--questions`` questions are asked through the
same path as the API by the demo's askers (50 distinct phrasings, so most are answered from
the cache, as in production) and logged; then ``steward shadow`` replays all of them, with the
extractive provider, against a candidate version (a higher answer threshold). Nothing is served
from the cache in a replay: each question runs the whole pipeline. Baseline in the same run:
the same replay against the active version. Prints one JSON line. Target: 1,000 in under 60 s.

    python -m benchmarks.profiles.shadow --questions 1000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.machine import machine
from steward.config.settings import Settings
from steward.identity.auth import principal_for
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.pipeline.orchestrator import ask
from steward.profiles.shadow import shadow
from steward.runtime import Runtime

DEMO = Path(__file__).parents[2] / "src" / "steward" / "demo" / "data"
ASKERS = ("cust-lena", "cust-omar", "agent-rita", "agent-sam", "siu-maya")
TOPICS = (
    "report water damage to my house", "the glass replacement deductible",
    "a promised callback", "roadside assistance", "cancelling my policy",
    "paying my premium by card", "an auto claim after an accident", "a home claim for a storm",
    "the deductible options for 2025", "how my personal data is used",
)  # fmt: skip
FORMS = (
    "How long do I have for {}?", "What should I know about {}?", "Tell me about {}.",
    "Who do I talk to about {}?", "What does it cost: {}?",
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=int, default=1000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="steward-shadow-bench-"))
    rt = Runtime(
        Settings(
            home=home, audit_checkpoint_interval_s=0, rate_per_key=0, rate_per_user=0,
            rate_per_center=0, auth_failures_max=0,
        )
    )  # fmt: skip
    import_directory(rt.store, DEMO / "directory.yaml")
    assert all(r.status == "ok" for r in sync(rt, load_sources(DEMO / "sources.yaml")))
    rt.warm()
    texts = [f.format(t) for t in TOPICS for f in FORMS]
    t0 = time.perf_counter()
    for i in range(args.questions):
        who = principal_for(rt.store, ASKERS[i % len(ASKERS)])
        ask(rt, who, texts[i % len(texts)], "api")
    logged_s = time.perf_counter() - t0
    admin = principal_for(rt.store, "ops-admin")
    candidate = rt.profiles.create(
        admin, {"label": "stricter", "policy": {"answer_threshold": 0.7}}
    )
    rt.profiles.publish(admin, candidate.version)
    since = timedelta(hours=1)
    t0 = time.perf_counter()
    shadow(rt, admin, 1, since, limit=args.questions)
    base_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cand = shadow(rt, admin, candidate.version, since, limit=args.questions)
    cand_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "bench": "shadow-replay",
                "questions": cand["questions"],
                "candidate_s": round(cand_s, 2),
                "candidate_questions_per_s": round(cand["questions"] / cand_s, 1),
                "baseline_active_version_s": round(base_s, 2),
                "logging_pass_s": round(logged_s, 2),
                "changed": cand["changed"],
                "lost_answers": cand["lost_answers"],
                "missed_escalations": cand["missed_escalations"],
                "target_s": 60,
                "machine": machine(),
            }
        )
    )
    rt.close()


if __name__ == "__main__":
    main()
