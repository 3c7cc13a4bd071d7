"""Personal data typed into a question, or into a reviewer's reply, reaches no sink (issue #16,
point 2): not the audit trail, conversation turns, standalone rewrites, the answer cache, tickets,
log lines, the model's prompt, nor any file under the data home.

One value of every kind goes through the real ``ask`` path (a conversation, so follow-ups are
rewritten, and a repeat, so the cache is read and written) with an OpenAI-compatible model faked
at the transport, and through the real ticket flow over HTTP. Then every sink is read back.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import httpx
import httpx2
import pytest
from sqlalchemy import func, select, update

from steward import audit
from steward.answering.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import CacheEntry, Ticket, Turn, User

# One value of every kind, as typed.
VALUES = {
    "CARD": "4539 1488 0343 6467",
    "CVV": "7391",
    "EXPIRY": "11/29",
    "SSN": "536228726",
    "PASSPORT": "C03005988",
    "DRIVER_LICENSE": "D5512873",
    "IBAN": "GB82 WEST 1234 5698 7654 32",
    "ACCOUNT": "004471829301",
    "ROUTING": "021000021",
    "SORT_CODE": "20-45-77",
    "EMAIL": "zoe.ng@harbour.consulting",
    "PHONE": "07700 900461",
    "NAME": "Wilhelmina Oyelaran-Brooks",
    "ADDRESS": "4821 Larkspur Lane",
}
# Questions that carry them, a few kinds each, as an asker would type them.
QUESTIONS = [
    f"My name is {VALUES['NAME']} and my card {VALUES['CARD']} exp {VALUES['EXPIRY']} "
    f"cvv {VALUES['CVV']} was charged a fee, what is the monthly maintenance fee?",
    f"My SSN is {VALUES['SSN']}, passport {VALUES['PASSPORT']}, driver's license "
    f"{VALUES['DRIVER_LICENSE']}; what is the monthly fee?",
    f"Refund to iban {VALUES['IBAN']} or account number {VALUES['ACCOUNT']}, routing "
    f"{VALUES['ROUTING']}, sort code {VALUES['SORT_CODE']}: what is the monthly fee?",
    # A follow-up: rewritten into a standalone question from the one before.
    f"And what about the fee if you write to {VALUES['EMAIL']} or ring me on {VALUES['PHONE']}"
    f" at {VALUES['ADDRESS']}, Tucson, AZ 85704?",
]


def raw_forms(value: str) -> list[str]:
    """The value as typed, and its digits alone (how a store might normalise it)."""
    out = [value]
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6 and digits != value:
        out.append(digits)
    return out


# Whole values only: a CVV's four digits inside a hex digest or a timestamp are no leak.
PATTERNS = {
    k: re.compile("|".join(rf"(?<![\w]){re.escape(f)}(?![\w])" for f in raw_forms(v)))
    for k, v in VALUES.items()
}


def leaks(text: str) -> list[str]:
    """The kinds whose raw value appears in ``text``."""
    return [k for k, rx in PATTERNS.items() if rx.search(text)]


def home_files(rt: Runtime) -> dict[str, bytes]:
    """Every file under the data home: databases, their journals, logs, the vault."""
    home = Path(rt.settings.home)
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def rows_text(rt: Runtime) -> dict[str, str]:
    """Every row of every table, as text, by table name."""
    from steward.store.models import Base

    out: dict[str, str] = {}
    with rt.store.read() as s:
        for table in Base.metadata.sorted_tables:
            rows = s.execute(select(table)).all()
            out[table.name] = "\n".join(repr(tuple(r)) for r in rows)
    return out


def assert_no_sink_leaks(
    rt: Runtime, caplog: pytest.LogCaptureFixture, extra: dict[str, str]
) -> None:
    sinks = {f"table {t}": text for t, text in rows_text(rt).items()}
    sinks |= {f"file {n}": b.decode("utf-8", "replace") for n, b in home_files(rt).items()}
    # The message and every structured field a handler could write.
    sinks["log lines"] = "\n".join(
        r.getMessage() + json.dumps(vars(r), default=str) for r in caplog.records
    )
    sinks |= extra
    found = {name: kinds for name, text in sinks.items() if (kinds := leaks(text))}
    assert not found, found


class FakeModel:
    """An OpenAI-compatible endpoint that records every request body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(request.content.decode())
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "The monthly fee is $12 [1]."},
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }
        return httpx2.Response(200, json=reply)


@pytest.fixture
def model_rt(kb_home: Path, tmp_path: Path, make_runtime) -> tuple[Runtime, FakeModel]:  # type: ignore[no-untyped-def]
    model = FakeModel()
    provider = OpenAICompatProvider(
        OpenAIOptions(base_url="http://llm.invalid/v1", model="m"),
        http_client=httpx2.Client(transport=httpx2.MockTransport(model)),
    )
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    rt: Runtime = make_runtime(home, provider=provider)
    return rt, model


