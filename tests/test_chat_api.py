"""What the chat page reads from the API (issue #19, point 4), over real HTTP on the demo store.

A cited passage opens only for someone who may read it now (any other is the same 404 as a
passage that does not exist, and the attempt is on the record); conversations are their asker's
alone; the streamed answer keeps /v1/ask's rules (one audit row, 404 before anything streams for
another asker's conversation, CSRF for a browser session).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from steward.runtime import Runtime
from steward.store.models import AuditRecord, Chunk, Document
from tests.conftest import LiveServer

FRAUD = "Someone is using my card 4111 1111 1111 1111 for payments I never made!"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chunk_of(rt: Runtime, doc_id: str, current: bool = True) -> int:
    with rt.store.read() as s:
        found = s.scalar(
            select(Chunk.id)
            .join(Document, Document.id == Chunk.document_id)
            .where(Document.doc_id == doc_id)
            .order_by(Chunk.ordinal)
            .limit(1)
        )
    assert found is not None, doc_id
    return int(found)


def passage(server: LiveServer, key: str, chunk_id: int) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/passages/{chunk_id}", headers=auth(key))


def stream(server: LiveServer, key: str, question: str, conv: str | None = None) -> list[Any]:
    body = {"question": question, **({"conversation_id": conv} if conv else {})}
    r = httpx.post(f"{server.url}/v1/ask/stream", json=body, headers=auth(key), timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def without_id(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    body["error"].pop("request_id")
    return body


def test_a_readable_passage_opens_with_title_section_date_and_version(
    live_demo: tuple[LiveServer, dict[str, str]], demo_rt: Runtime
) -> None:
    server, keys = live_demo
    r = passage(server, keys["cust-lena"], chunk_of(demo_rt, "pub-deductibles-explained"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "Deductibles Explained" and body["updated"] == "2025-02-03"
    # The section is the heading below the title, which is not repeated.
    assert not body["section"].startswith("Deductibles Explained")
    assert len(body["version"]) == 16 and body["text"]
    assert "doc_id" not in body and "pub-deductibles-explained" not in r.text  # no internal ids


def test_a_passage_the_asker_may_not_read_is_the_same_404_as_none(
    live_demo: tuple[LiveServer, dict[str, str]], demo_rt: Runtime
) -> None:
    server, keys = live_demo
    restricted = chunk_of(demo_rt, "rst-siu-referral-thresholds")
    internal = chunk_of(demo_rt, "int-center-seattle")
    claim = chunk_of(demo_rt, "claim:CLM-2001")
    nothing = passage(server, keys["cust-lena"], 10_000_000)
    assert nothing.status_code == 404
    for chunk_id in (restricted, internal, claim):
        denied = passage(server, keys["cust-lena"], chunk_id)
        assert denied.status_code == 404, chunk_id
        # No oracle: only the number asked for differs.
        assert without_id(denied) == json.loads(
            json.dumps(without_id(nothing)).replace("10000000", str(chunk_id))
        )
        assert "SIU" not in denied.text and "Seattle" not in denied.text
    # A staff member of another group or another center is refused the same way.
    assert passage(server, keys["agent-rita"], restricted).status_code == 404
    assert passage(server, keys["agent-sam"], internal).status_code == 404  # Tampa, not Seattle
    assert passage(server, keys["agent-rita"], internal).status_code == 200
    assert passage(server, keys["siu-maya"], restricted).status_code == 200
    # Each refused attempt is on the record.
    with demo_rt.store.read() as s:
        denials = list(
            s.scalars(
                select(AuditRecord).where(
                    AuditRecord.kind == "access-denied", AuditRecord.user_id == "cust-lena"
                )
            )
        )
    assert {d.target for d in denials} >= {f"passage:{c}" for c in (restricted, internal, claim)}


def test_a_superseded_passage_is_no_longer_opened(
    live_demo: tuple[LiveServer, dict[str, str]], demo_rt: Runtime
) -> None:
    server, keys = live_demo
    old = chunk_of(demo_rt, "pub-deductible-options-2024")
    assert passage(server, keys["cust-lena"], old).status_code == 404


def test_a_claim_passage_is_shown_masked(
    live_demo: tuple[LiveServer, dict[str, str]], demo_rt: Runtime
) -> None:
    server, keys = live_demo
    r = passage(server, keys["agent-rita"], chunk_of(demo_rt, "claim:CLM-2001"))
    assert r.status_code == 200, r.text
    for raw in ("Nadia Okafor", "nadia.okafor@example.com", "555-0111", "4111 5260"):
        assert raw not in r.text
    assert "<NAME_" in r.text or "<EMAIL_" in r.text  # staff see numbered tokens


def test_the_stream_sends_the_answer_in_pieces_then_the_response(
    live_demo: tuple[LiveServer, dict[str, str]], demo_rt: Runtime
) -> None:
    server, keys = live_demo
    lines = stream(server, keys["cust-lena"], "How much does roadside assistance cost?")
    deltas = [line["text"] for line in lines if line["type"] == "delta"]
    *_, done = lines
    assert done["type"] == "done" and done["response"]["action"] == "answer"
    assert "".join(deltas) == done["response"]["answer"] and "$16" in "".join(deltas)
    (cite,) = done["response"]["citations"]
    assert set(cite) == {"n", "chunk_id", "title", "section", "updated", "version"}
    with demo_rt.store.read() as s:
        row = s.get(AuditRecord, done["response"]["audit_id"])
    assert row is not None and row.channel == "chat" and row.user_id == "cust-lena"


def test_a_streamed_hand_off_streams_no_internal_wording(
    live_demo: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_demo
    lines = stream(server, keys["cust-lena"], FRAUD)
    assert [line["type"] for line in lines] == ["done"]  # nothing shown before the decision
    response = lines[0]["response"]
    assert response["action"] == "escalate" and response["ticket"]["status"] == "open"
    assert response["ticket"]["id"].endswith(response["ticket"]["reference"])
    again = stream(server, keys["cust-lena"], FRAUD, response["conversation_id"])
    assert again[-1]["response"]["ticket"]["id"] == response["ticket"]["id"]  # one ticket


def test_the_stream_into_another_askers_conversation_is_404_before_it_starts(
    live_demo: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_demo
    conv = stream(server, keys["cust-lena"], "How much does roadside assistance cost?")[-1][
        "response"
    ]["conversation_id"]
    r = httpx.post(
        f"{server.url}/v1/ask/stream",
        json={"question": "and how often can I use it?", "conversation_id": conv},
        headers=auth(keys["cust-omar"]),
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_browser_session_streams_only_with_its_csrf_token(
    live_demo: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_demo
    with httpx.Client(base_url=server.url) as browser:
        signed = browser.post("/v1/session", json={"api_key": keys["cust-lena"]})
        assert signed.status_code == 201, signed.text
        body = {"question": "How much does roadside assistance cost?"}
        forged = browser.post("/v1/ask/stream", json=body)
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
        token = {"X-CSRF-Token": signed.json()["csrf_token"]}
        ok = browser.post("/v1/ask/stream", json=body, headers=token)
        assert ok.status_code == 200 and '"type": "done"' in ok.text


def test_conversations_are_listed_for_their_asker_only(
    live_demo: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_demo
    first = stream(server, keys["cust-lena"], "My number is +1-206-555-0190. What is the late fee?")
    second = stream(server, keys["cust-lena"], FRAUD)
    stream(server, keys["cust-omar"], "How much does roadside assistance cost?")
    lena = httpx.get(f"{server.url}/v1/conversations", headers=auth(keys["cust-lena"])).json()
    omar = httpx.get(f"{server.url}/v1/conversations", headers=auth(keys["cust-omar"])).json()
    ids = [c["id"] for c in lena]
    assert ids == [
        second[-1]["response"]["conversation_id"],
        first[-1]["response"]["conversation_id"],
    ]
    assert len(omar) == 1 and omar[0]["id"] not in ids
    assert "0190" not in json.dumps(lena) and "4111" not in json.dumps(lena)  # masked
    assert lena[0]["ticket"]["status"] == "open" and lena[1]["ticket"] is None
    # Another asker's conversation reads as one that does not exist.
    foreign = httpx.get(f"{server.url}/v1/conversations/{ids[0]}", headers=auth(keys["cust-omar"]))
    assert foreign.status_code == 404


def test_a_conversation_reads_back_with_its_sources_and_ticket(
    live_demo: tuple[LiveServer, dict[str, str]],
) -> None:
    server, keys = live_demo
    done = stream(server, keys["cust-lena"], "How much does roadside assistance cost?")[-1]
    conv = done["response"]["conversation_id"]
    stream(server, keys["cust-lena"], FRAUD, conv)
    view = httpx.get(f"{server.url}/v1/conversations/{conv}", headers=auth(keys["cust-lena"]))
    assert view.status_code == 200, view.text
    turns = view.json()["turns"]
    assert [t["role"] for t in turns] == ["asker", "assistant", "asker", "assistant"]
    assert turns[1]["citations"] == done["response"]["citations"]
    assert turns[1]["audit_id"] == done["response"]["audit_id"] and turns[1]["confidence"] > 0
    assert turns[0]["citations"] == [] and turns[3]["action"] == "escalate"
    assert view.json()["ticket"]["status"] == "open"
