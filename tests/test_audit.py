"""The audit trail is append-only and tamper-evident: verify names the broken row."""

from __future__ import annotations

import re

from sqlalchemy import text

from steward import audit
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime


def _fill(rt: Runtime, n: int = 4) -> list[str]:
    cara = principal_for(rt.store, "cara")
    return [ask(rt, cara, f"How much is the monthly fee? ({i})").audit_id for i in range(n)]


def test_intact_chain_verifies(kb_rt: Runtime) -> None:
    _fill(kb_rt)
    rep = audit.verify(kb_rt.store)
    assert rep.ok
    assert rep.rows == 4
    assert rep.problem is None


def test_edited_row_is_named(kb_rt: Runtime) -> None:
    ids = _fill(kb_rt)
    with kb_rt.store.raw() as conn:
        conn.execute(
            text("UPDATE audit SET action = 'answer', answer = 'forged' WHERE id = :i"),
            {"i": ids[2]},
        )
    rep = audit.verify(kb_rt.store)
    assert not rep.ok
    assert rep.audit_id == ids[2]
    assert rep.seq == 3
    assert "edited" in (rep.problem or "")


def test_deleted_row_is_detected(kb_rt: Runtime) -> None:
    ids = _fill(kb_rt)
    with kb_rt.store.raw() as conn:
        conn.execute(text("DELETE FROM audit WHERE id = :i"), {"i": ids[1]})
    rep = audit.verify(kb_rt.store)
    assert not rep.ok
    assert rep.audit_id == ids[2]
    assert "missing" in (rep.problem or "")


def test_deleted_last_row_cannot_hide_when_rechained(kb_rt: Runtime) -> None:
    """Renumbering after a deletion still breaks the hash links."""
    ids = _fill(kb_rt)
    with kb_rt.store.raw() as conn:
        conn.execute(text("DELETE FROM audit WHERE id = :i"), {"i": ids[1]})
        conn.execute(text("UPDATE audit SET seq = seq - 1 WHERE seq > 2"))
    rep = audit.verify(kb_rt.store)
    assert not rep.ok
    assert rep.audit_id == ids[2]
    assert "previous-hash" in (rep.problem or "")


def test_reordered_rows_are_detected(kb_rt: Runtime) -> None:
    ids = _fill(kb_rt)
    with kb_rt.store.raw() as conn:
        conn.execute(text("UPDATE audit SET seq = 100 WHERE id = :i"), {"i": ids[0]})
        conn.execute(text("UPDATE audit SET seq = 1 WHERE id = :i"), {"i": ids[3]})
        conn.execute(text("UPDATE audit SET seq = 4 WHERE id = :i"), {"i": ids[0]})
    rep = audit.verify(kb_rt.store)
    assert not rep.ok
    assert rep.audit_id == ids[3]


def test_record_replays_what_was_answered(kb_rt: Runtime) -> None:
    """Everything needed to reproduce an answer is in its row."""
    fin = principal_for(kb_rt.store, "fin")
    r = ask(kb_rt, fin, "What is the marketing budget for next year?")
    row = audit.as_dict(audit.get(kb_rt.store, r.audit_id))
    assert row["groups"] == ["all_staff", "finance"]
    assert row["citations"][0]["doc_id"] == "int-budget"
    assert row["retrieved"]
    assert all({"chunk_id", "doc_id", "version"} <= set(x) for x in row["retrieved"])
    assert row["prompt_version"] == "extractive-v3"
    assert row["settings"]["embedder"]
    assert row["answer"] == r.answer
    assert row["confidence"] == round(r.confidence, 4)
    assert row["ts"].endswith("Z")


def test_sources_of_an_answer_in_one_query(kb_rt: Runtime, tmp_path) -> None:
    from steward.knowledge.pipeline import sync
    from steward.knowledge.sources import load_sources
    from tests.kb import DOCS, write_kb

    fin = principal_for(kb_rt.store, "fin")
    r = ask(kb_rt, fin, "What is the marketing budget for next year?")
    rows = audit.sources(kb_rt.store, r.audit_id)
    assert rows == [
        {
            "doc_id": "int-budget",
            "title": "Finance Budget Memo",
            "chunk_id": rows[0]["chunk_id"],
            "cited_version": rows[0]["current_version"],
            "source_id": "docs",
            "current_version": rows[0]["current_version"],
            "status": "unchanged",
        }
    ]
    docs = dict(DOCS)
    docs["int-budget.md"] = docs["int-budget.md"].replace("$7.3 million", "$7.9 million")
    sync(kb_rt, [s for s in load_sources(write_kb(tmp_path / "kb", docs)) if s.id == "docs"])
    assert audit.sources(kb_rt.store, r.audit_id)[0]["status"] == "changed"


def test_retention_prune_keeps_the_chain_verifiable(kb_rt: Runtime) -> None:
    from datetime import UTC, datetime, timedelta

    ids = _fill(kb_rt, 3)
    with kb_rt.store.raw() as conn:
        # Make the first two rows old. Editing their timestamps breaks their own hashes, which
        # does not matter here: retention deletes exactly those rows next.
        conn.execute(text("UPDATE audit SET ts = '2020-01-01 00:00:00.000000' WHERE seq <= 2"))
    assert len(list(audit.export(kb_rt.store))) == 3
    pruned = audit.prune(kb_rt.store, datetime(2021, 1, 1, tzinfo=UTC))
    assert pruned == 2
    rep = audit.verify(kb_rt.store)
    assert rep.ok and rep.rows == 1
    new = _fill(kb_rt, 1)[0]
    assert audit.verify(kb_rt.store).ok
    assert audit.get(kb_rt.store, new).seq == 4
    assert ids[2] in [r["id"] for r in audit.export(kb_rt.store)]
    recent = list(audit.export(kb_rt.store, since=datetime.now(UTC) - timedelta(minutes=5)))
    assert [r["id"] for r in recent] == [ids[2], new]


def test_exported_audit_holds_tokens_not_personal_values(
    kb_rt: Runtime, tmp_path, model_cache
) -> None:
    """`steward audit export` writes what the store holds: masked questions, never the values."""
    import json

    from tests.conftest import run_cli

    values = ("4111 1111 1111 1111", "+1-312-555-0147", "dana.q@example.com")
    question = f"My card {values[0]} was charged twice; call {values[1]} or mail {values[2]}."
    ask(kb_rt, principal_for(kb_rt.store, "cara"), question)
    dest = tmp_path / "audit.jsonl"
    r = run_cli("audit", "export", str(dest), home=kb_rt.settings.home, model_cache=model_cache)
    assert r.returncode == 0, r.stderr
    # Owner-only whatever the umask: the rows hold answers the audit view withholds.
    assert dest.stat().st_mode & 0o777 == 0o600
    text = dest.read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    asked = [row for row in rows if "charged twice" in row["question"]]
    assert len(asked) == 1
    assert all(t in asked[0]["question"] for t in ("<CARD_", "<PHONE_", "<EMAIL_"))
    for value in values:
        assert value not in text
    # The fragments, everywhere but in hex digests and ids (a SHA-256 holds "4111" by chance
    # about once in 400 exports: that is no card number).
    hexes = re.compile(r"\b[0-9a-f]{16,}\b|\b[0-9A-HJKMNP-TV-Z]{26}\b")
    readable = hexes.sub("", text)
    for value in ("4111", "555-0147", "dana.q"):
        assert value not in readable
