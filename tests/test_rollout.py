"""Rollout in waves behind success gates (sponsor/rollout.py): a use case's waves are feature
flags on the request path; the next wave opens when its gates pass on live traffic (or with an
audited override), and a guard metric crossing its limit closes the newest wave within one
evaluation interval, with the alert and the audit rows written, and its askers get the previous
behaviour again. Real questions through the real app, on a small real store."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from getpass import getuser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from steward import audit
from steward.core.errors import (
    ConfigError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
)
from steward.identity.auth import create_key, principal_for
from steward.identity.directory import UserSpec, create_user
from steward.pipeline.orchestrator import ask
from steward.pipeline.record import ROLLOUT_RULE
from steward.runtime import Runtime
from steward.sponsor.gates import measure
from steward.sponsor.rollout import RULE, Rollout
from steward.sponsor.rollout_file import load_plan
from steward.store import Store
from steward.store.models import AlertEvent, AuditRecord, RolloutWave
from tests.conftest import LiveServer, run_cli
from tests.test_alerts import Receiver

FEE = "How much is the monthly maintenance fee?"
WIRE = "How much does a domestic wire cost?"
PIN = "How do I reset my card PIN?"
SWALLOW = "What is the airspeed velocity of an unladen swallow?"

PLAN = """\
usecases:
  - id: fees
    title: Account fees
    phase: pilot
    scope: {all: true}
    previous: handoff
    waves:
      - {id: north-staff, title: North staff, centers: [north], groups: [all_staff]}
      - {id: customers, groups: [customers]}
      - {id: everyone}
    gates:
      - {metric: resolution_rate, comparison: ">=", threshold: 0.6, window: 1h, min_sample: 3}
      - {metric: latency_ms_p95, comparison: "<", threshold: 5000, window: 1h}
      - {metric: cost_per_interaction, comparison: "<", threshold: 0.15, window: 1h}
      - {metric: leaks, comparison: "==", threshold: 0, window: 1h}
    guards:
      - {metric: error_rate, limit: 0.2, window: 1h, min_sample: 3}
      - {metric: leak_rate, limit: 0, window: 1h}
