"""The six metrics: exact figures from known traffic through the real pipeline, on SQLite and
PostgreSQL; null where there is no data; the rollup's watermark never counts a row twice; the
`steward report` command."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from steward import audit
from steward.identity.auth import principal_for
from steward.operations import report as reports
from steward.operations.rollup import EDGES, bucket_of, fold, watermark
from steward.pipeline.orchestrator import Response, ask
from steward.runtime import Runtime
from steward.store import Store
from tests.conftest import run_cli

FRAUD = "Someone used my card 4111 1111 1111 1111 for purchases I never made!"
SIX = (
    "resolution_rate",
    "escalation_rate",
    "answer_precision",
    "latency_ms_p50",
    "latency_ms_p95",
    "cost_per_resolved",
    "satisfaction",
)


def asks(rt: Runtime, user: str, question: str, conv: str | None = None) -> Response:
    return ask(rt, principal_for(rt.store, user), question, "api", conversation_id=conv)


def traffic(rt: Runtime) -> dict[str, Response]:
    """Five questions of three askers, their feedback and two reviewers' verdicts."""
    r = {
        "wire": asks(rt, "cara", "How much does a domestic wire cost?"),
        "fee": asks(rt, "sam", "How much is the monthly maintenance fee?"),
        "swallow": asks(rt, "sam", "What is the airspeed velocity of an unladen swallow?"),
        "discount": asks(rt, "fin", "What is the staff discount?"),
    }
    # cara's next message in the same conversation is handed off: her answer is reopened.
    r["fraud"] = asks(rt, "cara", FRAUD, r["wire"].conversation_id)
    assert {k: v.action for k, v in r.items()} == {
        "wire": "answer",
        "fee": "answer",
        "swallow": "abstain",
        "discount": "answer",
        "fraud": "escalate",
    }
    fb = rt.feedback
    fb.give(principal_for(rt.store, "cara"), r["wire"].audit_id, thumb=1, rating=None)
    fb.give(principal_for(rt.store, "sam"), r["fee"].audit_id, thumb=None, rating=2)
    fb.give(principal_for(rt.store, "fin"), r["discount"].audit_id, thumb=1, rating=None)
    ops = principal_for(rt.store, "ops")
    with rt.store.write() as (s, _):
        rt.review.flag(
            s,
            audit_id=r["discount"].audit_id,
            user_id="fin",
            center=None,
            conversation_id=r["discount"].conversation_id,
            flags=["low-margin"],
        )
    items = {i.audit_id: i.id for i in rt.review.list(ops, limit=500)}
    rt.review.verdict(ops, items[r["fee"].audit_id], "wrong", note="fee is $12")
    rt.review.verdict(ops, items[r["discount"].audit_id], "right")
    return r


def test_an_empty_store_reports_null_never_a_made_up_value(engine_rt: Runtime) -> None:
    data = reports.report(engine_rt)
    assert data["questions"] == 0
    for metric in (*SIX, "deflection", "active_askers_7d", "active_askers_30d"):
        assert data[metric] is None, metric
    assert data["active_askers_90d"] is None and data["returning_askers"] is None
    assert set(data["status"].values()) == {None}
    assert data["targets"]["resolution_rate"] == {"target": 0.8, "comparison": ">="}


