"""Conversations and the hand-off queue, over real HTTP."""

from __future__ import annotations

import httpx

from steward.pipeline.conversations import is_follow_up, rewrite


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(server, key, path, body):
    return httpx.post(f"{server.url}{path}", json=body, headers=auth(key), timeout=60)


def test_follow_up_is_rewritten_into_a_standalone_question() -> None:
    prev = "What is the annual fee on the Platinum card?"
    assert is_follow_up("and for the Gold card?")
    assert rewrite("and for the Gold card?", prev) == "What is the annual fee on the Gold card?"
    assert not is_follow_up("What is the annual fee on the Gold card?")
    assert (
        rewrite("what about international ones?", "How much does a domestic wire cost?")
        == "How much does a domestic wire cost: international ones?"
    )


def test_follow_up_in_a_conversation_uses_the_earlier_turn(live_kb) -> None:
    server, keys = live_kb
    first = post(
        server, keys["cara"], "/v1/ask", {"question": "How much does a domestic wire cost?"}
    ).json()
    assert "$25" in first["answer"]
    follow = post(
        server,
        keys["cara"],
        "/v1/ask",
        {"question": "and an international one?", "conversation_id": first["conversation_id"]},
    ).json()
    assert follow["action"] == "answer" and "$45" in follow["answer"]
    assert follow["conversation_id"] == first["conversation_id"]


def test_conversation_belongs_to_its_asker(live_kb) -> None:
    server, keys = live_kb
    first = post(server, keys["cara"], "/v1/ask", {"question": "How much is the monthly fee?"})
    conv = first.json()["conversation_id"]
    other = post(
        server, keys["sam"], "/v1/ask", {"question": "and the wire fee?", "conversation_id": conv}
    )
    assert other.status_code == 404
    assert (
        httpx.get(f"{server.url}/v1/conversations/{conv}", headers=auth(keys["sam"])).status_code
        == 404
    )
    mine = httpx.get(f"{server.url}/v1/conversations/{conv}", headers=auth(keys["cara"])).json()
    assert [t["role"] for t in mine["turns"]] == ["asker", "assistant"]


def test_escalation_goes_to_the_queue_and_the_reply_reaches_the_asker(live_kb, kb_rt) -> None:
    from sqlalchemy import update

    from steward.store.models import User

    server, keys = live_kb
    with kb_rt.store.write() as (s, _):  # make nora a reviewer in the north center
        s.execute(update(User).where(User.id == "nora").values(access="reviewer"))
        s.execute(update(User).where(User.id == "solo").values(access="reviewer"))
    asked = post(
        server,
        keys["cara"],
        "/v1/ask",
        {"question": "Someone used my card 4111 1111 1111 1111 for purchases I never made!"},
    ).json()
    assert asked["action"] == "escalate" and asked["ticket_id"]
    ticket_id = asked["ticket_id"]
    # cara is a north customer: the south reviewer does not see the ticket.
    south = httpx.get(f"{server.url}/v1/tickets", headers=auth(keys["solo"])).json()
    assert ticket_id not in [t["id"] for t in south]
    assert httpx.get(f"{server.url}/v1/tickets", headers=auth(keys["cara"])).status_code == 403
    queue = httpx.get(f"{server.url}/v1/tickets", headers=auth(keys["nora"])).json()
    ticket = next(t for t in queue if t["id"] == ticket_id)
    assert (ticket["reason"], ticket["priority"], ticket["status"]) == ("fraud", "p1", "open")
    assert "4111" not in str(ticket) and "<CARD_" in ticket["transcript"][0]["text"]
    assert ticket["signals"] == ["fraud"] and not ticket["overdue"]
    assert (
        post(
            server,
            keys["nora"],
            f"/v1/tickets/{ticket_id}/answer",
            {"text": "We blocked the card."},
        ).status_code
        == 403
    )  # claim first
    assert (
        post(server, keys["nora"], f"/v1/tickets/{ticket_id}/claim", {}).json()["status"]
        == "claimed"
    )
    answered = post(
        server,
        keys["nora"],
        f"/v1/tickets/{ticket_id}/answer",
        {"text": "We blocked the card and a new one is on its way."},
    ).json()
    assert answered["status"] == "answered"
    conv = httpx.get(
        f"{server.url}/v1/conversations/{asked['conversation_id']}", headers=auth(keys["cara"])
    ).json()
    assert conv["status"] == "with_human"
    assert conv["turns"][-1] == {
        **conv["turns"][-1],
        "role": "human",
        "author": "nora",
        "text": "We blocked the card and a new one is on its way.",
    }
    resolved = post(
        server, keys["nora"], f"/v1/tickets/{ticket_id}/resolve", {"save_correction": True}
    ).json()
    assert resolved["status"] == "resolved"
    late = post(server, keys["nora"], f"/v1/tickets/{ticket_id}/answer", {"text": "One more."})
    assert late.status_code == 409 and "resolved" in late.json()["error"]["message"]
    again = post(server, keys["nora"], f"/v1/tickets/{ticket_id}/resolve", {})
    assert again.status_code == 409  # resolving twice changes nothing
    conv = httpx.get(
        f"{server.url}/v1/conversations/{asked['conversation_id']}", headers=auth(keys["cara"])
    ).json()
    assert conv["status"] == "closed" and conv["turns"][-1]["text"] != "One more."
    corrections = kb_rt.handoff.corrections()
    assert corrections[0]["escalation_reason"] == "fraud"
    assert "4111" not in corrections[0]["question"]


