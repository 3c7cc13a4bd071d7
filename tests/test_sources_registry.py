"""A mistaken source can be taken out of the store: its documents stop being retrieved, its
vault values go, the removal is audited with who and why (masked), and only an operator may."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from steward.core.errors import ForbiddenError, NotFoundError
from steward.identity.auth import principal_for
from steward.knowledge.registry import registered, remove
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import AuditRecord, Chunk, Document
from tests.conftest import run_cli


def test_removing_a_source_takes_its_documents_out_of_answers(demo_rt: Runtime) -> None:
    rita = principal_for(demo_rt.store, "agent-rita")
    question = "How long do I have to file an auto claim?"
    assert [c.doc_id for c in ask(demo_rt, rita, question).citations] == ["faq:faq-002"]
    before = {r.id: r.documents for r in registered(demo_rt)}
    assert before["harbor-faq"] > 0
    operator = principal_for(demo_rt.store, "ops-admin")
    removed, audit_id = remove(
        demo_rt, "harbor-faq", operator, reason="wrong folder, card 4111 1111 1111 1111"
    )
    assert removed == before["harbor-faq"]
    assert "harbor-faq" not in {r.id for r in registered(demo_rt)}
    with demo_rt.store.read() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Document).where(Document.source_id == "harbor-faq")
            )
            == 0
        )
        orphans = s.scalar(
            select(func.count())
            .select_from(Chunk)
            .where(~Chunk.document_id.in_(select(Document.id)))
        )
        row = s.get(AuditRecord, audit_id)
    assert orphans == 0
    assert row is not None and row.kind == "source-removed" and row.user_id == "ops-admin"
    assert "4111" not in row.reason and "harbor-faq" in row.target
    r = ask(demo_rt, rita, question)
    assert all(not c.doc_id.startswith("faq:") for c in r.citations)


def test_only_an_operator_removes_a_source_and_unknown_ids_are_named(demo_rt: Runtime) -> None:
    with pytest.raises(ForbiddenError):
        remove(demo_rt, "harbor-faq", principal_for(demo_rt.store, "agent-rita"), reason="x")
    assert "harbor-faq" in {r.id for r in registered(demo_rt)}
    with pytest.raises(NotFoundError, match="harbor-claims"):
        remove(demo_rt, "nope", principal_for(demo_rt.store, "ops-admin"), reason="x")


def test_cli_needs_a_reason_and_a_confirmation(demo_copy: Path, model_cache: Path) -> None:
    r = run_cli("sources", "remove", "harbor-faq", home=demo_copy, model_cache=model_cache)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--reason" in r.stderr
    r = run_cli(
        "sources",
        "remove",
        "harbor-faq",
        "--reason",
        "mistake",
        home=demo_copy,
        model_cache=model_cache,
    )
    assert r.returncode == 2 and "--yes" in r.stderr and "15 documents" in r.stderr
    r = run_cli(
        "sources",
        "remove",
        "harbor-faq",
        "--reason",
        "mistake",
        "--yes",
        home=demo_copy,
        model_cache=model_cache,
    )
    assert r.returncode == 0, r.stderr
    assert "Removed source harbor-faq: 15 documents" in r.stdout
    listed = run_cli("sources", "list", "--json", home=demo_copy, model_cache=model_cache)
    assert "harbor-faq" not in listed.stdout and "harbor-docs" in listed.stdout