def test_known_traffic_gives_exact_figures(engine_rt: Runtime) -> None:
    rt = engine_rt
    traffic(rt)
    data = reports.report(rt)
    assert data["questions"] == 5
    counts = data["counts"]
    assert (counts["answered"], counts["escalated"], counts["abstained"]) == (3, 1, 1)
    # Reopened: the wire answer (handed off later in its conversation) and the fee answer
    # (rated 2 and found wrong: counted once).
    assert counts["reopened"] == 2 and counts["handed_off_later"] == 1
    assert data["resolution_rate"] == pytest.approx((3 - 2) / 5)
    assert data["escalation_rate"] == pytest.approx(1 / 5)
    assert data["deflection"] == pytest.approx((5 - 1 - 1) / 5)
    assert data["answer_precision"] == pytest.approx(0.5)
    assert data["satisfaction"] == pytest.approx((5 + 2 + 5) / 3, abs=1e-3)
    assert data["cost_per_resolved"] == 0.0  # the extractive provider uses no model
    assert 0 < data["latency_ms_p50"] <= data["latency_ms_p95"]
    assert (data["active_askers_7d"], data["active_askers_90d"]) == (3, 3)
    assert data["returning_askers"] == 0  # all first seen in the period, on one day
    assert data["status"]["resolution_rate"] == "red"
    assert data["status"]["escalation_rate"] == "green"  # 0.2 <= 0.2
    assert data["status"]["satisfaction"] == "red"  # 4.0 is more than 10% under 4.5
    assert data["status"]["cost_per_resolved"] == "green"
    # Per center: cara and sam are north; fin has no center.
    north = reports.report(rt, center="north")
    assert north["questions"] == 4 and north["active_askers_7d"] == 2
    assert north["resolution_rate"] == pytest.approx(0 / 4)
    assert north["answer_precision"] == pytest.approx(0.0)
    assert reports.report(rt, center="south")["questions"] == 0
    # A period that ends before the traffic holds none of it.
    past = reports.report(rt, now=datetime.now(UTC) - timedelta(days=3), since=timedelta(days=1))
    assert past["questions"] == 0 and past["resolution_rate"] is None


def test_series_gives_one_point_per_day_and_null_where_empty(engine_rt: Runtime) -> None:
    traffic(engine_rt)
    points = reports.series(engine_rt, metric="escalation_rate", since=timedelta(days=7))
    assert len(points) == 8
    assert points[-1][1] == pytest.approx(0.2)
    assert all(v is None for _, v in points[:-1])
    with pytest.raises(Exception, match="No trend"):
        reports.series(engine_rt, metric="active_askers_7d")


def test_verdicts_move_answer_precision(engine_rt: Runtime) -> None:
    kb_rt = engine_rt
    r = asks(kb_rt, "cara", "How much does a domestic wire cost?")
    ops = principal_for(kb_rt.store, "ops")
    with kb_rt.store.write() as (s, _):
        kb_rt.review.flag(
            s, audit_id=r.audit_id, user_id="cara", center="north", conversation_id=None,
            flags=["low-margin"],
        )  # fmt: skip
    (item,) = kb_rt.review.list(ops)
    assert reports.report(kb_rt)["answer_precision"] is None
    kb_rt.review.verdict(ops, item.id, "right")
    assert reports.report(kb_rt)["answer_precision"] == 1.0
    kb_rt.review.verdict(ops, item.id, "wrong")  # changed: the earlier verdict is taken back
    data = reports.report(kb_rt)
    assert data["answer_precision"] == 0.0
    assert (data["counts"]["verdict_right"], data["counts"]["verdict_wrong"]) == (0, 1)
    assert data["counts"]["reopened"] == 1


def _question_rows(store: Store, n: int) -> None:
    for i in range(n):
        entry = audit.AuditEntry(
            channel="api",
            user_id=f"u{i % 3}",
            groups=[],
            center="north" if i % 2 else None,
            question=f"question {i}",
            action="answer",
            reason="",
            escalation_reason=None,
            confidence=0.9,
            answer="",
            citations=[],
            retrieved=[],
            provider="extractive",
            model="extractive",
            prompt_version="v",
            kb_version=1,
            settings={"tokens": [0, 0]},
            latency_ms={"total": 10.0 + i},
        )
        audit.append(store, entry)


def test_two_workers_folding_at_once_count_every_row_once(engine_rt: Runtime) -> None:
    rt = engine_rt
    _question_rows(rt.store, 40)
    workers = [Store(rt.settings.db_url) for _ in range(4)]
    start = threading.Barrier(len(workers))
    folded: list[int] = []

    def work(store: Store) -> None:
        start.wait()
        folded.append(fold(store, batch=3))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for w in workers:
        w.dispose()
    # Every row was folded by exactly one worker, and counted once.
    assert sum(folded) == 40
    assert watermark(rt.store) == audit.count(rt.store)
    data = reports.report(rt)
    assert data["questions"] == 40 and data["counts"]["answered"] == 40
    assert reports.report(rt, center="north")["questions"] == 20
    assert data["active_askers_7d"] == 3


