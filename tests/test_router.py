"""Routing, retries, the circuit breaker and costs. Paid APIs are faked at the transport only."""

from __future__ import annotations

import json
import shutil

import httpx2 as httpx
import numpy as np
import pytest

from steward import audit
from steward.answering.providers.anthropic import AnthropicOptions, AnthropicProvider
from steward.answering.providers.base import AnswerRequest
from steward.answering.providers.extractive import ExtractiveProvider
from steward.answering.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from steward.answering.providers.router import (
    CircuitBreaker,
    Price,
    RetryPolicy,
    Routed,
    Router,
    complexity,
    load_router,
)
from steward.core.errors import ConfigError, ProviderError
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask


def chat(text: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
    }


class Counter:
    """Counts calls to a fake endpoint and answers from a script."""

    def __init__(self, *replies: tuple[int, dict]) -> None:
        self.replies = list(replies)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        status, body = self.replies[min(self.calls - 1, len(self.replies) - 1)]
        return httpx.Response(status, json=body)


def openai_model(name: str, handler) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        OpenAIOptions(base_url="http://llm.invalid/v1", model=name),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def req(question: str, parts: list[str] | None = None) -> AnswerRequest:
    return AnswerRequest(
        question,
        parts or [question],
        np.zeros(384, np.float32),
        np.zeros((1, 384), np.float32),
        [],
        {},
    )


def test_complexity_routes_compound_and_long_questions() -> None:
    assert complexity(req("How much is a wire?")) == "simple"
    assert (
        complexity(
            req(
                "What is the fee, and how long does it take?",
                ["What is the fee", "how long does it take"],
            )
        )
        == "complex"
    )


def test_retries_then_falls_back_and_costs_are_counted(kb_home, tmp_path, make_runtime) -> None:
    small = Counter((500, {"error": {"message": "down"}}))
    strong = Counter((200, chat("International wires cost $45 each [1].")))
    sleeps: list[float] = []
    router = Router(
        {
            "simple": Routed("small", openai_model("small", small)),
            "complex": Routed("strong", openai_model("strong", strong)),
        },
        [
            Routed("strong", openai_model("strong", strong), Price(3.0, 15.0)),
            Routed("extractive", ExtractiveProvider()),
        ],
        RetryPolicy(attempts=3, backoff_s=0.1),
        sleep=sleeps.append,
    )
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", provider=router)
    r = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    assert r.action == "answer" and "$45" in r.answer
    assert small.calls == 3 and sleeps == [0.1, 0.2]  # retried with backoff, then moved on
    row = audit.get(rt.store, r.audit_id)
    route = row.settings["route"]
    assert route["provider"] == "strong" and route["tried"] == ["small: provider_unavailable"]
    assert route["cost_usd"] == pytest.approx(1000 / 1000 * 3.0 + 200 / 1000 * 15.0)
    assert row.settings["tokens"] == [1000, 200] and row.model == "strong:strong"
    assert "answered by strong" in row.settings["degraded"]


def test_breaker_opens_and_skips_a_failing_provider() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=30, clock=lambda: now[0])
    bad = Counter((503, {"error": {"message": "busy"}}))
    router = Router(
        {"simple": Routed("bad", openai_model("bad", bad), breaker=breaker)},
        [Routed("extractive", ExtractiveProvider())],
        RetryPolicy(attempts=1),
        sleep=lambda _s: None,
    )
    for _ in range(2):
        router.complete(req("q"))
    assert breaker.state == "open" and bad.calls == 2
    router.complete(req("q"))
    assert bad.calls == 2 and router.last["tried"] == ["bad: circuit open"]
    now[0] = 31.0
    assert breaker.state == "half-open"
    router.complete(req("q"))
    assert bad.calls == 3  # one trial call after the cooldown


def test_no_provider_left_is_an_error_not_an_answer() -> None:
    bad = Counter((500, {}))
    router = Router(
        {"simple": Routed("bad", openai_model("bad", bad))}, [], RetryPolicy(attempts=1)
    )
    with pytest.raises(ProviderError, match="every provider in the chain failed"):
        router.complete(req("q"))