"""


def write_plan(rt: Runtime, text: str = PLAN) -> Path:
    path: Path = rt.settings.home / "rollout.yaml"
    path.write_text(text)
    return path


def post(server: LiveServer, key: str, question: str, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/ask",
        json={"question": question, **extra.pop("body", {})},
        headers={"Authorization": f"Bearer {key}", **extra.pop("headers", {})},
        timeout=60,
    )


def row_of(rt: Runtime, audit_id: str) -> AuditRecord:
    with rt.store.read() as s:
        row = s.get(AuditRecord, audit_id)
    assert row is not None
    return row


def events(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    return [e for e in audit.export(rt.store) if e["kind"] == kind]


def opened_events(rt: Runtime, wave: str) -> list[dict[str, Any]]:
    return [e for e in events(rt, "rollout-wave-opened") if e["payload"]["wave"] == wave]


def fees(rt: Runtime, who: str = "ops") -> dict[str, Any]:
    (uc,) = rt.rollout.status(principal_for(rt.store, who))["usecases"]
    return dict(uc)


class ServedWithLifespan(LiveServer):
    """A real uvicorn server that runs the app's lifespan, as `steward serve` does: the
    periodic tasks (the rollout's evaluator among them) run while it serves."""

    def __init__(self, app: object) -> None:
        super().__init__(app)
        config = uvicorn.Config(app, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )


class Signal(Receiver):
    """The alerts webhook receiver, which also says when the first alert arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        handler = self.server.RequestHandlerClass
        signal = self
        post_body = handler.do_POST  # type: ignore[attr-defined]

        def do_post(h: Any) -> None:
            post_body(h)
            signal.arrived.set()

        handler.do_POST = do_post  # type: ignore[attr-defined]


@pytest.fixture
def receiver() -> Iterator[Signal]:
    with Signal() as r:
        yield r


def test_waves_open_behind_gates_and_a_breach_closes_the_newest_within_one_interval(
    live_kb, kb_rt: Runtime, make_runtime, receiver: Signal
) -> None:
    server, keys = live_kb
    rt = kb_rt
    write_plan(rt)
    ops = principal_for(rt.store, "ops")
    # No wave open: a customer's question gets the previous behaviour (a person answers), and
    # its audit row says why.
    before = post(server, keys["cara"], FEE).json()
    row = row_of(rt, before["audit_id"])
    assert before["action"] == "escalate" and row.escalation_reason == "policy"
    assert row.reason.startswith(f"{RULE}:") and "not_rolled_out" in row.reason
    assert row.settings["rollout"] == {"usecase": "fees", "wave": None}

    # The first wave opens (nothing served yet for the gates to judge); north staff are served.
    first = fees(rt)
    assert first["next_wave"] == "north-staff" and first["may_open"] and first["first_wave"]
    rt.rollout.open(ops, "fees", "north-staff")
    sam = post(server, keys["sam"], FEE).json()
    assert sam["action"] == "answer"
    assert row_of(rt, sam["audit_id"]).settings["rollout"] == {
        "usecase": "fees",
        "wave": "north-staff",
    }
    assert post(server, keys["cara"], FEE).json()["action"] == "escalate"  # still outside
    # Simulated traffic that misses the resolution gate: 1 of 3 questions resolved.
    for q in (SWALLOW, SWALLOW):
        assert post(server, keys["sam"], q).json()["action"] == "abstain"
    status = fees(rt)
    gate = next(g for g in status["gates"] if g["metric"] == "resolution_rate")
    assert gate["status"] == "fail" and gate["value"] == pytest.approx(1 / 3, abs=1e-3)
    assert gate["sample"] == 3 and not status["may_open"]
    with pytest.raises(ConflictError, match="resolution_rate fail"):
        rt.rollout.open(ops, "fees", "customers")
    with pytest.raises(InputError, match="reason"):
        rt.rollout.open(ops, "fees", "customers", override="   ")
    # More traffic that is resolved: 4 of 6 (67%) pass the gate; the wave opens on its own.
    for q in (FEE, WIRE, PIN):
        assert post(server, keys["nora"], q).json()["action"] == "answer"
    status = fees(rt)
    assert status["may_open"], status["blocked_by"]
    assert {g["metric"]: g["status"] for g in status["gates"]} == dict.fromkeys(
        ("resolution_rate", "latency_ms_p95", "cost_per_interaction", "leaks"), "pass"
    )
    rt.rollout.open(ops, "fees", "customers")
    assert post(server, keys["cara"], FEE).json()["action"] == "answer"
    (opened,) = [
        e for e in events(rt, "rollout-wave-opened") if e["payload"]["wave"] == "customers"
    ]
    assert opened["user_id"] == "ops" and opened["payload"]["override"] is False
    assert opened["reason"] == "the gates pass"

    # The customers' questions miss the gate again (5 of 9): the last wave needs an override.
    for _ in range(2):
        assert post(server, keys["cara"], SWALLOW).json()["action"] == "abstain"
    with pytest.raises(ConflictError, match="may not open"):
        rt.rollout.open(ops, "fees", "everyone")
    rt.rollout.open(ops, "fees", "everyone", override="Board approved the full launch")
    (overridden,) = [
        e for e in events(rt, "rollout-wave-opened") if e["payload"]["wave"] == "everyone"
    ]
    assert overridden["payload"]["override"] is True and overridden["user_id"] == "ops"
    assert overridden["reason"] == "Board approved the full launch" and overridden["ts"]
    assert "resolution_rate" in overridden["payload"]["blocked_by"][0]

    # A new replica whose embedder does not match the store's vectors: every question that
    # reaches search fails (a server error). `steward serve`'s evaluator runs every second.
    with rt.store.write() as (s, _):
        Store.set_meta(s, "vector_space", "another-embedder-v9")
    replica = make_runtime(
        rt.settings.home,
        rollout_interval_s=1,
        alerts_webhook_url=receiver.url,
        alerts_webhook_backoff_s=0.0,
        alerts_interval_s=0,
        canary_check_s=0,
        audit_checkpoint_interval_s=0,
    )
    from steward.web.app import create_app

    with ServedWithLifespan(create_app(replica)) as served:
        for _ in range(3):  # solo (south staff) is only in the newest wave
            assert post(served, keys["solo"], FEE).status_code == 503
        breached_at = datetime.now(UTC)
        assert receiver.arrived.wait(timeout=10), "no alert reached the webhook"
        # The evaluation that closed the wave started within one interval of the breach (plus
        # the time one evaluation takes: the next waits for the last to end).
        with replica.store.read() as s:
            wave = s.get(RolloutWave, ("fees", "everyone"))
        assert wave is not None and not wave.is_open and wave.closed_by == "system"
        closed_at = wave.closed_at if wave.closed_at.tzinfo else wave.closed_at.replace(tzinfo=UTC)
        assert (closed_at - breached_at).total_seconds() <= 1.0 + 1.0
        # Its askers get the previous behaviour again on their next question (decided before
        # search: no error), and the row says why.
        again = post(served, keys["solo"], FEE)
        assert again.status_code == 200 and again.json()["action"] == "escalate"
        assert row_of(rt, again.json()["audit_id"]).reason.startswith(f"{RULE}:")
    (body,) = receiver.bodies
    assert body["rule"] == "rollout.fees" and body["state"] == "firing"
    assert body["metric"] == "error_rate" and body["wave"] == "everyone"
    assert body["value"] > 0.2 and body["threshold"] == 0.2
    with rt.store.read() as s:
        (alert,) = s.scalars(select(AlertEvent).where(AlertEvent.rule == "rollout.fees"))
    assert alert.delivered and alert.severity == "critical" and "everyone" in alert.message
    (rolled,) = events(rt, "rollout-wave-rolled-back")
    assert rolled["user_id"] == "system" and rolled["target"] == "rollout:fees:everyone"
    assert rolled["payload"]["metric"] == "error_rate" and rolled["payload"]["value"] > 0.2
    assert "error_rate" in rolled["reason"]
    # One breach closes one wave: the older waves stay open.
    assert [w["open"] for w in fees(rt)["waves"]] == [True, True, False]
    assert audit.verify(rt.store).ok


def test_an_asker_cannot_open_or_close_waves_and_bad_ids_and_reasons_are_refused(
    kb_rt: Runtime,
) -> None:
    rt = kb_rt
    write_plan(rt)
    cara, ops = principal_for(rt.store, "cara"), principal_for(rt.store, "ops")
    with pytest.raises(ForbiddenError):
        rt.rollout.open(cara, "fees", "north-staff")
    with pytest.raises(ForbiddenError):
        rt.rollout.status(cara)
    (denied, *_) = events(rt, "access-denied")
    assert denied["user_id"] == "cara" and denied["payload"]["permission"] == "manage-rollout"
    with pytest.raises(NotFoundError, match="Unknown use case"):
        rt.rollout.open(ops, "fees-forged", "north-staff")
    with pytest.raises(NotFoundError, match="no wave"):
        rt.rollout.open(ops, "fees", "vip")
    with pytest.raises(ConflictError, match="not next"):
        rt.rollout.open(ops, "fees", "everyone")
    rt.rollout.open(ops, "fees", "north-staff")
    with pytest.raises(ConflictError, match="already open"):
        rt.rollout.open(ops, "fees", "north-staff")
    with pytest.raises(InputError, match="reason"):
        rt.rollout.close(ops, "fees", "north-staff", reason="")
    with pytest.raises(ForbiddenError):
        rt.rollout.close(cara, "fees", "north-staff", reason="let me out")
    done = rt.rollout.close(ops, "fees", "north-staff", reason="pause for a fix")
    assert done["closed_by"] == "ops"
    (closed,) = events(rt, "rollout-wave-closed")
    assert closed["reason"] == "pause for a fix" and closed["user_id"] == "ops"
    with pytest.raises(ConflictError, match="not open"):
        rt.rollout.close(ops, "fees", "north-staff", reason="again")
    # A phase before the pilot opens no wave; a scope naming a center nobody has is refused.
    write_plan(rt, PLAN.replace("phase: pilot", "phase: feasibility"))
    with pytest.raises(ConflictError, match="feasibility"):
        rt.rollout.open(ops, "fees", "north-staff")
    write_plan(rt, PLAN.replace("centers: [north]", "centers: [atlantis]"))
    with pytest.raises(NotFoundError, match="atlantis"):
        rt.rollout.open(ops, "fees", "north-staff")


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (PLAN.replace("phase: pilot", "phase: piloting"), "phase"),
        (PLAN.replace("scope: {all: true}", "scope: {all: true, centers: [north]}"), "scope"),
        (PLAN.replace("metric: error_rate", "metric: errors"), "unknown metric"),
        (PLAN.replace("window: 1h, min_sample: 3}", "windw: 1h}"), "windw"),
        (PLAN.replace("- {id: everyone}", "- {id: customers}"), "two waves"),
        (PLAN.replace("- {id: everyone}", "- {id: everyone, share: 0}"), "share"),
        (PLAN.replace("previous: handoff", "previous: transfer"), "previous"),
        (PLAN + "    owner: someone\n", "owner"),
        # A percent where a ratio belongs, an absurd or negative figure: refused with the range.
        (PLAN.replace("threshold: 0.6", "threshold: 60"), "from 0 to 1 (0.8, not 80)"),
        (PLAN.replace("threshold: 5000", "threshold: 1e308"), "out of range"),
        (PLAN.replace("threshold: 0.15", "threshold: -1"), "dollars from 0"),
        (PLAN.replace("limit: 0.2", "limit: 20"), "limit 20 for error_rate is out of range"),
        (PLAN.replace("threshold: 0.6", "threshold: true"), "threshold: a number, not true"),
        (PLAN.replace("threshold: 5000", "threshold: 3600001"), "threshold 3,600,001 for"),
        (PLAN.replace("window: 1h, min_sample: 3}", "window: 7}"), "with its unit (7d, 7h or 7m)"),
        # An empty file, or comments only: a mistake, not "open everything".
        ("", "has no `usecases:` key"),
        ("# nothing here yet\n", "has no `usecases:` key"),
        # A window past the calendar (the page measured `now - window`: a 500).
        (PLAN.replace("window: 1h, min_sample: 3}", "window: 999999999d}"), "at most 10 years"),
    ],
)
def test_a_bad_rollout_file_names_its_mistake(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    assert expect in err.value.message and "rollout.yaml" in err.value.message


def test_the_documented_example_is_a_valid_rollout_file(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "rollout.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "rollout.yaml"
    path.write_text(example)
    (uc,) = load_plan(path).usecases
    assert [w.id for w in uc.waves] == ["north-staff", "customers-10", "customers-50", "everyone"]
    assert {g.metric for g in uc.gates} == {
        "resolution_rate", "satisfaction", "latency_ms_p95", "cost_per_interaction", "leaks",
    }  # fmt: skip
    assert uc.guards[0].window.total_seconds() == 3600 and uc.waves[1].share == 10


def test_share_membership_is_stable_nested_keyed_and_not_chosen_by_the_client(
    live_kb, kb_rt: Runtime, make_runtime, tmp_path: Path
) -> None:
    server, _keys = live_kb
    rt = kb_rt
    write_plan(
        rt,
        """\
usecases:
  - id: pins
    phase: scaling
    scope: {centers: [north]}
    previous: abstain
    waves:
      - {id: half, share: 50}
""",
    )
    users = [f"u{i:03d}" for i in range(200)]
    buckets = {u: rt.rollout.bucket("pins", u) for u in users}
    # Stable: another worker (its own Rollout, the same store and key) places everyone alike.
    other = Rollout(rt)
    assert all(other.bucket("pins", u) == b for u, b in buckets.items())
    # Nested: a 10% share's askers are all inside the 50% share; roughly the share's size.
    half = {u for u, b in buckets.items() if b < 5000}
    tenth = {u for u, b in buckets.items() if b < 1000}
    assert tenth <= half and 70 <= len(half) <= 130 and 5 <= len(tenth) <= 40
    # Keyed: a store with another masking key places them differently, so a user id alone
    # does not tell which share it falls in.
    elsewhere = make_runtime(tmp_path / "elsewhere")
    moved = sum(elsewhere.rollout.bucket("pins", u) != b for u, b in buckets.items())
    assert moved > 190
    # Through the API: whatever the client sends, only who they are counts.
    inside = next(u for u in users if u in half)
    outside = next(u for u in users if u not in half)
    keys = {}
    for u in (inside, outside):
        spec = UserSpec(id=u, display_name=u, groups=["all_staff"], center="north")
        create_user(rt.store, spec, actor="test")
        keys[u] = create_key(rt.store, u)
    rt.rollout.open(principal_for(rt.store, "ops"), "pins", "half")
    assert post(server, keys[inside], PIN).json()["action"] == "answer"
    refused = post(server, keys[outside], PIN).json()
    assert refused["action"] == "abstain" and "not rolled out" in refused["reason"]
    assert "rolled out" in refused["answer"] and "searched" not in refused["answer"]
    forged = post(
        server,
        keys[outside],
        PIN,
        headers={"X-Steward-Wave": "half", "X-Steward-Bucket": "0"},
    ).json()
    assert forged["action"] == "abstain"
    smuggled = post(server, keys[outside], PIN, body={"rollout": {"wave": "half"}})
    assert smuggled.status_code == 422  # the body has no such field: refused, not read
    assert str(buckets[outside]) not in json.dumps(refused)


def test_the_request_path_check_is_cheap(kb_rt: Runtime) -> None:
    """The check on every question reads the open waves from memory (re-read only when they
    changed, at most every STEWARD_SWITCH_REFRESH_S): microseconds, not a query."""
    rt = kb_rt
    write_plan(rt)
    rt.rollout.open(principal_for(rt.store, "ops"), "fees", "north-staff")
    sam, cara = principal_for(rt.store, "sam"), principal_for(rt.store, "cara")
    assert rt.rollout.decide(sam, None)[1] is None
    assert rt.rollout.decide(cara, None)[1] is not None
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        rt.rollout.decide(sam, None)
        rt.rollout.decide(cara, None)
    per_check_us = (time.perf_counter() - t) / (2 * n) * 1e6
    print(f"rollout check: {per_check_us:.1f} us per question")
    assert per_check_us < 200


def test_the_cli_reports_opens_closes_and_exits_2_on_bad_input(
    kb_rt: Runtime, model_cache: Path
) -> None:
    rt = kb_rt
    write_plan(rt)
    home = rt.settings.home
    ask(rt, principal_for(rt.store, "cara"), FEE)  # the previous behaviour: counted
    opened = run_cli("rollout", "open", "fees", "north-staff", "--json", home=home,
                     model_cache=model_cache)  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout)["wave"] == "north-staff"
    status = run_cli("rollout", "status", home=home, model_cache=model_cache)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert any("north-staff" in ln and " yes " in ln for ln in lines), status.stdout
    gate = next(ln for ln in lines if ln.lstrip("│ ").startswith("resolution_rate"))
    assert ">= 60.0% over 1h" in gate and "no data" in gate and "insufficient" in gate
    assert "The next wave, customers, may not open: gate resolution_rate" in status.stdout
    (uc,) = rt.rollout.status(principal_for(rt.store, "ops"))["usecases"]  # what --json prints
    assert uc["previous_questions"] == 1 and uc["waves"][0]["opened_by"] == "cli:" + getuser()
    # An asker's key cannot open a wave; a forged id and an override without a reason are
    # one line on stderr and exit 2.
    as_cara = {"STEWARD_ACTOR_KEY": create_key(rt.store, "cara")}
    cases: list[tuple[tuple[str, ...], dict[str, str] | None, str]] = [
        (("open", "fees", "customers"), as_cara, "operator access"),
        (("open", "fees", "vip"), None, "no wave"),
        (("open", "fees", "customers", "--override", ""), None, "reason"),
    ]
    with ThreadPoolExecutor(len(cases)) as pool:  # independent processes: run side by side
        runs = list(
            pool.map(
                lambda c: run_cli(
                    "rollout", *c[0], home=home, model_cache=model_cache, extra_env=c[1]
                ),
                cases,
            )
        )
    for (args, _env, words), bad in zip(cases, runs, strict=True):
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert words in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert [w["open"] for w in fees(rt)["waves"]] == [True, False, False]
    closed = run_cli("rollout", "close", "fees", "north-staff", "--reason", "fix first",
                     home=home, model_cache=model_cache)  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    assert "is closed" in closed.stdout and not fees(rt)["waves"][0]["open"]
    (event,) = events(rt, "rollout-wave-closed")
    assert event["channel"] == "cli" and event["reason"] == "fix first"


def test_evaluate_closes_the_newest_wave_and_one_breach_closes_one_wave(
    kb_rt: Runtime, make_runtime
) -> None:
    """`steward rollout evaluate` (the same method the server calls every interval) closes the
    newest open wave; after that close, the rows that crossed the limit no longer count, so
    the next evaluation does not close the next wave too."""
    rt = kb_rt
    write_plan(rt, PLAN.replace("limit: 0.2, window: 1h, min_sample: 3", "limit: 0.2"))
    ops = principal_for(rt.store, "ops")
    rt.rollout.open(ops, "fees", "north-staff")
    rt.rollout.open(ops, "fees", "customers", override="pilot with customers early")
    sam, cara = principal_for(rt.store, "sam"), principal_for(rt.store, "cara")
    assert ask(rt, sam, FEE).action == "answer"
    assert rt.rollout.evaluate() == []
    for who in (cara, sam):
        with pytest.raises(NotFoundError, match="conversation"):
            ask(rt, who, FEE, conversation_id="01AAAAAAAAAAAAAAAAAAAAAAAA")  # the client's
    assert rt.rollout.evaluate() == []  # a client's mistakes are not server errors
    # Another replica, whose embedder does not match the store's vectors.
    with rt.store.write() as (s, _):
        Store.set_meta(s, "vector_space", "another-embedder-v9")
    replica = make_runtime(rt.settings.home)
    with pytest.raises(Exception, match="embedder"):
        ask(replica, cara, FEE)
    (closed,) = replica.rollout.evaluate()
    assert closed["wave"] == "customers" and closed["metric"] == "error_rate"
    assert closed["value"] == pytest.approx(0.5) and closed["sample"] == 2
    assert replica.rollout.evaluate() == []  # the same breach does not close north-staff
    again = ask(replica, cara, FEE)  # the previous behaviour, decided before search
    assert again.action == "escalate" and row_of(rt, again.audit_id).reason.startswith(RULE)
    assert ROLLOUT_RULE == RULE  # the pipeline's copy of the rule names the same thing


def test_waves_and_figures_on_postgresql(pg_rt: Runtime) -> None:
    """The same migration, state changes and figures on PostgreSQL (the other tests: SQLite)."""
    rt = pg_rt
    write_plan(rt)
    ops = principal_for(rt.store, "ops")
    rt.rollout.open(ops, "fees", "north-staff")
    sam = principal_for(rt.store, "sam")
    answered = ask(rt, sam, FEE)
    assert answered.action == "answer"
    assert ask(rt, principal_for(rt.store, "cara"), FEE).action == "escalate"
    rt.feedback.give(sam, answered.audit_id, thumb=None, rating=4)
    rt.feedback.give(sam, answered.audit_id, thumb=1, rating=None)  # changed: thumbs up, 5
    now = datetime.now(UTC)
    figures = measure(rt.store, "fees", now - timedelta(hours=1), now).metrics
    assert (figures["satisfaction"].value, figures["satisfaction"].sample) == (5.0, 1)
    assert figures["cost_per_interaction"].value == 0.0  # extractive: no model spend
    assert figures["leaks"].value == 0 and figures["error_rate"].value == 0
    uc = fees(rt)
    gate = next(g for g in uc["gates"] if g["metric"] == "resolution_rate")
    assert (gate["value"], gate["sample"], gate["status"]) == (1.0, 1, "insufficient")
    assert uc["previous_questions"] == 1 and uc["waves"][0]["questions"] == 1
    assert rt.rollout.evaluate() == []
    rt.rollout.close(ops, "fees", "north-staff", reason="done")
    with pytest.raises(ConflictError):
        rt.rollout.close(ops, "fees", "north-staff", reason="twice")
    assert ask(rt, principal_for(rt.store, "sam"), FEE).action == "escalate"
    assert audit.verify(rt.store).ok


def test_a_broken_rollout_file_does_not_keep_a_wave_open(
    kb_rt: Runtime, make_runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """With the file broken, the last good one stays in force where it was loaded, the page's
    status says so, and an operator can still close an open wave, here and in a process that
    never read a good file (the CLI)."""
    rt = kb_rt
    path = write_plan(rt)
    ops = principal_for(rt.store, "ops")
    rt.rollout.open(ops, "fees", "north-staff")
    rt.rollout.open(ops, "fees", "customers", override="early customers")
    assert rt.rollout.status(ops)["file_error"] is None
    path.write_text("usecases: [ {id: fees, phase: nonsense", encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))  # a newer file, whatever the clock
    status = rt.rollout.status(ops)
    assert status["file_error"] and [u["id"] for u in status["usecases"]] == ["fees"]
    # The server's guard goes on by the last good file, and says what is wrong in one line
    # (it raised each interval, a traceback in the log, and watched nothing).
    caplog.clear()
    assert rt.rollout.evaluate() == []
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        "rollout file not reloaded: " + status["file_error"]
    ]
    rt.rollout.close(ops, "fees", "customers", reason="file broken, closing by hand")
    fresh = make_runtime(rt.settings.home)  # never read a good file
    with pytest.raises(ConfigError):
        fresh.rollout.status(ops)
    caplog.clear()
    assert fresh.rollout.evaluate() == []
    (line,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert line.message.startswith("rollout guards not evaluated: ") and not line.exc_info
    fresh.rollout.close(ops, "fees", "north-staff", reason="emergency")
    with pytest.raises(NotFoundError, match="No open wave"):
        fresh.rollout.close(ops, "fees", "north-staff", reason="again")
    closed = [e["target"] for e in events(rt, "rollout-wave-closed")]
    assert closed == ["rollout:fees:customers", "rollout:fees:north-staff"]


def test_a_wave_the_file_no_longer_names_can_be_closed_and_sponsors_see_no_reasons(
    kb_rt: Runtime, make_runtime
) -> None:
    """The second outside review: renaming a use case in the file left its open wave
    unclosable (and open again when the name came back); and the CLI's status showed a
    sponsor the reasons operators typed, which the console withholds."""
    rt = kb_rt
    path = write_plan(rt)
    ops = principal_for(rt.store, "ops")
    rt.rollout.open(ops, "fees", "north-staff")
    rt.rollout.open(ops, "fees", "customers", override="Pilot for Dana Whitfield's team")
    sponsored = make_runtime(rt.settings.home, sponsor_group="finance")
    waves = sponsored.rollout.status(principal_for(sponsored.store, "fin"))["usecases"][0]
    shown = {w["id"]: w for w in waves["waves"]}
    assert shown["customers"]["override"] == "recorded in the audit trail"
    assert "Whitfield" not in json.dumps(waves)
    path.write_text(PLAN.replace("id: fees", "id: fees-renamed", 1), encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    rt.rollout.close(ops, "fees", "customers", reason="renamed in the file")
    rt.rollout.close(ops, "fees", "north-staff", reason="renamed in the file")
    with rt.store.read() as s:
        assert not s.scalars(select(RolloutWave).where(RolloutWave.is_open.is_(True))).all()
