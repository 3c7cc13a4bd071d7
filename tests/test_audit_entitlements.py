"""The audit view respects entitlements: every row's metadata for operators, the answer text
and cited titles only for readers of every cited document, or with the auditor grant (each
use of it a break-glass event)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sqlalchemy import insert

from steward import audit
from steward.audit.view import WITHHELD
from steward.identity.auth import create_key, principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import Group, UserGroup
from steward.web.app import create_app
from tests.conftest import run_cli

BUDGET = "What is the marketing budget for next year?"


def _get(rt: Runtime, key: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, headers={"Authorization": f"Bearer {key}"})

    return asyncio.run(go())


def _break_glass(rt: Runtime) -> list[dict]:
    return [r for r in audit.export(rt.store) if r["kind"] == "break-glass"]


def test_operator_sees_metadata_but_not_the_answer_of_a_document_they_may_not_read(
    kb_rt: Runtime,
) -> None:
    r = ask(kb_rt, principal_for(kb_rt.store, "fin"), BUDGET)
    assert r.action == "answer" and r.answer
    key = create_key(kb_rt.store, "ops")  # operator, in all_staff only
    row = _get(kb_rt, key, f"/v1/audit/{r.audit_id}").json()
    assert row["answer"] == WITHHELD and r.answer not in json.dumps(row)
    assert row["withheld"] == ["int-budget"]
    assert row["question"] == BUDGET and row["user_id"] == "fin" and row["action"] == "answer"
    assert row["citations"][0]["doc_id"] == "int-budget"
    assert row["citations"][0]["title"] == WITHHELD
    sources = _get(kb_rt, key, f"/v1/audit/{r.audit_id}/sources").json()
    assert sources[0]["doc_id"] == "int-budget" and sources[0]["title"] == WITHHELD
    assert "Finance Budget Memo" not in json.dumps(sources)
    assert _break_glass(kb_rt) == []
    # A public answer is shown whole to the same operator.
    fee = ask(kb_rt, principal_for(kb_rt.store, "cara"), "How much is the monthly fee?")
    shown = _get(kb_rt, key, f"/v1/audit/{fee.audit_id}").json()
    assert shown["answer"] == fee.answer and shown["withheld"] == []


def test_auditor_grant_shows_it_and_is_audited_as_break_glass(kb_rt: Runtime, make_runtime) -> None:
    r = ask(kb_rt, principal_for(kb_rt.store, "fin"), BUDGET)
    with kb_rt.store.write() as (s, _):
        s.execute(insert(Group).values(id="auditors", name="Auditors", external=False))
        s.execute(insert(UserGroup).values(user_id="ops", group_id="auditors"))
    rt = make_runtime(kb_rt.settings.home, auditor_group="auditors")
    key = create_key(rt.store, "ops")
    row = _get(rt, key, f"/v1/audit/{r.audit_id}").json()
    assert row["answer"] == r.answer and row["withheld"] == []
    assert row["citations"][0]["title"] == "Finance Budget Memo"
    (event,) = _break_glass(rt)
    assert event["user_id"] == "ops" and event["target"] == f"audit:{r.audit_id}"
    assert event["payload"] == {"audit_id": r.audit_id, "documents": 1}
    # Without the setting, the same group grants nothing.
    assert _get(kb_rt, key, f"/v1/audit/{r.audit_id}").json()["answer"] == WITHHELD
    assert audit.verify(rt.store).ok


def test_cli_withholds_until_the_local_operator_breaks_glass(
    kb_rt: Runtime, model_cache: Path
) -> None:
    r = ask(kb_rt, principal_for(kb_rt.store, "fin"), BUDGET)
    home = kb_rt.settings.home
    shown = run_cli("audit", "show", r.audit_id, "--json", home=home, model_cache=model_cache)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["answer"] == WITHHELD
    as_ops = run_cli(
        "audit", "show", r.audit_id, "--json", "--as", "ops", home=home, model_cache=model_cache
    )
    assert json.loads(as_ops.stdout)["answer"] == WITHHELD
    glass = run_cli(
        "audit", "show", r.audit_id, "--json", "--break-glass", home=home, model_cache=model_cache
    )
    assert json.loads(glass.stdout)["answer"] == r.answer
    (event,) = _break_glass(kb_rt)
    assert event["user_id"].startswith("cli:") and event["channel"] == "cli"


def test_an_abstention_naming_a_restricted_source_is_withheld_too(kb_rt: Runtime) -> None:
    """Found by the outside review: an abstention lists the closest sources by title, and
    only cited documents were checked, so an operator read a restricted document's title."""
    r = ask(
        kb_rt,
        principal_for(kb_rt.store, "fin"),
        "Who approved the Bluefin memo and when was it signed?",
    )
    row = audit.get(kb_rt.store, r.audit_id)
    assert r.action == "abstain" and "Finance Budget Memo" in r.answer  # names its sources
    assert "int-budget" in {p["doc_id"] for p in row.retrieved}
    key = create_key(kb_rt.store, "ops")
    shown = _get(kb_rt, key, f"/v1/audit/{r.audit_id}").json()
    assert "Finance Budget Memo" not in json.dumps(shown)
    assert "int-budget" in shown["withheld"]
