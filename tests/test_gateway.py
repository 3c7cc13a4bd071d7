"""The OpenAI-compatible gateway, driven by the official `openai` client over real HTTP."""

from __future__ import annotations

import openai
import pytest

from steward import audit


def client(server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def test_official_client_gets_a_cited_answer(live_kb, kb_rt) -> None:
    server, keys = live_kb
    r = client(server, keys["cara"]).chat.completions.create(
        model="steward",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "How much does an international wire cost?"},
        ],
    )
    content = r.choices[0].message.content or ""
    assert "$45" in content and "Sources:" in content and "(pub-fees)" in content
    extra = r.model_extra["steward"]
    assert extra["action"] == "answer" and extra["citations"][0]["doc_id"] == "pub-fees"
    tokens = audit.get(kb_rt.store, extra["audit_id"]).settings["tokens"]
    assert r.usage is not None
    assert [r.usage.prompt_tokens, r.usage.completion_tokens] == tokens
    assert r.usage.total_tokens == sum(tokens)


def test_official_client_gets_a_streamed_answer(live_kb) -> None:
    server, keys = live_kb
    stream = client(server, keys["cara"]).chat.completions.create(
        model="steward",
        stream=True,
        messages=[{"role": "user", "content": "How much does an international wire cost?"}],
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish, usage = chunk.choices[0].finish_reason, chunk.usage
    text = "".join(pieces)
    assert len(pieces) > 1 and finish == "stop"
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert "$45" in text and "(pub-fees)" in text


def test_bad_key_is_a_clean_401(live_kb) -> None:
    server, _ = live_kb
    with pytest.raises(openai.AuthenticationError) as info:
        client(server, "stw_wrong").chat.completions.create(
            model="steward", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 401


def test_permissions_and_guards_apply_through_the_gateway(live_kb) -> None:
    server, keys = live_kb
    q = [{"role": "user", "content": "What is the marketing budget for next year?"}]
    sam = client(server, keys["sam"]).chat.completions.create(model="steward", messages=q)
    assert "7.3" not in (sam.choices[0].message.content or "")
    streamed = client(server, keys["sam"]).chat.completions.create(
        model="steward", messages=q, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert "7.3" not in text and "Bluefin" not in text
    fin = client(server, keys["fin"]).chat.completions.create(model="steward", messages=q)
    assert "$7.3 million" in (fin.choices[0].message.content or "")


def test_history_in_messages_resolves_a_follow_up(live_kb) -> None:
    server, keys = live_kb
    r = client(server, keys["cara"]).chat.completions.create(
        model="steward",
        messages=[
            {"role": "user", "content": "How much does a domestic wire cost?"},
            {"role": "assistant", "content": "Outgoing domestic wires cost $25 each."},
            {"role": "user", "content": "and an international one?"},
        ],
    )
    assert "$45" in (r.choices[0].message.content or "")


def test_unknown_profile_and_bad_messages(live_kb) -> None:
    server, keys = live_kb
    c = client(server, keys["cara"])
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(
            model="steward", messages=[{"role": "system", "content": "only a system turn"}]
        )
    assert [m.id for m in c.models.list()] == ["steward"]


def test_a_long_earlier_message_is_cut_to_the_questions_limit(live_kb, kb_rt) -> None:
    """The review: a 50,000-character first message made its follow-up cost 14 s and stored it
    whole in the audit row. Only its last question-limit characters are context now."""
    server, keys = live_kb
    filler = "Some background about my finances. " * 1400  # about 49,000 characters
    r = client(server, keys["cara"]).chat.completions.create(
        model="steward",
        messages=[
            {"role": "user", "content": filler + "How much does a domestic wire cost?"},
            {"role": "assistant", "content": "Outgoing domestic wires cost $25 each."},
            {"role": "user", "content": "and an international one?"},
        ],
    )
    stored = audit.get(kb_rt.store, r.model_extra["steward"]["audit_id"]).question
    limit = kb_rt.settings.policy.max_question_chars
    assert len(stored) <= 2 * limit + 100 and "international" in stored


def test_the_earlier_message_is_cut_where_a_sentence_ends_never_inside_a_value(
    live_kb, kb_rt
) -> None:
    """The second look at the review: cut at a fixed length before masking, "cvv 481" became
    "vv 481" and was stored as typed. The cut is made where a sentence ends."""
    server, keys = live_kb
    limit = kb_rt.settings.policy.max_question_chars
    head = "I have a question about my card. " * 200 + "cvv 481"
    tail = (" ok" * limit)[: limit - 6]  # a cut at the limit would land inside "cvv"
    assert (head + tail)[-limit:].startswith("vv 481")
    r = client(server, keys["cara"]).chat.completions.create(
        model="steward",
        messages=[
            {"role": "user", "content": head + tail},
            {"role": "user", "content": "and the grace period?"},
        ],
    )
    stored = audit.get(kb_rt.store, r.model_extra["steward"]["audit_id"]).question
    assert "481" not in stored and "vv" not in stored
