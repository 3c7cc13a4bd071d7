"""Erasure reaches every copy: after `erase --subject`, none of the subject's values is left in
any file under the data home, nor in any text or JSON column of any table (SQLite and
PostgreSQL), and the audit chain still verifies."""

from __future__ import annotations

import re

from sqlalchemy import select, text

from steward import audit
from steward.evals.runner import plaintext_found
from steward.guard.erasure import erase_subject
from steward.identity.auth import Principal, principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import PiiToken
from tests.kb import TICKETS

SUBJECT = TICKETS[0]  # Quentin Marlowe
VALUES = [SUBJECT["customer_name"], SUBJECT["email"], SUBJECT["phone"], SUBJECT["card"]]
STRANGER = "Fitzwilliam-Q7781"
ADMIN = Principal("root", "Root", frozenset(), None, "admin", False, "cli")


def _tokens(rt: Runtime) -> set[str]:
    with rt.store.read() as s:
        return {f"<{k}_{n}>" for k, n in s.execute(select(PiiToken.kind, PiiToken.number))}


def _database_text(rt: Runtime) -> str:
    """Every text and JSON value of every table, read with SELECT (no pg_dump)."""
    out: list[str] = []
    with rt.store.raw() as conn:
        if rt.store.dialect == "postgresql":
            cols = conn.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN "
                    "('text', 'character varying', 'json', 'jsonb', 'tsvector')"
                )
            ).all()
        else:
            tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
            cols = [
                (t, c[1])
                for (t,) in tables.all()
                for c in conn.execute(text(f'PRAGMA table_info("{t}")')).all()
            ]
        cast = "CAST({} AS TEXT)" if rt.store.dialect == "postgresql" else "{}"
        for table, column in cols:
            value = cast.format(f'"{column}"')
            rows = conn.execute(text(f'SELECT {value} FROM "{table}"'))  # noqa: S608
            out.extend(
                v.decode(errors="ignore") if isinstance(v, bytes) else str(v) for (v,) in rows if v
            )
    return "\n".join(out)


def _found(blob: str, values: list[str]) -> set[str]:
    found = {v for v in values if v.lower() in blob.lower()}
    digits = {v for v in values if len(re.sub(r"\D", "", v)) >= 7}
    flat = re.sub(r"[\s.()/-]", "", blob)
    return found | {v for v in digits if re.sub(r"\D", "", v) in flat}


def test_erasure_reaches_every_copy(engine_rt: Runtime) -> None:
    rt = engine_rt
    cara = principal_for(rt.store, "cara")
    name, email = SUBJECT["customer_name"], SUBJECT["email"]
    first = ask(rt, cara, f"Hi, this is {name.lower()} ({email}), what is the monthly fee?")
    ask(rt, cara, f"And the wire fee for {name}?", conversation_id=first.conversation_id)
    escalated = ask(rt, cara, f"Someone used my card for purchases I never made! I am {name}.")
    assert escalated.action == "escalate"
    before = _tokens(rt)
    # A value no record declares and no recognizer knows (a customer handle): stored as typed.
    ask(rt, cara, f"My handle is {STRANGER}: what is the monthly fee?")
    assert _found(_database_text(rt), [STRANGER]) == {STRANGER}

    rep = erase_subject(rt, name, ADMIN)

    assert rep.documents == 1 and rep.audit_rows >= 3
    gone = before - _tokens(rt)
    assert gone
    stored = _database_text(rt)
    assert _found(stored, VALUES) == set()
    assert not any(t in stored for t in gone)
    assert "<ERASED>" in stored
    assert plaintext_found(rt.settings.home, VALUES) == set()
    assert audit.verify(rt.store).ok
    (erased,) = [r for r in audit.export(rt.store) if r["kind"] == "subject-erased"]
    assert len(erased["payload"]["redacted"]) == rep.audit_rows

    # Erasing a value found only as typed text reaches it in any case and spacing.
    stranger = erase_subject(rt, STRANGER.upper(), ADMIN)
    assert stranger.audit_rows >= 1 and stranger.records >= 1
    assert _found(_database_text(rt), [STRANGER]) == set()
    assert plaintext_found(rt.settings.home, [STRANGER]) == set()
    assert audit.verify(rt.store).ok


def test_an_edit_of_a_redacted_row_still_breaks_the_chain(engine_rt: Runtime) -> None:
    rt = engine_rt
    name = SUBJECT["customer_name"]
    asked = ask(rt, principal_for(rt.store, "cara"), f"I am {name}: what is the monthly fee?")
    erase_subject(rt, name, ADMIN)
    assert audit.verify(rt.store).ok
    with rt.store.raw() as conn:
        conn.execute(
            text("UPDATE audit SET answer = 'forged' WHERE id = :i"), {"i": asked.audit_id}
        )
    rep = audit.verify(rt.store)
    assert not rep.ok and rep.audit_id == asked.audit_id and "edited" in (rep.problem or "")


def test_a_surname_typed_alone_is_erased_with_the_full_name(kb_rt: Runtime) -> None:
    """Found by the outside review: after erasing "Ignatius Thorncastle", the token a question
    had given "Thorncastle" alone stayed in turns and audit rows (and the vault revealed it)."""
    rt = kb_rt
    cara = principal_for(rt.store, "cara")
    surname = SUBJECT["customer_name"].split()[-1]
    r = ask(rt, cara, f"Any news for Mr {surname} on the dispute?")
    row = audit.get(rt.store, r.audit_id)
    part_tokens = set(re.findall(r"<NAME_\d+>", row.question))
    assert part_tokens and surname not in row.question

    erase_subject(rt, SUBJECT["customer_name"], ADMIN)

    stored = _database_text(rt)
    assert not any(t in stored for t in part_tokens)
    assert surname.lower() not in stored.lower()
    assert audit.verify(rt.store).ok
