"""One audited decision path: every accepted question ends in one audit row (an `error` row
when a stage fails), a request's writes commit together or not at all, a streamed answer is
audited with its own route, and the request id ties the response, the audit row and the logs."""

from __future__ import annotations

import io
import json
import logging
import shutil
import threading
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from steward import audit
from steward.answering.providers.extractive import ExtractiveProvider
from steward.answering.providers.router import Routed, Router
from steward.identity.auth import create_key, principal_for
from steward.observability.logs import JsonFormatter
from steward.pipeline.orchestrator import ask, ask_stream
from steward.runtime import Runtime
from steward.store import Store
from steward.store.models import AuditRecord, Ticket, Turn
from steward.web.app import create_app
from tests.conftest import LiveServer
from tests.test_api import assert_error, post_ask
from tests.test_router import openai_model


def rows_of_request(rt: Runtime, request_id: str) -> list[AuditRecord]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.request_id == request_id)))


def count(rt: Runtime, model: type) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_search_failure_mid_request_is_audited_as_an_error_and_still_answers_503(
    live_kb, kb_rt: Runtime
) -> None:
    server, keys = live_kb
    # The store now says its vectors come from another model: search refuses mid-request.
    with kb_rt.store.write() as (s, _):
        Store.set_meta(s, "vector_space", "another-embedder-v9")
    resp = post_ask(server, keys["cara"], {"question": "How much does an international wire cost?"})
    err = assert_error(resp, 503, "embedder_mismatch")
    (row,) = rows_of_request(kb_rt, err["request_id"])
    assert row.action == "error" and row.kind == "question" and row.user_id == "cara"
    assert row.reason.startswith("error.embedder_mismatch:")
    assert "another-embedder-v9" not in row.reason and row.answer == ""  # the code, not the text
    assert audit.verify(kb_rt.store).ok


def streaming_body(lockstep: threading.Barrier, *pieces: str) -> Iterator[bytes]:
    """An OpenAI-style SSE stream that sends each piece only when the other stream reaches the
    same piece (``lockstep``): two streams interleave piece by piece, every time."""

    def chunk(delta: dict, finish: str | None) -> bytes:
        body = {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""}, None)
    for p in pieces:
        lockstep.wait(timeout=30)  # a broken barrier fails the stream, and so the test
        yield chunk({"content": p}, None)
    # As the OpenAI API ends a stream asked with include_usage: a last chunk with no choices.
    usage = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 7,
                                      "total_tokens": 127}}  # fmt: skip
    yield chunk({}, "stop") + f"data: {json.dumps(usage)}\n\n".encode() + b"data: [DONE]\n\n"


def streaming_model(name: str, lockstep: threading.Barrier, *pieces: str) -> object:
    def handler(request: httpx.Request) -> object:
        import httpx2

        return httpx2.Response(
            200,
            content=streaming_body(lockstep, *pieces),
            headers={"content-type": "text/event-stream"},
        )

    return openai_model(name, handler)


def test_two_concurrent_streamed_answers_each_audit_their_own_route(
    kb_home, tmp_path, make_runtime
) -> None:
    text = ("International ", "wires ", "cost ", "$45 ", "each ", "[1].")
    lockstep = threading.Barrier(2)
    router = Router(
        {
            "simple": Routed("small", streaming_model("small-model", lockstep, *text)),
            "complex": Routed("strong", streaming_model("strong-model", lockstep, *text)),
        },
        [Routed("extractive", ExtractiveProvider())],
    )
    shutil.copytree(kb_home, tmp_path / "h")
    rt: Runtime = make_runtime(tmp_path / "h", provider=router)
    key = create_key(rt.store, "cara")
    questions = {
        "small": "How much does an international wire cost?",
        "strong": "How much does an international wire cost, and how long does it take to arrive?",
    }
    audited: dict[str, str] = {}

    def stream(route: str) -> None:
        with httpx.stream(
            "POST",
            f"{server.url}/v1/chat/completions",
            json={
                "model": "steward",
                "stream": True,
                "messages": [{"role": "user", "content": questions[route]}],
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        ) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                chunk = json.loads(line[6:]) if line.startswith("data: {") else {}
                if "steward" in chunk:  # the last chunk carries the audit id
                    audited[route] = chunk["steward"]["audit_id"]

    with LiveServer(create_app(rt)) as server:
        for _ in range(3):
            audited.clear()
            workers = [threading.Thread(target=stream, args=(r,)) for r in questions]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            assert set(audited) == {"small", "strong"}
            for route, audit_id in audited.items():
                row = audit.get(rt.store, audit_id)
                assert row.settings["route"]["provider"] == route, row.settings["route"]
                assert row.model == f"{route}:{route}-model"
                # Billed from the usage the stream's last chunk reported.
                assert row.settings["tokens"] == [120, 7] and "usage" not in row.settings["route"]
            rt.cache.clear()  # the next round streams again rather than replaying the cache


def test_a_crash_between_the_audit_row_and_the_ticket_leaves_neither(kb_rt: Runtime) -> None:
    cara = principal_for(kb_rt.store, "cara")
    before = {m: count(kb_rt, m) for m in (AuditRecord, Turn, Ticket)}
    with kb_rt.store.raw() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER tickets_down BEFORE INSERT ON tickets "
            "BEGIN SELECT RAISE(ABORT, 'the ticket table is unavailable'); END"
        )
    with pytest.raises(sqlalchemy.exc.IntegrityError, match="ticket table is unavailable"):
        ask(kb_rt, cara, "There are charges on my card that I never made. What should I do?")
    assert {m: count(kb_rt, m) for m in (AuditRecord, Turn, Ticket)} == before
    # Once tickets can be written again, the same hand-off is audited with its ticket.
    with kb_rt.store.raw() as conn:
        conn.exec_driver_sql("DROP TRIGGER tickets_down")
    r = ask(kb_rt, cara, "There are charges on my card that I never made. What should I do?")
    assert r.action == "escalate" and r.ticket_id
    with kb_rt.store.read() as s:
        ticket = s.get(Ticket, r.ticket_id)
        assert ticket is not None and ticket.audit_id == r.audit_id
    assert audit.verify(kb_rt.store).ok


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Steward's log records, as the JSON lines the service writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("steward")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_request_id_is_in_the_response_the_audit_row_and_the_logs(
    live_kb, kb_rt: Runtime, log_lines: io.StringIO
) -> None:
    server, keys = live_kb
    q = {"question": "How much does an international wire cost?"}
    given = "3f2b8c1e-9a4d-4c2e-8f1a-2b3c4d5e6f70"
    resp = post_ask(server, keys["cara"], q, **{"X-Request-ID": given})
    rid = resp.headers["X-Request-ID"]
    # The server's own id, never the caller's (it could carry a card number's digits).
    assert resp.status_code == 200 and rid != given
    row = audit.get(kb_rt.store, resp.json()["audit_id"])
    assert row.request_id == rid
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == rid]
    assert any(line.get("audit_id") == row.id for line in mine), lines
    assert not any(line.get("request_id") == given for line in lines)
    # Two requests never share an id, whatever the caller sends.
    again = post_ask(server, keys["cara"], q, **{"X-Request-ID": rid})
    assert again.headers["X-Request-ID"] != rid


