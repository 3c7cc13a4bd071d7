"""Alerts: rules over the operations metrics fire and resolve against a real webhook receiver
on loopback, deliveries retry, one evaluator at a time, and the rules export to Prometheus."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import delete, select

from steward.core.errors import ConfigError
from steward.identity.auth import principal_for
from steward.operations.alerts import AlertBook, export_prometheus, load_rules
from steward.pipeline.orchestrator import ask
from steward.store.models import AlertEvent, AlertState
from tests.conftest import run_cli

RULES = """\
rules:
  - name: escalations-high
    metric: escalation_rate
    window: 1h
    comparison: ">"
    threshold: 0.5
    severity: critical
    for: 10m
"""


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it is sent; it can answer 500 to
    the first ``fail_first`` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                receiver.requests += 1
                failing = receiver.requests <= receiver.fail_first
                if not failing:
                    receiver.bodies.append(body)
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def book_for(kb_rt, make_runtime, tmp_path: Path, rules: str, url: str | None, **over: object):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "alerts.yaml"
    path.write_text(rules)
    settings: dict[str, object] = {"alerts_file": path, "alerts_webhook_backoff_s": 0.0}
    if url is not None:
        settings["alerts_webhook_url"] = url
    rt = make_runtime(kb_rt.settings.home, **settings, **over)
    return rt, rt.alerts


def test_an_escalation_rate_rule_fires_at_a_webhook_and_resolves(
    kb_rt, make_runtime, tmp_path: Path, receiver: Receiver
) -> None:
    rt, book = book_for(kb_rt, make_runtime, tmp_path, RULES, receiver.url)
    cara = principal_for(rt.store, "cara")
    t0 = datetime.now(UTC)
    assert book.evaluate(t0) == [] and book.overview()["rules"][0]["value"] is None  # no data
    fraud = ask(rt, cara, "Someone used my card for purchases I never made!")
    assert fraud.action == "escalate"
    assert book.evaluate(t0) == []  # over the threshold, but not yet for 10 minutes
    assert _state(rt) == "pending" and receiver.bodies == []
    assert book.evaluate(t0 + timedelta(minutes=9)) == [] and _state(rt) == "pending"
    (fired,) = book.evaluate(t0 + timedelta(minutes=10))
    assert fired.state == "firing" and fired.delivered and fired.attempts == 1
    assert _state(rt) == "firing"
    (body,) = receiver.bodies
    assert body["rule"] == "escalations-high" and body["state"] == "firing"
    assert body["severity"] == "critical" and body["value"] == pytest.approx(1.0)
    assert body["threshold"] == 0.5 and body["metric"] == "escalation_rate"
    assert book.evaluate(t0 + timedelta(minutes=11)) == []  # still firing: told once
    for question in (
        "How much does an international wire cost?",
        "How do I reset my card PIN?",
        "What is the monthly fee?",
    ):
        assert ask(rt, cara, question).action == "answer"
    (resolved,) = book.evaluate(t0 + timedelta(minutes=12))
    assert resolved.state == "resolved" and _state(rt) == "resolved"
    assert [b["state"] for b in receiver.bodies] == ["firing", "resolved"]
    assert receiver.bodies[1]["value"] == pytest.approx(0.25)
    with rt.store.read() as s:
        stored = list(s.scalars(select(AlertEvent).order_by(AlertEvent.ts)))
    assert [(e.state, e.delivered, e.attempts) for e in stored] == [
        ("firing", True, 1),
        ("resolved", True, 1),
    ]
    assert "Someone" not in json.dumps(receiver.bodies)  # figures only, never the question


def _state(rt) -> str:
    with rt.store.read() as s:
        row = s.get(AlertState, "escalations-high")
    return row.state if row else "ok"


QUEUE_RULE = """\
rules:
  - {name: queue, metric: review_queue_depth, comparison: ">=", threshold: 0, window: 1h}
"""


def test_a_failing_receiver_is_retried_and_the_result_stored(
    kb_rt, make_runtime, tmp_path: Path
) -> None:
    with Receiver(fail_first=2) as flaky:
        rt, book = book_for(kb_rt, make_runtime, tmp_path, QUEUE_RULE, flaky.url)
        (event,) = book.evaluate()
        assert (event.delivered, event.attempts, event.last_error) == (True, 3, None)
        assert flaky.requests == 3 and len(flaky.bodies) == 1
    with Receiver(fail_first=99) as down:
        rt, book = book_for(
            kb_rt, make_runtime, tmp_path / "b", QUEUE_RULE, down.url, alerts_webhook_attempts=2
        )
        with rt.store.write() as (s, _):  # a fresh state, so the rule fires again
            s.execute(delete(AlertState))
        (event,) = book.evaluate()
        assert (event.delivered, event.attempts, event.last_error) == (False, 2, "HTTP 500")
    with rt.store.read() as s:
        row = s.get(AlertEvent, event.id)
    assert row is not None and (row.delivered, row.attempts, row.last_error) == (
        False,
        2,
        "HTTP 500",
    )


def test_one_evaluator_at_a_time_holds_the_lease(kb_rt, make_runtime, tmp_path: Path) -> None:
    rt_a, _ = book_for(kb_rt, make_runtime, tmp_path, QUEUE_RULE, None)
    rt_b, _ = book_for(kb_rt, make_runtime, tmp_path / "b", QUEUE_RULE, None)
    a, b = AlertBook(rt_a, holder="host-a:1"), AlertBook(rt_b, holder="host-b:2")
    now = datetime.now(UTC)
    ttl = timedelta(minutes=3)
    assert a.tick(now, ttl) is not None
    assert b.tick(now, ttl) is None  # a holds it
    assert b.tick(now + timedelta(minutes=2), ttl) is None
    assert a.tick(now + timedelta(minutes=2), ttl) is not None  # renewed by its holder
    assert b.tick(now + timedelta(minutes=4), ttl) is None  # renewed until minute 5
    assert b.tick(now + timedelta(minutes=6), ttl) is not None  # a went away: b takes over
    assert a.tick(now + timedelta(minutes=6), ttl) is None


EXPORT = """\
rules:
  - {name: esc-north, metric: escalation_rate, window: 30m, comparison: ">", threshold: 0.3,
     for: 5m, center: north, severity: warning}
  - {name: slow, metric: latency_ms_p95, window: 1h, comparison: ">=", threshold: 4000}
  - {name: unhappy, metric: satisfaction, window: 7d, comparison: "<", threshold: 4}
  - {name: queue, metric: review_queue_depth, comparison: ">", threshold: 20, window: 5m}
