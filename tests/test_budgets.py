"""Cost per request, monthly budgets, their alerts and the hard stop (docs/costs.md).

A paid API is faked at the transport only; the must-show test runs against the real llama.cpp
server of tests/test_llama_provider.py."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from sqlalchemy import select

from steward import audit
from steward.answering.providers.openai_compat import OpenAICompatProvider, OpenAIOptions
from steward.identity.auth import create_key, principal_for
from steward.operations.alerts import AlertRule
from steward.operations.budgets import BudgetService, read_spend, this_month
from steward.operations.report import report
from steward.pipeline.orchestrator import Response, ask, ask_stream
from steward.runtime import Runtime
from steward.store import Store
from steward.store.models import AuditRecord, BudgetState
from tests.conftest import LiveServer, run_cli

WIRE = "How much does an international wire cost?"
# USD per million tokens: 1,000 tokens in and 200 out cost $0.001 + $0.001.
PRICES = {"paid": {"input": 1.0, "output": 5.0}}


def crossed(rt: Runtime) -> list[tuple[str, int]]:
    with rt.store.read() as s:
        rows = s.scalars(
            select(AuditRecord)
            .where(AuditRecord.kind == audit.Kind.BUDGET_CROSSED.value)
            .order_by(AuditRecord.seq)
        )
        return [(r.payload["budget"], r.payload["threshold"]) for r in rows]


def write_budgets(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def paid_model() -> tuple[OpenAICompatProvider, list[int]]:
    """A paid chat API, faked at the transport: it bills 1,000 tokens in and 200 out."""
    calls: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        body = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "paid",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": "International wires cost $45 each [1].",
                    },
                }
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
        }
        return httpx2.Response(200, json=body)

    client = httpx2.Client(transport=httpx2.MockTransport(handler))
    options = OpenAIOptions(base_url="http://llm.invalid/v1", model="paid")
    return OpenAICompatProvider(options, http_client=client), calls


def _question_row(store: Store, center: str, intent: str) -> None:
    """A question answered by the paid model (1,000 tokens in: $1 at $1,000 per million)."""
    audit.append(
        store,
        audit.AuditEntry(
            channel="api",
            user_id="u1",
            groups=[],
            center=center,
            question="[masked]",
            action="answer",
            reason="",
            escalation_reason=None,
            confidence=0.9,
            answer="",
            citations=[],
            retrieved=[],
            provider="openai",
            model="paid",
            prompt_version="v",
            kb_version=1,
            settings={"tokens": [1000, 0], "intent": intent},
            latency_ms={"total": 10.0},
        ),
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_two_replicas_record_each_threshold_once_a_month(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, make_runtime: Any
) -> None:
    path = write_budgets(
        tmp_path / "budgets.yaml",
        "centers: {north: {monthly_usd: 2}, south: {monthly_usd: 100}}\n"
        "use_cases: {cards: {intents: ['cards.*'], monthly_usd: 3.5}}\n",
    )
    extra = {"database_url": request.getfixturevalue("pg_url")} if engine == "postgres" else {}
    rt = make_runtime(
        tmp_path / "home",
        prices={"paid": {"input": 1000.0, "output": 0.0}},
        budgets_file=path,
        **extra,
    )
    for center, intent in (
        ("north", "cards.lost"),
        ("north", "cards.lost"),
        ("south", "cards.fee"),
    ):
        _question_row(rt.store, center, intent)
    # Two replicas: their own store connections and services, on the same database.
    stores = [Store(rt.settings.db_url) for _ in range(2)]
    replicas = [BudgetService(s, rt.authz, rt.settings.operations, path) for s in stores]
    start = threading.Barrier(len(replicas))
    errors: list[BaseException] = []

    def look(service: BudgetService) -> None:
        start.wait()
        try:
            service.refresh()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=look, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    # north: $2 of $2 (80% and 100%); cards: $3 of $3.5 (85.7%: 80% only); south: 1%.
    assert sorted(crossed(rt)) == [
        ("center:north", 80),
        ("center:north", 100),
        ("usecase:cards", 80),
    ]
    replicas[0].refresh()  # looking again records nothing new
    assert len(crossed(rt)) == 3
    with rt.store.read() as s:
        states = {r.budget: r.level for r in s.scalars(select(BudgetState))}
    assert states == {"center:north": 100, "usecase:cards": 80}
    for s in stores:
        s.dispose()
    status = rt.budgets.status(_operator())
    lines = {b["budget"]: b for b in status["budgets"]}
    assert lines["usecase:cards"]["percent"] == pytest.approx(300 / 3.5, abs=0.01)
    assert lines["center:north"]["level"] == 100 and not lines["center:north"]["degrading"]
    assert status["models"] == [{"model": "paid", "cost_usd": 3.0}]
    # Alert rules can watch it too: one center's budget, or the fullest of all.
    rules = [
        AlertRule.model_validate(
            {"name": f"r{i}", "metric": "budget_used_pct", "comparison": ">=", "threshold": 80}
            | scope
        )
        for i, scope in enumerate([{"center": "south"}, {}])
    ]
    assert rt.alerts.measure(rules, datetime.now(UTC)) == {"r0": 1.0, "r1": 100.0}


def _operator() -> Any:
    from steward.identity.auth import Principal

    return Principal("ops-1", "Op", frozenset(), None, "operator", False, "api")


def test_a_hard_stop_degrades_to_extractive_and_the_row_says_so(
    kb_home: Path, tmp_path: Path, make_runtime: Any
) -> None:
    shutil.copytree(kb_home, tmp_path / "h")
    path = write_budgets(
        tmp_path / "budgets.yaml",
        "centers: {north: {monthly_usd: 0.003}, south: {monthly_usd: 100}}\n"
        "hard_stop: true\ndegrade_to: extractive\nrefresh_s: 0\n",
    )
    model, calls = paid_model()
    rt = make_runtime(
        tmp_path / "h", provider=model, prices=PRICES, budgets_file=path, cache_answers=False
    )
    cara = principal_for(rt.store, "cara")  # center north
    first = [ask(rt, cara, WIRE) for _ in range(2)]  # $0.004 of $0.003 once both are in
    assert len(calls) == 2
    rows = [audit.get(rt.store, r.audit_id) for r in first]
    assert [r.settings["cost_usd"] for r in rows] == [pytest.approx(0.002)] * 2
    assert all(r.model == "paid" and r.settings["degraded"] is None for r in rows)

    degraded = ask(rt, cara, WIRE)
    streamed = list(ask_stream(rt, cara, WIRE))[-1]
    assert isinstance(streamed, Response)
    assert len(calls) == 2  # the model was not asked again
    for r in (degraded, streamed):
        row = audit.get(rt.store, r.audit_id)
        assert r.action == "answer" and "$45" in r.answer and r.citations  # grounded, verified
        assert row.provider == "extractive" and row.settings["cost_usd"] == 0.0
        assert row.settings["route"]["budget"] == "center:north"
        assert "budget center:north" in row.settings["degraded"]
        assert "hard stop" in row.settings["degraded"]
    assert crossed(rt) == [("center:north", 80), ("center:north", 100)]

    solo = ask(rt, principal_for(rt.store, "solo"), WIRE)  # south: within its budget
    assert audit.get(rt.store, solo.audit_id).model == "paid" and len(calls) == 3

    # The audit rows' costs, the rollup and the budgets agree.
    with rt.store.read() as s:
        costs = [
            r.settings["cost_usd"]
            for r in s.scalars(select(AuditRecord).where(AuditRecord.kind == "question"))
        ]
    assert sum(costs) == pytest.approx(0.006)
    assert report(rt)["counts"]["cost_usd"] == pytest.approx(0.006)
    assert read_spend(rt.store, this_month()).centers == {
        "north": pytest.approx(0.004),
        "south": pytest.approx(0.002),
    }

    # Over HTTP: operators see the standing; askers (customer or staff) are refused.
    keys = {u: create_key(rt.store, u) for u in ("ops", "cara", "sam")}
    from steward.web.app import create_app

    with LiveServer(create_app(rt)) as server:

        def get(user: str | None, query: str = "") -> httpx.Response:
            headers = {"Authorization": f"Bearer {keys[user]}"} if user else {}
            return httpx.get(f"{server.url}/v1/costs{query}", headers=headers)

        ok = get("ops")
        assert ok.status_code == 200, ok.text
        data = ok.json()
        north = next(b for b in data["budgets"] if b["budget"] == "center:north")
        assert north["percent"] == pytest.approx(133.33, abs=0.01) and north["degrading"]
        assert north["level"] == 100 and data["month"] == this_month()
        assert data["models"] == [{"model": "paid", "cost_usd": pytest.approx(0.006)}]
        for user in ("cara", "sam"):
            denied = get(user)
            assert denied.status_code == 403
            assert denied.json()["error"]["code"] == "forbidden"
            assert "spent_usd" not in denied.text
        assert get(None).status_code == 401
        assert get("ops", "?month=2026-13").status_code == 422


def test_budget_status_cli_prints_json_and_refuses_bad_input(
    tmp_path: Path, model_cache: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "budgets.yaml").write_text("centers: {north: {monthly_usd: 50}}\nhard_stop: true\n")
    done = run_cli("budget", "status", "--json", home=home, model_cache=model_cache)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    [north] = data["budgets"]
    assert (north["budget"], north["spent_usd"], north["percent"], north["level"]) == (
        "center:north",
        0.0,
        0.0,
        0,
    )
    assert north["hard_stop"] and north["degrade_to"] == "extractive"
    bad = run_cli("budget", "status", "--month", "2026-13", home=home, model_cache=model_cache)
    assert bad.returncode == 2 and bad.stdout == "", bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error: ")


def test_a_budget_against_the_real_llama_server(
    kb_home: Path, tmp_path: Path, make_runtime: Any
) -> None:
    """Token counts from the server's own responses, the cost computed from them with the
    price table, the 100% threshold reached, the next question routed to the cheaper route
    and the crossing recorded."""
    from tests.test_llama_provider import start_llama, stop_llama

    proc, port, drain = start_llama("--chat_format", "gemma")
    usage: list[dict[str, int]] = []

    def seen(response: httpx2.Response) -> None:  # what the server itself reported
        response.read()
        usage.append(response.json()["usage"])

    client = httpx2.Client(event_hooks={"response": [seen]})
    try:
        llama = OpenAICompatProvider(
            OpenAIOptions(
                base_url=f"http://127.0.0.1:{port}/v1",
                model="gemma-3-270m",
                timeout_s=120,
                max_tokens=40,
            ),
            http_client=client,
        )
        shutil.copytree(kb_home, tmp_path / "h")
        path = write_budgets(
            tmp_path / "budgets.yaml",
            "centers: {north: {monthly_usd: 0.00005}}\nhard_stop: true\nrefresh_s: 0\n",
        )
        rt = make_runtime(
            tmp_path / "h",
            provider=llama,
            prices={"gemma-3-270m": {"input": 0.5, "output": 1.5}},
            budgets_file=path,
            cache_answers=False,
        )
        cara = principal_for(rt.store, "cara")
        first = audit.get(rt.store, ask(rt, cara, WIRE).audit_id)
        [billed] = usage
        tokens = [billed["prompt_tokens"], billed["completion_tokens"]]
        assert first.model == "gemma-3-270m" and first.settings["tokens"] == tokens
        assert tokens[0] > 100  # the prompt with its passages: the budget is passed at once
        cost = tokens[0] * 0.5 / 1e6 + tokens[1] * 1.5 / 1e6
        assert first.settings["cost_usd"] == pytest.approx(cost)

        second = ask(rt, cara, "How much does a domestic wire cost?")
        row = audit.get(rt.store, second.audit_id)
        assert len(usage) == 1  # the model was not asked: the cheaper route answered
        assert row.provider == "extractive" and row.settings["route"]["budget"] == "center:north"
        assert "hard stop" in row.settings["degraded"] and row.settings["cost_usd"] == 0.0
        assert second.action == "answer" and "$25" in second.answer
        assert crossed(rt) == [("center:north", 80), ("center:north", 100)]
        with rt.store.read() as s:
            event = s.scalars(
                select(AuditRecord).where(AuditRecord.kind == audit.Kind.BUDGET_CROSSED.value)
            ).all()[-1]
        assert event.payload["spent_usd"] == pytest.approx(cost, abs=1e-6)
        assert event.payload["percent"] >= 100 and event.payload["degrade_to"] == "extractive"
    finally:
        client.close()
        stop_llama(proc, drain)