def test_percentiles_interpolate_inside_the_bucket() -> None:
    buckets = [0] * (len(EDGES) + 1)
    b = bucket_of(100.0)
    buckets[b] = 10
    lo, hi = EDGES[b - 1], EDGES[b]
    assert lo <= 100.0 < hi
    assert reports.percentile(buckets, 0.5) == pytest.approx(lo + (hi - lo) * 0.5)
    assert reports.percentile([0] * 5, 0.5) is None


@pytest.mark.parametrize("bad", ["", "30", "-1d", "10y", "0d", "007d", "99999d", "7 days"])
def test_a_bad_period_is_a_clear_error(bad: str) -> None:
    with pytest.raises(Exception, match="Bad period"):
        reports.parse_since(bad)


def test_report_cli_prints_one_json_object_and_refuses_bad_input(
    kb_rt: Runtime, model_cache: Path
) -> None:
    asks(kb_rt, "cara", "How much does a domestic wire cost?")
    home = kb_rt.settings.home
    done = run_cli("report", "--json", "--since", "7d", home=home, model_cache=model_cache)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for key in (*SIX, "active_askers_7d", "active_askers_30d", "active_askers_90d", "questions"):
        assert key in data
    assert data["questions"] == 1 and data["escalation_rate"] == 0.0
    table = run_cli("report", "--center", "north", home=home, model_cache=model_cache)
    assert table.returncode == 0 and "Resolution rate" in table.stdout
    for args in (["--since", "soon"], ["--center", "x" * 65]):
        bad = run_cli("report", "--json", *args, home=home, model_cache=model_cache)
        assert bad.returncode == 2 and bad.stdout == ""
        assert len(bad.stderr.strip().splitlines()) == 1 and "error" in bad.stderr


def test_targets_come_from_configuration_and_a_bad_one_is_a_clear_error(
    kb_home: Path, tmp_path: Path, make_runtime: Any
) -> None:
    import shutil

    from steward.core.errors import ConfigError

    shutil.copytree(kb_home, tmp_path / "a")
    shutil.copytree(kb_home, tmp_path / "b")
    tuned = make_runtime(
        tmp_path / "a", metric_targets={"escalation_rate": "<= 0.1", "satisfaction": None}
    )
    asks(tuned, "cara", FRAUD)
    data = reports.report(tuned)
    assert data["targets"]["escalation_rate"] == {"target": 0.1, "comparison": "<="}
    assert "satisfaction" not in data["targets"] and data["status"]["escalation_rate"] == "red"
    bad = make_runtime(tmp_path / "b", metric_targets={"resolution_rate": "about 0.8"})
    with pytest.raises(ConfigError, match="STEWARD_METRIC_TARGETS"):
        reports.report(bad)


def test_a_clients_mistakes_are_rejected_requests_not_server_errors(kb_rt: Runtime) -> None:
    from steward.core.errors import NotFoundError
    from steward.operations.rollup import error_code

    asks(kb_rt, "cara", "How much does a domestic wire cost?")
    for _ in range(5):  # a conversation that is not the asker's: a 404, their mistake
        with pytest.raises(NotFoundError):
            asks(kb_rt, "cara", "hi", "01AAAAAAAAAAAAAAAAAAAAAAAA")
    failed = [r for r in audit.export(kb_rt.store) if r.get("action") == "error"]
    assert len(failed) == 5 and error_code(failed[0]["reason"]) == "not_found"
    data = reports.report(kb_rt)
    assert data["questions"] == 1 and data["escalation_rate"] == 0.0
    assert data["counts"]["errors"] == 0 and data["counts"]["rejected"] == 5
    assert all(type(v) is int for k, v in data["counts"].items() if k != "cost_usd")
    assert error_code("error.internal_error: the request failed (internal_error)") == (
        "internal_error"
    )
    assert error_code("error.provider_unavailable: the request failed") == "provider_unavailable"