def test_asking_into_another_users_conversation_is_one_error_row(live_kb, kb_rt) -> None:
    """Found by the outside review: probing other askers' conversation ids left no trace."""
    server, keys = live_kb
    mine = post_ask(server, keys["cara"], {"question": "How much is the monthly fee?"}).json()
    before = count(kb_rt, AuditRecord)
    probe = {"question": "And the fee?", "conversation_id": mine["conversation_id"]}
    resp = post_ask(server, keys["sam"], probe)
    assert_error(resp, 404, "not_found")
    (row,) = rows_of_request(kb_rt, resp.headers["X-Request-ID"])
    assert (row.action, row.user_id) == ("error", "sam")
    assert row.reason.startswith("error.not_found:")
    assert row.settings["conversation_id"] is None  # not written into cara's conversation
    assert count(kb_rt, AuditRecord) == before + 1
    long_id = {"question": "And the fee?", "conversation_id": "c" * 5000}
    error = assert_error(post_ask(server, keys["sam"], long_id), 404, "not_found")
    assert len(error["message"]) < 200  # the input is not echoed whole


def test_a_streamed_question_is_audited_before_the_first_byte(live_kb, kb_rt) -> None:
    """Found by the outside review: a client that hung up after the headers of a streamed
    answer left no audit row. The question is now decided (and audited, for a model that does
    not stream) before the response starts, so there is a row whatever the client does."""
    server, keys = live_kb
    with httpx.stream(
        "POST",
        f"{server.url}/v1/chat/completions",
        json={
            "model": "steward",
            "stream": True,
            "messages": [{"role": "user", "content": "How much is the monthly fee?"}],
        },
        headers={"Authorization": f"Bearer {keys['cara']}"},
        timeout=60,
    ) as resp:
        assert resp.status_code == 200
        # Hang up without reading a byte of the body: the row is there already.
        (row,) = rows_of_request(kb_rt, resp.headers["X-Request-ID"])
    assert row.action == "answer"


def test_an_early_streaming_error_is_an_http_error_not_a_cut_stream(live_kb, kb_rt) -> None:
    server, keys = live_kb
    with kb_rt.store.write() as (s, _):
        Store.set_meta(s, "vector_space", "another-embedder-v9")
    resp = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={
            "model": "steward",
            "stream": True,
            "messages": [{"role": "user", "content": "Fee?"}],
        },
        headers={"Authorization": f"Bearer {keys['cara']}"},
        timeout=60,
    )
    assert_error(resp, 503, "embedder_mismatch")
    (row,) = rows_of_request(kb_rt, resp.headers["X-Request-ID"])
    assert row.action == "error"


def test_a_stream_abandoned_mid_answer_is_audited_with_what_was_shown(
    kb_home, tmp_path, make_runtime
) -> None:
    """A client that goes away while a model streams: the server closes the answer's
    generator, and the row records the ending and the verified sentence already sent."""
    text = ("International ", "wires ", "cost ", "$45 ", "each ", "[1].")
    free = threading.Barrier(1)  # one party: never waits
    model = streaming_model("small-model", free, *text)
    router = Router({"simple": Routed("small", model)}, [])
    shutil.copytree(kb_home, tmp_path / "h")
    rt: Runtime = make_runtime(tmp_path / "h", provider=router)
    cara = principal_for(rt.store, "cara")
    before = count(rt, AuditRecord)
    steps = ask_stream(rt, cara, "How much does an international wire cost?")
    first = next(steps)
    assert isinstance(first, str) and "$45" in first  # a verified sentence, mid-answer
    assert count(rt, AuditRecord) == before  # nothing decided yet
    steps.close()  # what the server does when the client hangs up
    with rt.store.read() as s:
        row = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
    assert count(rt, AuditRecord) == before + 1
    assert row is not None and row.action == "error"
    assert row.reason.startswith("error.client_disconnected:")
    assert row.answer == first
