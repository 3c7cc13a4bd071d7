"""The answer cache: fast repeats, never across permission boundaries, never stale."""

from __future__ import annotations

from pathlib import Path

from steward import audit
from steward.identity import principal_for
from steward.ingest.pipeline import sync
from steward.ingest.sources import load_sources
from steward.orchestrator import ask
from tests.kb import DOCS, write_kb

BUDGET = "What is the marketing budget for next year?"


def test_repeated_question_is_served_from_the_cache_and_still_audited(kb_rt) -> None:
    cara = principal_for(kb_rt.store, "cara")
    first = ask(kb_rt, cara, "How much does an international wire cost?")
    second = ask(kb_rt, cara, "How much does an international wire cost?")
    assert (first.cache, second.cache) == (None, "exact")
    assert second.answer == first.answer and second.citations == first.citations
    assert second.audit_id != first.audit_id  # every request has its own audit row
    row = audit.get(kb_rt.store, second.audit_id)
    assert row.provider == "cache" and row.settings["cached_audit_id"] == first.audit_id
    assert "retrieve" not in row.latency_ms and "cache" in row.latency_ms
    assert kb_rt.cache.stats.hits == 1


def test_reworded_question_hits_the_semantic_cache(kb_rt) -> None:
    cara = principal_for(kb_rt.store, "cara")
    ask(kb_rt, cara, "How much does an international wire cost?")
    again = ask(kb_rt, cara, "how much does an international wire cost??")
    assert again.cache in ("exact", "semantic")
    kb_rt.cache.semantic_threshold = 0.9
    near = ask(kb_rt, cara, "What is the cost of an international wire?")
    assert near.cache == "semantic" and "$45" in near.answer


def test_other_permissions_never_receive_a_cached_answer(kb_rt) -> None:
    kb_rt.cache.semantic_threshold = 0.5  # even a loose match must not cross the boundary
    fin = ask(kb_rt, principal_for(kb_rt.store, "fin"), BUDGET)
    assert "$7.3 million" in fin.answer
    for user in ("sam", "nora", "cara"):
        r = ask(kb_rt, principal_for(kb_rt.store, user), BUDGET)
        assert r.cache is None or "7.3" not in r.answer
        assert "7.3" not in r.answer and r.action == "abstain"


def test_a_changed_cited_document_invalidates_the_entry(kb_rt, tmp_path: Path) -> None:
    cara = principal_for(kb_rt.store, "cara")
    before = ask(kb_rt, cara, "How much does an international wire cost?")
    assert "$45" in before.answer
    docs = dict(DOCS)
    docs["pub-fees.md"] = docs["pub-fees.md"].replace("$45", "$49")
    sync(kb_rt, [s for s in load_sources(write_kb(tmp_path / "kb", docs)) if s.id == "docs"])
    after = ask(kb_rt, cara, "How much does an international wire cost?")
    assert after.cache is None and "$49" in after.answer and "$45" not in after.answer


def test_revoked_access_invalidates_the_entry(kb_rt, tmp_path: Path) -> None:
    fin = principal_for(kb_rt.store, "fin")
    assert "$7.3 million" in ask(kb_rt, fin, BUDGET).answer
    docs = dict(DOCS)
    docs["int-budget.md"] = docs["int-budget.md"].replace("acl: [finance]", "acl: [executives]")
    sync(kb_rt, [s for s in load_sources(write_kb(tmp_path / "kb", docs)) if s.id == "docs"])
    r = ask(kb_rt, fin, BUDGET)
    assert "7.3" not in r.answer


def test_cache_keys_hold_no_raw_personal_data(kb_rt) -> None:
    from sqlalchemy import select

    from steward.store.models import CacheEntry

    cara = principal_for(kb_rt.store, "cara")
    ask(kb_rt, cara, "My card 4111 1111 1111 1111: how much does an international wire cost?")
    with kb_rt.store.read() as s:
        rows = list(s.scalars(select(CacheEntry)))
    assert rows and all("4111" not in r.question and "4111" not in str(r.response) for r in rows)