def test_values_typed_into_questions_reach_no_sink(model_rt, caplog) -> None:  # type: ignore[no-untyped-def]
    rt, model = model_rt
    caplog.set_level(logging.DEBUG, logger="steward")
    cara = principal_for(rt.store, "cara")
    first = ask(rt, cara, QUESTIONS[0])
    conv = first.conversation_id
    assert conv
    later = [ask(rt, cara, q, conversation_id=conv) for q in QUESTIONS[1:]]
    ask(rt, cara, QUESTIONS[1])  # a repeat, in a new conversation: read from the cache
    assert model.bodies, "the model was never asked"
    row = audit.get(rt.store, first.audit_id)
    assert "<NAME_" in row.question and "<CVV>" in row.question, row.question
    with rt.store.read() as s:
        turns = list(s.scalars(select(Turn).where(Turn.conversation_id == conv)))
    assert any(t.standalone and t.standalone != t.text for t in turns)  # a rewrite was stored
    assert later[-1].action == "answer"
    with rt.store.read() as s:
        assert s.scalar(select(func.count()).select_from(CacheEntry))  # the cache was written
    assert_no_sink_leaks(rt, caplog, {f"model request {i}": b for i, b in enumerate(model.bodies)})


def test_values_in_a_ticket_and_the_reviewers_reply_reach_no_sink(live_kb, kb_rt, caplog) -> None:  # type: ignore[no-untyped-def]
    server, keys = live_kb
    caplog.set_level(logging.DEBUG, logger="steward")
    with kb_rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == "nora").values(access="reviewer"))

    def call(user: str, path: str, body: object | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {keys[user]}"}
        url = f"{server.url}{path}"
        if body is None:
            r = httpx.get(url, headers=headers, timeout=60)
        else:
            r = httpx.post(url, json=body, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        return r

    fraud = (
        f"Someone used my card {VALUES['CARD']} exp {VALUES['EXPIRY']} cvv {VALUES['CVV']} for "
        f"purchases I never made! I am {VALUES['NAME']}, SSN {VALUES['SSN']}, call me on "
        f"{VALUES['PHONE']}."
    )
    first = call("cara", "/v1/ask", {"question": fraud}).json()
    assert first["action"] == "escalate" and first["ticket_id"], first
    conv, ticket = first["conversation_id"], first["ticket_id"]
    more = (
        f"Also my passport {VALUES['PASSPORT']}, driver's license {VALUES['DRIVER_LICENSE']}, "
        f"iban {VALUES['IBAN']}, account number {VALUES['ACCOUNT']}, routing "
        f"{VALUES['ROUTING']}, sort code {VALUES['SORT_CODE']}, e-mail {VALUES['EMAIL']}, "
        f"address {VALUES['ADDRESS']}, Tucson, AZ 85704."
    )
    call("cara", "/v1/ask", {"question": more, "conversation_id": conv})
    # The OpenAI-compatible endpoint, plain and streamed, is the same ask path.
    for stream in (False, True):
        chat = {
            "model": "steward",
            "stream": stream,
            "messages": [{"role": "user", "content": f"{more} What is the monthly fee?"}],
        }
        call("cara", "/v1/chat/completions", chat)
    call("nora", f"/v1/tickets/{ticket}/claim", {})
    reply = (
        f"Dear {VALUES['NAME']}, card {VALUES['CARD']} (exp {VALUES['EXPIRY']}, cvv "
        f"{VALUES['CVV']}) is blocked; we will ring {VALUES['PHONE']} and write to "
        f"{VALUES['EMAIL']} at {VALUES['ADDRESS']}. Account number {VALUES['ACCOUNT']}, "
        f"SSN {VALUES['SSN']}, passport {VALUES['PASSPORT']}, driver's license "
        f"{VALUES['DRIVER_LICENSE']}, iban {VALUES['IBAN']}, routing {VALUES['ROUTING']}, "
        f"sort code {VALUES['SORT_CODE']}."
    )
    call("nora", f"/v1/tickets/{ticket}/answer", {"text": reply})
    views = {
        "ticket view": call("nora", f"/v1/tickets/{ticket}").text,
        "ticket list": call("nora", "/v1/tickets").text,
        "conversation view": call("cara", f"/v1/conversations/{conv}").text,
    }
    with kb_rt.store.read() as s:
        row = s.get(Ticket, ticket)
        assert row is not None and row.status == "answered", row
    assert "<CARD" in views["conversation view"]  # the reply reached the asker, masked
    assert_no_sink_leaks(kb_rt, caplog, views)


def test_an_abstention_does_not_repeat_the_numbers_it_searched_for(kb_rt: Runtime) -> None:
    """The fifth outside review: "I searched ... for: geboren, 17, 08, 1969" repeated a date of
    birth the masker had missed, and the answer cache kept it again."""
    r = ask(
        kb_rt,
        principal_for(kb_rt.store, "cara"),
        "What does the zorblax code 77341 9182 mean for my quibble plan?",
        channel="test",
    )
    assert r.action == "abstain", (r.action, r.reason)
    assert "zorblax" in r.answer and "77341" not in r.answer and "9182" not in r.answer


def test_a_token_the_asker_types_is_stored_as_no_token(kb_rt: Runtime) -> None:
    """The seventh outside review: "<NAME_2>" typed into a question was stored as typed, the
    same as a token masking wrote, so a reader (or a reveal) could take it for another
    customer's masked name. Typed ones lose their brackets; the real one keeps them."""
    r = ask(
        kb_rt,
        principal_for(kb_rt.store, "cara"),
        "Is the fee for <NAME_2> and <EXPIRY> waived? My card 4539 1488 0343 6467",
        channel="test",
    )
    stored = audit.get(kb_rt.store, r.audit_id).question
    assert "<NAME_2>" not in stored and "‹NAME_2›" in stored and "‹EXPIRY›" in stored
    assert re.search(r"<CARD_\d+>", stored) and "6467" not in stored
