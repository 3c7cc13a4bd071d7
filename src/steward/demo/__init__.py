"""The bundled demo: a fictional insurer, Harbor Mutual, loaded into the current data home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from steward.identity.auth import create_key, principal_for
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime

DATA = Path(__file__).parent / "data"


def run(rt: Runtime, console: Console | None = None) -> dict[str, Any]:
    """Import the demo directory, sync its sources, ask the sample questions."""
    say = console.print if console else (lambda *_a, **_k: None)
    report = import_directory(rt.store, DATA / "directory.yaml")
    say(f"[bold]Directory[/bold]: {report.users} users, {report.groups} groups")
    runs = sync(rt, load_sources(DATA / "sources.yaml"))
    for r in runs:
        say(
            f"[bold]Synced {r.source_id}[/bold]: {r.seen} seen, {r.added} added, "
            f"{r.changed} changed, {r.unchanged} unchanged, {r.removed} removed, "
            f"{r.failed} failed, {r.quarantined} quarantined ({r.duration_ms:.0f} ms)"
        )
    answers = []
    for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        resp = ask(rt, principal_for(rt.store, q["user"]), q["question"], channel="demo")
        answers.append({"user": q["user"], "question": q["question"], **resp.as_dict()})
        say(f"\n[bold cyan]{q['user']}[/bold cyan] asks: {q['question']}", markup=True)
        say(f"  [bold]{resp.action}[/bold] ({resp.confidence:.2f}) {resp.answer}")
        for c in resp.citations:
            say(f"    - {c.title} ({c.doc_id})", markup=False)
    key = create_key(rt.store, "cust-lena")
    say(f"\nAPI key for cust-lena (shown once): {key}", markup=False)
    say('Try: steward ask --as agent-rita "When must I call back a customer?"', markup=False)
    return {"sync": [r.as_dict() for r in runs], "answers": answers, "api_key_user": "cust-lena"}
