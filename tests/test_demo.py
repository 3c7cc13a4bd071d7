"""The bundled demo organisation: the quick start's first command shows governed answers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_demo_loads_and_answers_with_governance(tmp_path: Path, model_cache: Path) -> None:
    r = run_cli("demo", "--no-serve", "--json", home=tmp_path / "home", model_cache=model_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    sync = {s["source_id"]: s for s in out["sync"]}
    assert sync["harbor-docs"]["quarantined"] == 1  # the planted instruction is held back
    assert all(s["failed"] == 0 for s in sync.values())
    by = [(a["user"], a["action"], a["answer"]) for a in out["answers"]]
    assert by[0][1] == "answer" and "30 days" in by[0][2]
    assert "$50" in by[1][2] and "$100" not in by[1][2]  # the 2025 value, not the superseded one
    assert "2 business hours" in by[2][2] and "4 business hours" in by[3][2]  # per center
    assert by[4][1] == "abstain" and "720" not in by[4][2]  # restricted for a customer
    assert by[5][1] == "answer" and "720" in by[5][2]  # readable by investigators
    assert by[6][1] == "escalate"
    assert by[7][1] == "refuse"
    assert by[8][1] == "answer" and "$16" in by[8][2] and "0190" not in by[8][2]
    # Actions: a claim form sent at once, an address change confirmed by the customer (masked
    # once it is done: the raw address is gone with the call), a waiver beyond the agent's
    # authority waiting for two approvers who are neither the agent nor the customer.
    acts = {a["tool"]: a for a in out["actions"]}
    assert acts["send_claim_form"]["status"] == "executed"
    moved = acts["update_contact_address"]
    assert moved["status"] == "executed" and "500 Pine" not in json.dumps(moved)
    waiver = acts["waive_fee"]
    assert (waiver["status"], waiver["approvals_needed"]) == ("awaiting-approval", 2)
    assert waiver["requested_by"] == "agent-rita" and waiver["subject"] == "cust-lena"