def test_anthropic_provider_speaks_the_messages_api(kb_home, tmp_path, make_runtime) -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [{"type": "text", "text": "International wires cost $45 each. [1]"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 321, "output_tokens": 12},
            },
        )

    provider = AnthropicProvider(
        AnthropicOptions(model="claude-x", api_key="k"),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", provider=provider)
    r = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    assert r.action == "answer" and "$45" in r.answer and r.citations[0].doc_id == "pub-fees"
    assert seen[0]["system"].startswith("You are a careful assistant")
    assert "<<<" in seen[0]["messages"][0]["content"]
    assert audit.get(rt.store, r.audit_id).settings["tokens"] == [321, 12]


def test_providers_file_is_validated(tmp_path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text(
        "models:\n  small: {kind: openai, base_url: 'http://127.0.0.1:9/v1', "
        "model: m, price_in: 0.1}\nroute: {simple: small, complex: small}\n"
        "fallback: [extractive]\nbreaker: {failures: 5}\n"
    )
    router = load_router(good, 10)
    assert router.routes["simple"].price.per_1k_in == 0.1
    assert router.routes["simple"].breaker.failures == 5
    bad = tmp_path / "b.yaml"
    bad.write_text("models: {}\nroute: {simple: nope}\n")
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        load_router(bad, 10)
    bad.write_text("models: {a: {kind: openai, modle: x}}\nroute: {simple: a}\n")
    with pytest.raises(ConfigError, match="modle"):
        load_router(bad, 10)


def sse(*pieces: str) -> bytes:
    def chunk(delta: dict, finish: str | None) -> str:
        body = {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    out = chunk({"role": "assistant", "content": ""}, None)
    out += "".join(chunk({"content": p}, None) for p in pieces)
    return (out + chunk({}, "stop") + "data: [DONE]\n\n").encode()


@pytest.mark.parametrize("low_confidence_action", ["abstain", "escalate"])
def test_a_weak_streamed_answer_still_goes_where_the_policy_says(
    kb_home, tmp_path, make_runtime, low_confidence_action
) -> None:
    """One supported sentence, two made up: only the supported one is streamed, and the
    turn ends as the policy's low-confidence action, not as an answer."""
    from steward.pipeline.orchestrator import ask_stream

    body = sse(
        "International wires cost $45 each [1]. ",
        "Wires to Mars cost $9 [1]. ",
        "The moon branch waives every fee [1].",
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(
        tmp_path / "h",
        provider=openai_model("streamer", handler),
        low_confidence_action=low_confidence_action,
    )
    out = list(
        ask_stream(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    )
    *pieces, response = out
    text = "".join(pieces)
    assert "$45" in text and "Mars" not in text and "moon" not in text
    assert response.action == low_confidence_action
    assert text == response.answer  # what the asker saw is what the audit keeps
    row = audit.get(rt.store, response.audit_id)
    assert row.action == low_confidence_action and "+streamed" in row.reason
    assert "$45" in row.answer
    if low_confidence_action == "escalate":
        assert response.ticket_id and "handing this conversation to a person" in text
    else:
        assert "not sure" in text


def test_anthropic_is_a_provider_plugin_configured_from_settings(tmp_path, model_cache) -> None:
    from steward.config.settings import Settings
    from steward.runtime import Runtime

    rt = Runtime(
        Settings(
            home=tmp_path / "a",
            model_cache=model_cache,
            provider="anthropic",
            anthropic_model="claude-test",
            anthropic_base_url="http://127.0.0.1:9/",
        )
    )
    assert isinstance(rt.provider, AnthropicProvider) and rt.provider.model == "claude-test"
    missing = Runtime(Settings(home=tmp_path / "b", model_cache=model_cache, provider="anthropic"))
    with pytest.raises(ConfigError, match="STEWARD_ANTHROPIC_MODEL"):
        _ = missing.provider


def test_a_rejected_call_is_not_retried_and_falls_back() -> None:
    rejected = Counter((401, {"error": {"message": "bad key"}}))
    sleeps: list[float] = []
    router = Router(
        {"simple": Routed("small", openai_model("small", rejected))},
        [Routed("extractive", ExtractiveProvider())],
        RetryPolicy(attempts=3, backoff_s=0.1),
        sleep=sleeps.append,
    )
    router.complete(req("q"))
    assert rejected.calls == 1 and sleeps == []  # the same key would be refused again
    assert router.last["tried"] == ["small: provider_rejected"]
    assert router.last["provider"] == "extractive"


def test_half_open_breaker_lets_exactly_one_trial_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=lambda: now[0])
    breaker.failure()
    assert not breaker.allow()
    now[0] = 11.0
    assert breaker.allow()  # the trial
    assert not breaker.allow() and not breaker.allow()  # everyone else waits for its outcome
    breaker.failure()  # the trial failed: open for another cooldown
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 22.0
    assert breaker.allow()
    breaker.release()  # the trial's reader went away: another trial may go
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_route_details_belong_to_the_thread_that_asked() -> None:
    import threading

    bad = Counter((500, {}))
    router = Router(
        {"simple": Routed("bad", openai_model("bad", bad))},
        [Routed("extractive", ExtractiveProvider())],
        RetryPolicy(attempts=1),
        sleep=lambda _s: None,
    )
    seen: list[dict] = []
    worker = threading.Thread(target=lambda: (router.complete(req("q")), seen.append(router.last)))
    worker.start()
    worker.join()
    assert seen[0]["tried"] == ["bad: provider_unavailable"]
    assert router.last == {}  # another request's failures are not this one's
    assert router.prompt_version.startswith("router:")  # one key for the configuration


def test_a_stand_in_answer_is_not_cached(kb_home, tmp_path, make_runtime) -> None:
    model = Counter(
        (503, {"error": {"message": "down"}}),
        (200, chat("International wires cost $45 each [1].")),
    )
    router = Router(
        {"simple": Routed("small", openai_model("small", model))},
        [Routed("extractive", ExtractiveProvider())],
        RetryPolicy(attempts=1),
        sleep=lambda _s: None,
    )
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", provider=router)
    who = principal_for(rt.store, "cara")
    first = ask(rt, who, "How much does an international wire cost?")
    assert first.action == "answer" and "answered by extractive" in (
        audit.get(rt.store, first.audit_id).settings["degraded"] or ""
    )
    again = ask(rt, who, "How much does an international wire cost?")
    assert again.cache is None and model.calls == 2  # the recovered model answers
    row = audit.get(rt.store, again.audit_id)
    assert row.model == "small:small" and row.settings["degraded"] is None
    assert row.prompt_version != "extractive-v3"
