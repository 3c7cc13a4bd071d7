"""One ticket per conversation, and what the asker sees while a person has it (issue #16, 7-8).

Over real HTTP against the test knowledge base: a conversation handed to people keeps one ticket
while it is being worked; what the asker writes meanwhile goes to that ticket, not to the bot;
the reviewer's reply keeps the organisation's published contact points readable.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from steward import audit
from steward.identity.auth import create_key
from steward.runtime import Runtime
from steward.store.models import Ticket, User
from steward.web.app import create_app
from tests.conftest import LiveServer

FRAUD = [
    "Someone used my card 4111 1111 1111 1111 for purchases I never made!",
    "There is another charge I never made on my card, this is fraud.",
    "My card was stolen and used for purchases I did not authorise.",
]
HOTLINE, DESK = "1-800-555-0100", "fraud-desk@harborbank.com"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(server: LiveServer, key: str, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=auth(key), timeout=60)


def ask(server: LiveServer, key: str, question: str, conv: str | None = None) -> dict:
    body = {"question": question, **({"conversation_id": conv} if conv else {})}
    r = post(server, key, "/v1/ask", body)
    assert r.status_code == 200, r.text
    return r.json()


def reason_of(rt: Runtime, response: dict) -> str | None:
    """The escalation reason the audit row keeps (a customer's response carries none)."""
    return audit.get(rt.store, response["audit_id"]).escalation_reason


def tickets_of(rt: Runtime, conv: str) -> list[Ticket]:
    with rt.store.read() as s:
        return list(s.scalars(select(Ticket).where(Ticket.conversation_id == conv)))


def make_reviewer(rt: Runtime, user: str = "nora") -> None:
    with rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == user).values(access="reviewer"))


@pytest.fixture
def published(kb_home: Path, tmp_path: Path, make_runtime) -> Iterator[tuple[LiveServer, dict]]:
    """The test knowledge base with the bank's published contact points configured."""
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    rt: Runtime = make_runtime(
        home, published_contacts=r"1-800-555-\d{4}|fraud-desk@harborbank\.com"
    )
    make_reviewer(rt)
    keys = {u: create_key(rt.store, u) for u in ("cara", "nora")}
    with LiveServer(create_app(rt)) as server:
        yield server, keys


def test_three_fraud_messages_in_one_conversation_make_one_ticket(live_kb, kb_rt) -> None:
    server, keys = live_kb
    first = ask(server, keys["cara"], FRAUD[0])
    conv, ticket_id = first["conversation_id"], first["ticket_id"]
    assert first["action"] == "escalate" and ticket_id
    # The reason is for staff: told "reason: fraud" (or "mule"), a customer is tipped off.
    # The reason is kept for staff (ticket, audit row); the customer is not told it.
    assert reason_of(kb_rt, first) == "fraud" and first["escalation_reason"] is None
    assert "fraud" not in first["answer"].lower() and "fraud" not in first["reason"].lower()
    for text in FRAUD[1:]:
        later = ask(server, keys["cara"], text, conv)
        assert later["action"] == "escalate" and later["ticket_id"] == ticket_id
    (ticket,) = tickets_of(kb_rt, conv)
    assert (ticket.priority, ticket.reason, ticket.status) == ("p1", "fraud", "open")
    make_reviewer(kb_rt)
    view = httpx.get(f"{server.url}/v1/tickets/{ticket_id}", headers=auth(keys["nora"])).json()
    asked = [t["text"] for t in view["transcript"] if t["role"] == "asker"]
    assert len(asked) == 3 and "4111" not in str(view)  # every message, masked, on one ticket


def test_a_more_urgent_reason_raises_the_joined_tickets_priority(live_kb, kb_rt) -> None:
    server, keys = live_kb
    legal = ask(server, keys["cara"], "My attorney will sue you over these fees.")
    assert reason_of(kb_rt, legal) == "legal"
    (before,) = tickets_of(kb_rt, legal["conversation_id"])
    assert before.priority == "p2"
    fraud = ask(server, keys["cara"], FRAUD[1], legal["conversation_id"])
    assert fraud["ticket_id"] == legal["ticket_id"]
    (after,) = tickets_of(kb_rt, legal["conversation_id"])
    assert (after.priority, after.reason) == ("p1", "fraud")
    assert after.due_at <= before.due_at  # the earlier deadline wins
    assert "legal" in after.detail and "fraud" in after.detail
    assert set(after.signals) >= {"legal", "fraud"}


