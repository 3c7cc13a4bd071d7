"""The bundled demo: a fictional insurer, Harbor Mutual, loaded into the current data home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

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
    actions = _actions(rt, say)
    key = create_key(rt.store, "cust-lena")
    say(f"\nAPI key for cust-lena (shown once): {key}", markup=False)
    say('Try: steward ask --as agent-rita "When must I call back a customer?"', markup=False)
    return {
        "sync": [r.as_dict() for r in runs],
        "answers": answers,
        "actions": actions,
        "api_key_user": "cust-lena",
    }


def _actions(rt: Runtime, say: Any) -> list[dict[str, Any]]:
    """The demo's tools (HOME/tools.yaml, written once): a claim form sent at once, an address
    change the customer confirms, a fee waiver beyond the agent's authority left for two
    approvers."""
    tools = rt.settings.home / "tools.yaml"
    if rt.settings.actions.tools_file is None and not tools.exists():
        tools.write_text((DATA / "tools.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    if "send_claim_form" not in rt.actions.registry.tools:
        return []  # the operator's own tools file is in force
    lena, rita = principal_for(rt.store, "cust-lena"), principal_for(rt.store, "agent-rita")
    done = [
        rt.actions.propose(lena, "send_claim_form", {"form": "auto"}, channel="cli"),
        rt.actions.propose(lena, "update_contact_address",
                           {"address": "500 Pine Street, Seattle, WA 98101"}, channel="cli"),
        rt.actions.propose(rita, "waive_fee",
                           {"customer": "cust-lena", "amount": 40, "reason": "WV-01"},
                           channel="cli"),
    ]  # fmt: skip
    done[1] = rt.actions.confirm(lena, done[1].id, done[1].call_hash, channel="cli")
    say("\n[bold]Actions[/bold] (docs/actions.md)")
    for a in done:
        why = "" if a.status == "executed" else f" ({a.rule}; {a.approvals_needed} approvers)"
        line = f"  {escape(a.requested_by)}: {escape(a.summary)} -> [bold]{a.status}[/bold]"
        say(line + escape(why), markup=True)
    return [a.as_dict() for a in done]