def test_an_unknown_center_is_refused_naming_the_known_ones(
    live_kb: Any, kb_rt: Runtime, model_cache: Path
) -> None:
    import httpx

    from steward.core.errors import NotFoundError

    server, keys = live_kb
    r = httpx.get(
        f"{server.url}/v1/report",
        params={"center": "atlantis"},
        headers={"Authorization": f"Bearer {keys['ops']}"},
        timeout=60,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "north" in r.json()["error"]["message"]

    with pytest.raises(NotFoundError, match=r"Unknown center 'atlantis'.*north"):
        reports.report(kb_rt, center="atlantis")
    with pytest.raises(NotFoundError, match="atlantis"):
        reports.series(kb_rt, metric="questions", center="atlantis")
    assert reports.report(kb_rt, center="north")["questions"] == 0
    bad = run_cli(
        "report", "--center", "atlantis", home=kb_rt.settings.home, model_cache=model_cache
    )
    assert bad.returncode == 2 and bad.stdout == "" and "north" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_new_process_reads_daily_rows_and_agrees_with_a_server_to_the_hour(
    engine_rt: Runtime,
) -> None:
    """Rows spread over four days, then feedback on an old answer (which changes a past hour):
    the daily rows stay the sum of their hours, and a report read from them (a new `steward
    report` process) equals the one a server computes from the hours it keeps, for periods that
    cut days in the middle."""
    rt = engine_rt
    users = ("cara", "sam", "fin")
    for i in range(30):
        entry = audit.AuditEntry(
            channel="api", user_id=users[i % 3], groups=[], center="north" if i % 2 else None,
            question=f"question {i}", action="answer" if i % 5 else "escalate", reason="",
            escalation_reason=None, confidence=0.9, answer="", citations=[], retrieved=[],
            provider="extractive", model="extractive", prompt_version="v", kb_version=1,
            settings={"tokens": [0, 0]}, latency_ms={"total": 10.0 + 37 * i},
        )  # fmt: skip
        audit.append(rt.store, entry)
    now = datetime.now(UTC)
    with rt.store.raw() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM audit ORDER BY seq"))]
        for i, audit_id in enumerate(ids):  # the i-th question asked 3.3 * i hours ago
            conn.execute(
                text("UPDATE audit SET ts = :ts WHERE id = :id"),
                {"ts": (now - timedelta(hours=3.3 * i)).replace(tzinfo=None), "id": audit_id},
            )
    fold(rt.store)
    # Feedback two days after an answer given 80 hours ago: a past hour and day change.
    rt.feedback.give(principal_for(rt.store, users[24 % 3]), ids[24], thumb=-1, rating=None)
    fold(rt.store)
    with rt.store.read() as s:
        hourly = s.execute(text("SELECT hour, center, counts FROM metric_rollups")).all()
        daily = s.execute(text("SELECT day, center, counts FROM metric_rollups_daily")).all()
    summed: dict[tuple[str, str], dict[str, float]] = {}
    for hour, center, counts in hourly:
        day = str(hour)[:10]
        for k, v in (json.loads(counts) if isinstance(counts, str) else counts).items():
            summed.setdefault((day, center), {}).setdefault(k, 0)
            summed[(day, center)][k] += v
    stored = {
        (str(day)[:10], center): json.loads(counts) if isinstance(counts, str) else counts
        for day, center, counts in daily
    }
    assert stored == {k: {n: v for n, v in c.items() if v} for k, c in summed.items()}
    assert sum(c.get("feedback", 0) for c in stored.values()) == 1
    for since in (timedelta(hours=30), timedelta(days=2, hours=5), timedelta(days=30)):
        for center in (None, "north"):
            reports.forget()
            cold = reports.report(rt, center=center, since=since, now=now)
            reports.series(rt, metric="resolution_rate", center=center, since=since, now=now)
            warm = reports.report(rt, center=center, since=since, now=now)
            assert cold == warm, (since, center)
            assert cold["questions"] > 0
    assert reports.report(rt, since=timedelta(days=30), now=now)["questions"] == 30