def test_a_follow_up_while_a_person_has_the_conversation_goes_to_the_ticket(live_kb, kb_rt) -> None:
    server, keys = live_kb
    make_reviewer(kb_rt)
    first = ask(server, keys["cara"], FRAUD[0])
    conv, ticket_id = first["conversation_id"], first["ticket_id"]
    # A question the bot could answer on its own still goes to the person who has the case.
    later = ask(server, keys["cara"], "How much is the monthly maintenance fee?", conv)
    assert (later["action"], reason_of(kb_rt, later)) == ("escalate", "review")
    assert later["ticket_id"] == ticket_id and later["citations"] == []
    assert "A person has your conversation" in later["answer"]
    row = audit.get(kb_rt.store, later["audit_id"])
    assert (row.action, row.escalation_reason) == ("escalate", "review")
    (ticket,) = tickets_of(kb_rt, conv)
    assert (ticket.priority, ticket.reason) == ("p1", "fraud")  # review never lowers it
    # Once answered, a new message sends the ticket back to its reviewer.
    post(server, keys["nora"], f"/v1/tickets/{ticket_id}/claim", {})
    post(server, keys["nora"], f"/v1/tickets/{ticket_id}/answer", {"text": "Card blocked."})
    again = ask(server, keys["cara"], "Thanks, when does the new card arrive?", conv)
    assert again["ticket_id"] == ticket_id
    (ticket,) = tickets_of(kb_rt, conv)
    assert (ticket.status, ticket.assignee) == ("claimed", "nora")


def test_after_resolution_a_bare_follow_up_is_not_a_new_fraud_ticket(live_kb, kb_rt) -> None:
    """The outside reviewer's case: "and what about it?" in a closed conversation used to be
    rewritten from the old fraud report and opened a second P1 ticket for a handled matter."""
    server, keys = live_kb
    make_reviewer(kb_rt)
    first = ask(server, keys["cara"], FRAUD[0])
    conv, ticket_id = first["conversation_id"], first["ticket_id"]
    post(server, keys["nora"], f"/v1/tickets/{ticket_id}/claim", {})
    post(server, keys["nora"], f"/v1/tickets/{ticket_id}/answer", {"text": "Card blocked."})
    post(server, keys["nora"], f"/v1/tickets/{ticket_id}/resolve", {})
    follow = ask(server, keys["cara"], "and what about it?", conv)
    assert reason_of(kb_rt, follow) != "fraud"
    assert [t.id for t in tickets_of(kb_rt, conv) if t.priority == "p1"] == [ticket_id]
    # A new report in its own words, in the closed conversation, is a new ticket.
    new = ask(server, keys["cara"], FRAUD[2], conv)
    assert reason_of(kb_rt, new) == "fraud" and new["ticket_id"] not in (None, ticket_id)


def test_the_reviewers_reply_keeps_the_banks_published_contacts_readable(published) -> None:
    server, keys = published
    asked = ask(server, keys["cara"], FRAUD[0])
    ticket_id = asked["ticket_id"]
    post(server, keys["nora"], f"/v1/tickets/{ticket_id}/claim", {})
    reply = (
        f"Please call our fraud line on {HOTLINE} or write to {DESK}. "
        "We will call you back at +1-206-555-0188."
    )
    assert post(server, keys["nora"], f"/v1/tickets/{ticket_id}/answer", {"text": reply})
    conv = httpx.get(
        f"{server.url}/v1/conversations/{asked['conversation_id']}", headers=auth(keys["cara"])
    ).json()
    shown = conv["turns"][-1]["text"]
    assert HOTLINE in shown and DESK in shown  # the bank's own contact points
    # A person's number is still masked (a customer sees its kind, not its number).
    assert "0188" not in shown and "<PHONE>" in shown


def test_the_chat_pages_stream_does_not_tell_a_customer_why(live_kb, kb_rt) -> None:
    """The fifth outside review: the `done` line of /v1/ask/stream carried
    `"escalation_reason": "fraud"` and the detector's wording to the customer's browser."""
    server, keys = live_kb
    r = post(server, keys["cara"], "/v1/ask/stream", {"question": FRAUD[0]})
    assert r.status_code == 200, r.text
    done = [json.loads(line) for line in r.text.splitlines() if '"done"' in line][-1]["response"]
    assert done["action"] == "escalate" and done["ticket_id"]
    assert done["escalation_reason"] is None and done["reason"] == "handed to a person"
    assert "fraud" not in r.text.lower().replace(FRAUD[0].lower(), "")
    assert reason_of(kb_rt, done) == "fraud"  # the audit row keeps it for staff
