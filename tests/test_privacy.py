"""Vault, re-identification, erasure and masked exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from steward import audit
from steward.core.errors import ForbiddenError, SourceError
from steward.evals.runner import plaintext_found
from steward.guard.erasure import erase_subject
from steward.guard.sandbox import export_masked, is_non_production
from steward.guard.vault import new_vault_key_file
from steward.identity.auth import create_key, principal_for
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import Chunk, Document, PiiToken, VaultEntry
from steward.web.app import create_app
from tests.conftest import LiveServer
from tests.kb import PERSONAL_VALUES, TICKETS, write_kb

ADMIN = None  # filled per test: an admin principal


@pytest.fixture
def vault_rt(kb_home: Path, tmp_path: Path, make_runtime) -> Runtime:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    key = tmp_path / "vault.key"
    new_vault_key_file(key)
    return make_runtime(home, vault_key_file=key)


def admin(rt: Runtime):
    from steward.identity.auth import Principal

    return Principal("root", "Root", frozenset(), None, "admin", False, "cli")


def test_vault_key_lives_outside_the_database(vault_rt: Runtime, tmp_path: Path) -> None:
    assert (tmp_path / "vault.key").stat().st_mode & 0o777 == 0o600
    ask(
        vault_rt,
        principal_for(vault_rt.store, "cara"),
        "My card is 4111 1111 1111 1111 - what is the monthly fee?",
    )
    key_hex = (tmp_path / "vault.key").read_text().strip()
    blob = b"".join(p.read_bytes() for p in vault_rt.settings.home.rglob("*") if p.is_file())
    assert key_hex.encode() not in blob and bytes.fromhex(key_hex) not in blob
    assert b"4111111111111111" not in blob and b"4111 1111 1111 1111" not in blob
    with vault_rt.store.read() as s:
        row = s.scalars(select(VaultEntry)).one()
    assert row.owner == "cara" and row.kind == "CARD"


def test_only_the_owner_or_an_allowed_role_can_reveal(vault_rt: Runtime) -> None:
    r = ask(
        vault_rt,
        principal_for(vault_rt.store, "cara"),
        "My card is 4111 1111 1111 1111 - what is the monthly fee?",
    )
    token = audit.get(vault_rt.store, r.audit_id).question.split("is ", 1)[1].split(" ")[0]
    assert token.startswith("<CARD_")
    assert (
        vault_rt.vault.reveal(token, principal_for(vault_rt.store, "cara")).value
        == "4111 1111 1111 1111"
    )
    with pytest.raises(ForbiddenError):
        vault_rt.vault.reveal(token, principal_for(vault_rt.store, "ops"))  # operator < admin
    assert vault_rt.vault.reveal(token, admin(vault_rt)).value == "4111 1111 1111 1111"
    rows = [audit.as_dict(x) for x in [audit.get(vault_rt.store, i) for i in _audit_ids(vault_rt)]]
    reveals = [x for x in rows if x["question"].startswith("[reveal")]
    assert [x["action"] for x in reveals] == ["reveal", "refuse", "reveal"]
    assert all("4111" not in str(x) for x in rows)  # audited without the value


def _audit_ids(rt: Runtime) -> list[str]:
    return [row["id"] for row in audit.export(rt.store)]


def test_reveal_over_http_is_owner_only(vault_rt: Runtime) -> None:
    keys = {u: create_key(vault_rt.store, u) for u in ("cara", "sam")}
    with LiveServer(create_app(vault_rt)) as server:
        asked = httpx.post(
            f"{server.url}/v1/ask",
            timeout=60,
            headers={"Authorization": f"Bearer {keys['cara']}"},
            json={"question": "Call me on +1-206-555-0188 about the fee"},
        ).json()
        row = audit.get(vault_rt.store, asked["audit_id"])
        token = next(t for t in row.question.split() if t.startswith("<PHONE_"))
        mine = httpx.post(
            f"{server.url}/v1/reveal",
            json={"token": token},
            headers={"Authorization": f"Bearer {keys['cara']}"},
        )
        assert mine.status_code == 200 and mine.json()["value"] == "+1-206-555-0188"
        theirs = httpx.post(
            f"{server.url}/v1/reveal",
            json={"token": token},
            headers={"Authorization": f"Bearer {keys['sam']}"},
        )
        assert theirs.status_code == 403 and "0188" not in theirs.text
        bad = httpx.post(
            f"{server.url}/v1/reveal",
            json={"token": "4111"},
            headers={"Authorization": f"Bearer {keys['sam']}"},
        )
        assert bad.status_code == 422


def test_erasure_leaves_nothing_of_the_subject(vault_rt: Runtime, tmp_path: Path) -> None:
    subject = TICKETS[0]  # Quentin Marlowe
    who = principal_for(vault_rt.store, "cara")
    ask(vault_rt, who, f"I am {subject['email']}, what is the monthly fee?")
    tokens_before = _tokens(vault_rt)
    rep = erase_subject(vault_rt, subject["email"], admin(vault_rt))
    assert rep.documents == 1 and rep.vault_entries == 1 and rep.tokens >= 1
    docs = _doc_ids(vault_rt)
    assert "ticket:T-1" not in docs and "ticket:T-2" in docs
    with vault_rt.store.read() as s:
        texts = " ".join(s.scalars(select(Chunk.text)))
        vault_left = s.scalar(select(func.count()).select_from(VaultEntry))
    assert vault_left == 0
    gone = tokens_before - _tokens(vault_rt)
    assert gone and not any(t in texts for t in gone)
    row = audit.get(vault_rt.store, rep.audit_id)
    assert row.action == "erase" and subject["email"] not in str(audit.as_dict(row))
    assert audit.verify(vault_rt.store).ok
    # A re-sync of the unchanged source does not bring the subject back.
    write_kb(tmp_path / "kb")
    reports = sync(vault_rt, load_sources(tmp_path / "kb" / "sources.yaml"))
    assert "ticket:T-1" not in _doc_ids(vault_rt)
    tickets = next(r for r in reports if r.source_id == "tickets")
    assert any("subject erased" in e["message"] for e in tickets.errors)
    assert plaintext_found(vault_rt.settings.home, PERSONAL_VALUES) == set()


def test_erasure_reaches_conversations_tickets_corrections_and_every_replicas_cache(
    vault_rt: Runtime, make_runtime
) -> None:
    from sqlalchemy import update

    from steward.store.models import AclSet, CacheEntry, Correction, Ticket, Turn, User

    email = TICKETS[0]["email"]
    cara = principal_for(vault_rt.store, "cara")
    replica = make_runtime(vault_rt.settings.home, vault_key_file=vault_rt.settings.vault_key_file)
    question = f"I am {email}, what is the monthly fee?"
    assert ask(vault_rt, cara, question).action == "answer"
    assert ask(replica, cara, question).cache == "exact"  # now in the replica's memory too
    escalated = ask(
        vault_rt, cara, f"Someone used my card for purchases I never made! Write to {email}"
    )
    assert escalated.action == "escalate" and escalated.ticket_id
    with vault_rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == "nora").values(access="reviewer"))
    nora = principal_for(vault_rt.store, "nora")
    vault_rt.handoff.claim(nora, escalated.ticket_id)
    vault_rt.handoff.answer(nora, escalated.ticket_id, f"We wrote to {email} today.")
    vault_rt.handoff.resolve(nora, escalated.ticket_id, save_correction=True)
    before = _tokens(vault_rt)
    with vault_rt.store.read() as s:
        keys = list(s.scalars(select(CacheEntry.key)))
        every_acl = frozenset(s.scalars(select(AclSet.id)))
    assert keys and all(replica.cache.get(k, every_acl, replica.store.kb_version()) for k in keys)

    rep = erase_subject(vault_rt, email, admin(vault_rt))

    gone = before - _tokens(vault_rt)
    assert gone and rep.records >= 3 and rep.cached >= 1
    with vault_rt.store.read() as s:
        stored = [
            *s.scalars(select(Turn.text)),
            *s.scalars(select(Turn.standalone)),
            *s.scalars(select(Ticket.detail)),
            *s.scalars(select(Ticket.resolution)),
            *s.scalars(select(Correction.question)),
            *s.scalars(select(Correction.answer)),
            *s.scalars(select(CacheEntry.question)),
            *(str(r) for r in s.scalars(select(CacheEntry.response))),
        ]
    text = " ".join(x for x in stored if x)
    assert "<ERASED>" in text and not any(t in text for t in gone)
    assert "We wrote to <ERASED> today." in text  # the reviewer's reply keeps its sense
    # The replica still had the entry in memory; it re-checks the table after the erasure.
    kb = replica.store.kb_version()
    assert all(replica.cache.get(k, every_acl, kb) is None for k in keys)
    assert plaintext_found(vault_rt.settings.home, [email]) == set()


def _tokens(rt: Runtime) -> set[str]:
    with rt.store.read() as s:
        return {f"<{k}_{n}>" for k, n in s.execute(select(PiiToken.kind, PiiToken.number))}


def _doc_ids(rt: Runtime) -> set[str]:
    with rt.store.read() as s:
        return set(s.scalars(select(Document.doc_id)))


def test_erasure_needs_admin(kb_rt: Runtime) -> None:
    with pytest.raises(ForbiddenError):
        erase_subject(kb_rt, TICKETS[0]["email"], principal_for(kb_rt.store, "ops"))


def test_masked_export_replaces_every_token_consistently(
    kb_rt: Runtime, tmp_path: Path, make_runtime
) -> None:
    # A second document that mentions the card of ticket T-1: one value, two places.
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "n.md").write_text(
        "---\nid: note-1\ntitle: Fraud note\nacl: [all_staff]\n---\n"
        "Card 4111 1111 1111 1111 was reissued after the Paris decline.\n"
    )
    (tmp_path / "n.yaml").write_text("sources:\n  - {id: notes, connector: folder, path: notes}\n")
    sync(kb_rt, load_sources(tmp_path / "n.yaml"))
    create_key(kb_rt.store, "cara")
    ask(kb_rt, principal_for(kb_rt.store, "cara"), "What is the monthly fee?")
    dest = tmp_path / "sandbox"
    rep = export_masked(kb_rt, dest)
    assert rep.tokens_replaced >= 4
    copy = make_runtime(dest)
    assert is_non_production(copy.store)
    with copy.store.read() as s:
        texts = list(s.scalars(select(Chunk.text)))
        assert s.scalar(select(func.count()).select_from(PiiToken)) == 0
    joined = " ".join(texts)
    assert "<CARD_" not in joined and "<NAME_" not in joined and "<EMAIL_" not in joined
    assert "@example.test" in joined and "4000 " in joined
    assert plaintext_found(dest, PERSONAL_VALUES) == set()
    assert audit.count(copy.store) == 0
    from steward.identity.auth import list_keys

    assert list_keys(copy.store) == []
    # The same original value became the same fake everywhere it appeared.
    note = next(t for t in texts if "was reissued" in t)
    fake_card = note.split("Card ", 1)[1].split(" was")[0]
    assert fake_card.startswith("4000 ") and fake_card != "4111 1111 1111 1111"
    assert sum(fake_card in t for t in texts) == 2
    # A search in the copy works on the new text.
    hits = copy.search.index.lexical(
        "Paris declined", copy.search.filter_for(frozenset({"all_staff"}), None), 5
    )
    assert hits


def test_non_production_store_refuses_real_personal_data(
    kb_rt: Runtime, tmp_path: Path, make_runtime
) -> None:
    export_masked(kb_rt, tmp_path / "sandbox")
    copy = make_runtime(tmp_path / "sandbox")
    sources = write_kb(tmp_path / "kb")
    reports = {r.source_id: r for r in sync(copy, load_sources(sources))}
    assert reports["tickets"].status == "failed"
    assert "non-production" in reports["tickets"].errors[0]["message"]
    assert reports["docs"].status == "ok"  # no declared personal fields: allowed
    assert SourceError  # the refusal is a SourceError turned into a failed run