def test_overdue_tickets_are_flagged(kb_rt) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from steward.identity.auth import Principal, principal_for
    from steward.pipeline.orchestrator import ask
    from steward.store.models import Ticket

    r = ask(
        kb_rt,
        principal_for(kb_rt.store, "cara"),
        "My attorney will sue you over these fees.",
        channel="chat",
    )
    assert r.escalation_reason == "legal" and r.ticket_id
    with kb_rt.store.write() as (s, _):
        s.execute(update(Ticket).values(due_at=datetime.now(UTC) - timedelta(minutes=1)))
    admin = Principal("op", "Op", frozenset(), None, "operator", False, "cli")
    assert [t.overdue for t in kb_rt.handoff.queue(admin)] == [True]


def test_a_made_up_conversation_id_creates_nothing(live_kb, kb_rt) -> None:
    from sqlalchemy import func, select

    from steward.store.models import Conversation, Turn

    server, keys = live_kb

    def counts() -> tuple[int, int]:
        with kb_rt.store.read() as s:
            return (
                s.execute(select(func.count()).select_from(Conversation)).scalar_one(),
                s.execute(select(func.count()).select_from(Turn)).scalar_one(),
            )

    before = counts()
    made_up = "01J00000000000000000000000"
    r = post(server, keys["cara"], "/v1/ask", {"question": "Fees?", "conversation_id": made_up})
    assert r.status_code == 404
    assert counts() == before
    first = post(server, keys["cara"], "/v1/ask", {"question": "How much is the monthly fee?"})
    assert counts() == (before[0] + 1, before[1] + 2)  # the conversation with its exchange
    conv = first.json()["conversation_id"]
    post(
        server, keys["cara"], "/v1/ask", {"question": "and the wire fee?", "conversation_id": conv}
    )
    assert counts() == (before[0] + 1, before[1] + 4)


def test_ticket_transcript_withholds_answers_from_documents_the_reviewer_may_not_read(
    kb_rt,
) -> None:
    """An answer in a ticket's transcript drawn from a restricted document (the test KB's
    ``finance``) is withheld from a reviewer outside that group; the asker's words stay."""
    import json

    from steward.audit.view import WITHHELD
    from steward.identity.auth import create_key, principal_for
    from steward.pipeline.orchestrator import ask
    from tests.test_audit_entitlements import BUDGET, _get

    fin = principal_for(kb_rt.store, "fin")
    first = ask(kb_rt, fin, BUDGET)
    assert first.action == "answer" and first.answer
    ticket_id = kb_rt.handoff.open(  # the asker asked for a person after that answer
        conversation_id=str(first.conversation_id),
        who=fin,
        reason="requested",
        detail="asked for a person",
        intent=None,
        signals=[],
        sources=[],
        audit_id=first.audit_id,
    )
    got = _get(kb_rt, create_key(kb_rt.store, "ops"), f"/v1/tickets/{ticket_id}")
    assert got.status_code == 200, got.text
    turns = got.json()["transcript"]
    assert turns[0]["role"] == "asker" and turns[0]["text"] == BUDGET
    answer = next(t for t in turns if t["audit_id"] == first.audit_id and t["role"] != "asker")
    assert answer["text"] == WITHHELD and first.answer not in json.dumps(got.json())
    listed = _get(kb_rt, create_key(kb_rt.store, "ops"), "/v1/tickets").json()
    assert first.answer not in json.dumps(listed)