"""


def test_the_rules_export_as_prometheus_alerting_rules(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(EXPORT)
    text = export_prometheus(load_rules(path))
    doc = yaml.safe_load(text)
    (group,) = doc["groups"]
    rules = {r["alert"]: r for r in group["rules"]}
    assert set(rules) == {"esc-north", "slow", "queue"}
    for r in rules.values():
        assert set(r) == {"alert", "expr", "for", "labels", "annotations"}
        assert r["labels"]["severity"] in ("info", "warning", "critical")
    assert rules["esc-north"]["expr"] == (
        '(sum(rate(steward_decisions_total{action="escalate",center="north"}[30m])) / '
        'sum(rate(steward_decisions_total{center="north"}[30m]))) > 0.3'
    )
    assert rules["esc-north"]["for"] == "5m" and rules["esc-north"]["labels"]["center"] == "north"
    assert "histogram_quantile(0.95" in rules["slow"]["expr"]
    assert "steward_question_duration_seconds_bucket[1h]" in rules["slow"]["expr"]
    assert rules["queue"]["expr"].startswith("(sum(steward_review_queue_depth")
    assert "# Skipped" in text and "unhappy (satisfaction)" in text


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("rules:\n  - {name: a, metric: nope, comparison: '>', threshold: 1}\n", "line 2"),
        (
            "rules:\n  - name: a\n    metric: questions\n    comparison: '=='\n    threshold: 1\n",
            "comparison",
        ),
        (
            "rules:\n  - {name: a, metric: questions, comparison: '>', threshold: 1, "
            "window: soon}\n",
            "window",
        ),
        (
            "rules:\n  - {name: a, metric: questions, comparison: '>', threshold: 1,"
            " colour: red}\n",
            "colour",
        ),
    ],
)
def test_a_bad_rules_file_names_the_line_and_field(tmp_path: Path, body: str, expect: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=expect) as err:
        load_rules(path)
    assert "line" in err.value.message


def test_the_cli_lists_evaluates_exports_and_exits_2_on_a_bad_file(
    kb_rt, model_cache: Path
) -> None:
    home = kb_rt.settings.home
    (home / "alerts.yaml").write_text(QUEUE_RULE)
    evaluated = run_cli("alerts", "evaluate", "--json", home=home, model_cache=model_cache)
    assert evaluated.returncode == 0, evaluated.stderr
    data = json.loads(evaluated.stdout)
    assert data["rules"][0]["state"] == "firing" and data["events"][0]["rule"] == "queue"
    exported = run_cli("alerts", "export-prometheus", home=home, model_cache=model_cache)
    assert yaml.safe_load(exported.stdout)["groups"][0]["rules"][0]["alert"] == "queue"
    (home / "alerts.yaml").write_text("rules:\n  - {name: q, metric: queue, threshold: 1}\n")
    bad = run_cli("alerts", "list", home=home, model_cache=model_cache)
    assert bad.returncode == 2 and "line 2" in bad.stderr and "metric" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_get_alerts_is_for_operators(live_kb, kb_rt) -> None:
    server, keys = live_kb
    (kb_rt.settings.home / "alerts.yaml").write_text(QUEUE_RULE)
    kb_rt.alerts.evaluate()
    ok = httpx.get(f"{server.url}/v1/alerts", headers={"Authorization": f"Bearer {keys['ops']}"})
    assert ok.status_code == 200
    assert ok.json()["rules"][0]["state"] == "firing" and ok.json()["events"][0]["rule"] == "queue"
    denied = httpx.get(
        f"{server.url}/v1/alerts", headers={"Authorization": f"Bearer {keys['cara']}"}
    )
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"


ERRORS_AND_A_GONE_CENTER = """\
rules:
  - name: errors
    metric: error_rate
    window: 1h
    comparison: ">"
    threshold: 0.1
    severity: warning
    for: 0m
  - name: gone-center
    metric: escalation_rate
    window: 1h
    comparison: ">"
    threshold: 0.5
    severity: warning
    for: 0m
    center: atlantis
"""


def test_a_clients_mistakes_are_not_server_errors_and_a_gone_center_stops_no_rule(
    kb_rt, make_runtime, tmp_path: Path
) -> None:
    rt, book = book_for(kb_rt, make_runtime, tmp_path, ERRORS_AND_A_GONE_CENTER, None)
    cara = principal_for(rt.store, "cara")
    ask(rt, cara, "What is the monthly fee?")
    for _ in range(4):  # someone else's (made-up) conversation: 404s, each an error row
        with pytest.raises(Exception, match="conversation"):
            ask(rt, cara, "hi", conversation_id="01AAAAAAAAAAAAAAAAAAAAAAAA")
    rules = book.rules()
    values = book.measure(rules, datetime.now(UTC))
    assert values["errors"] == 0.0  # one question, no server error: the 404s are not counted
    assert values["gone-center"] is None  # measured as no data, not an exception for all
