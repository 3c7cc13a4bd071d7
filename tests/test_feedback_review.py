"""Feedback on one's own answers only, masked and audited; the quality-review queue: what it
flags, who sees and works it, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from steward import audit
from steward.identity.auth import Principal, principal_for
from steward.pipeline.orchestrator import Response, ask
from steward.runtime import Runtime
from steward.store.models import Feedback, ReviewItem, User
from tests.conftest import run_cli

CARD, EMAIL = "4111 1111 1111 1111", "jane.doe@example.com"
WIRE = "How much does a domestic wire cost?"


def asks(rt: Runtime, user: str, question: str, conv: str | None = None) -> Response:
    return ask(rt, principal_for(rt.store, user), question, "api", conversation_id=conv)


def reviewer(rt: Runtime, user: str) -> Principal:
    with rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == user).values(access="reviewer"))
    return principal_for(rt.store, user)


def events(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    return [r for r in audit.export(rt.store) if r["kind"] == kind]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_feedback_on_ones_own_answer_is_masked_audited_and_flags_a_bad_answer(
    engine_rt: Runtime,
) -> None:
    kb_rt = engine_rt
    r = asks(kb_rt, "cara", WIRE)
    cara = principal_for(kb_rt.store, "cara")
    fb = kb_rt.feedback.give(
        cara, r.audit_id, thumb=-1, rating=None, comment=f"Wrong! Mail me at {EMAIL}, card {CARD}"
    )
    assert CARD not in fb.comment and EMAIL not in fb.comment and "Wrong!" in fb.comment
    with kb_rt.store.read() as s:
        stored = list(s.scalars(select(Feedback)))
        item = s.scalars(select(ReviewItem).where(ReviewItem.audit_id == r.audit_id)).one()
    assert [f.comment for f in stored] == [fb.comment]
    assert "negative-feedback" in item.flags and item.status == "open"
    (event,) = events(kb_rt, "feedback-given")
    assert event["user_id"] == "cara" and event["target"] == f"audit:{r.audit_id}"
    assert event["payload"]["thumb"] == -1 and event["payload"]["previous"] is None
    assert all(
        CARD not in json.dumps(e) and EMAIL not in json.dumps(e)
        for e in events(kb_rt, "feedback-given")
    )
    # Giving it again replaces it (one per asker and answer) and names what it replaced.
    kb_rt.feedback.give(cara, r.audit_id, thumb=1, rating=5)
    with kb_rt.store.read() as s:
        assert [(f.thumb, f.rating) for f in s.scalars(select(Feedback))] == [(1, 5)]
    assert events(kb_rt, "feedback-given")[-1]["payload"]["previous"] == {
        "thumb": -1,
        "rating": None,
    }


def test_another_askers_answer_is_a_404_like_a_forged_id(live_kb, kb_rt: Runtime) -> None:
    server, keys = live_kb
    r = asks(kb_rt, "cara", WIRE)

    def post(key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/feedback", json=body, headers=auth(key), timeout=60)

    theirs = post(keys["sam"], {"audit_id": r.audit_id, "thumb": "down", "comment": CARD})
    forged = post(keys["sam"], {"audit_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "thumb": "down"})
    weird = post(keys["sam"], {"audit_id": f"{CARD}' OR 1=1 --", "thumb": "down"})
    assert theirs.status_code == forged.status_code == weird.status_code == 404
    assert theirs.json()["error"]["message"] == forged.json()["error"]["message"]
    assert CARD not in weird.text
    with kb_rt.store.read() as s:
        assert list(s.scalars(select(Feedback))) == []
    (denied,) = [e for e in events(kb_rt, "access-denied") if e["user_id"] == "sam"]
    assert denied["payload"]["rule"] == "feedback-on-another-askers-answer"
    assert events(kb_rt, "feedback-given") == []
    # No credentials: 401; bad values: 422; one's own answer: 201.
    assert httpx.post(f"{server.url}/v1/feedback", json={}, timeout=60).status_code == 401
    for bad in ({"rating": 6}, {"rating": True}, {"thumb": "sideways"}, {"extra": 1}):
        assert post(keys["cara"], {"audit_id": r.audit_id, **bad}).status_code == 422
    mine = post(keys["cara"], {"audit_id": r.audit_id, "thumb": "up", "comment": f"ok {EMAIL}"})
    assert mine.status_code == 201, mine.text
    assert mine.json()["thumb"] == "up" and EMAIL not in mine.text


@pytest.fixture
def watchful_rt(kb_home: Path, tmp_path: Path, make_runtime: Any) -> Runtime:
    """The test knowledge base with quality monitoring set to flag readily."""
    home = tmp_path / "kb-home"
    shutil.copytree(kb_home, home)
    rt: Runtime = make_runtime(home, review_margin=1.0, review_volume_per_hour=2)
    return rt


def test_quality_monitoring_flags_margin_repeats_and_volume(watchful_rt: Runtime) -> None:
    rt = watchful_rt
    first = asks(rt, "cara", WIRE)
    again = asks(rt, "cara", WIRE, first.conversation_id)
    third = asks(rt, "cara", "How much is the monthly maintenance fee?")
    assert (first.action, again.action, third.action) == ("answer", "answer", "answer")
    with rt.store.read() as s:
        flags = {i.audit_id: i.flags for i in s.scalars(select(ReviewItem))}
    assert flags[first.audit_id] == ["low-margin"]
    assert flags[again.audit_id] == ["low-margin", "repeated"]
    assert flags[third.audit_id] == ["low-margin", "unusual-volume"]  # cara's third this hour
    row = audit.get(rt.store, first.audit_id)
    assert row.settings["grounding"] == 1.0  # extractive sentences are held word for word


def test_quality_monitoring_leaves_a_clear_answer_alone(kb_rt: Runtime) -> None:
    r = asks(kb_rt, "cara", WIRE)
    with kb_rt.store.read() as s:
        assert (
            s.scalars(select(ReviewItem).where(ReviewItem.audit_id == r.audit_id)).first() is None
        )


def test_reviewers_work_their_own_centers_queue(live_kb, kb_rt: Runtime) -> None:
    server, keys = live_kb
    r = asks(kb_rt, "cara", WIRE)  # cara is north
    kb_rt.feedback.give(principal_for(kb_rt.store, "cara"), r.audit_id, thumb=-1, rating=None)
    reviewer(kb_rt, "nora")  # north
    reviewer(kb_rt, "solo")  # south

    def get(key: str) -> httpx.Response:
        return httpx.get(f"{server.url}/v1/review", headers=auth(key), timeout=60)

    assert get(keys["cara"]).status_code == 403  # an asker has no queue
    assert get(keys["solo"]).json() == []
    (item,) = get(keys["nora"]).json()
    assert item["audit_id"] == r.audit_id and item["flags"] == ["negative-feedback"]
    assert [i["id"] for i in get(keys["ops"]).json()] == [item["id"]]  # operators: all
    url = f"{server.url}/v1/review/{item['id']}"
    other = httpx.post(f"{url}/claim", headers=auth(keys["solo"]), timeout=60)
    assert other.status_code == 404  # another center's item is not in solo's queue
    claimed = httpx.post(f"{url}/claim", headers=auth(keys["nora"]), timeout=60)
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "nora"
    taken = httpx.post(
        f"{url}/verdict", json={"verdict": "right"}, headers=auth(keys["solo"]), timeout=60
    )
    assert taken.status_code == 404
    done = httpx.post(
        f"{url}/verdict",
        json={"verdict": "wrong", "note": f"customer card {CARD}"},
        headers=auth(keys["nora"]),
        timeout=60,
    )
    assert done.status_code == 200, done.text
    assert done.json()["verdict"] == "wrong" and CARD not in done.json()["note"]
    (verdict,) = events(kb_rt, "review-verdict")
    assert verdict["payload"]["verdict"] == "wrong" and verdict["user_id"] == "nora"
    assert [e["user_id"] for e in events(kb_rt, "review-claimed")] == ["nora"]
    bad = httpx.post(
        f"{url}/verdict", json={"verdict": "maybe"}, headers=auth(keys["nora"]), timeout=60
    )
    assert bad.status_code == 422
    report = httpx.get(f"{server.url}/v1/report?since=7d", headers=auth(keys["ops"]), timeout=60)
    assert report.status_code == 200 and report.json()["answer_precision"] == 0.0
    assert httpx.get(f"{server.url}/v1/report", headers=auth(keys["nora"])).status_code == 403
    bad_since = httpx.get(f"{server.url}/v1/report?since=1y", headers=auth(keys["ops"]))
    assert bad_since.status_code == 422  # the query's schema: 1 to 9999 and h, d or w


def test_review_cli_lists_and_records_verdicts(kb_rt: Runtime, model_cache: Path) -> None:
    r = asks(kb_rt, "cara", WIRE)
    kb_rt.feedback.give(principal_for(kb_rt.store, "cara"), r.audit_id, thumb=-1, rating=None)
    home = kb_rt.settings.home
    listed = run_cli("review", "list", "--json", home=home, model_cache=model_cache)
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)
    done = run_cli(
        "review",
        "verdict",
        item["id"],
        "right",
        "--note",
        "fine",
        home=home,
        model_cache=model_cache,
    )
    assert done.returncode == 0, done.stderr
    bad = run_cli("review", "verdict", item["id"], "maybe", home=home, model_cache=model_cache)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    missing = run_cli("review", "verdict", "nope", "right", home=home, model_cache=model_cache)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    again = json.loads(
        run_cli("review", "list", "--json", home=home, model_cache=model_cache).stdout
    )
    assert again[0]["verdict"] == "right" and again[0]["status"] == "reviewed"


def test_review_api_withholds_an_answer_citing_a_document_the_viewer_may_not_read(
    kb_rt: Runtime,
) -> None:
    """The outside review read a restricted answer through GET /v1/review that the console
    withholds: the API now withholds it the same way (the test KB's restricted group is
    ``finance``; the operator is not in it)."""
    from steward.audit.view import WITHHELD
    from steward.identity.auth import create_key
    from tests.test_audit_entitlements import BUDGET, _get

    r = asks(kb_rt, "fin", BUDGET)
    assert r.action == "answer" and r.answer
    kb_rt.feedback.give(principal_for(kb_rt.store, "fin"), r.audit_id, thumb=-1, rating=None)
    rows = _get(kb_rt, create_key(kb_rt.store, "ops"), "/v1/review").json()
    (item,) = [i for i in rows if i["audit_id"] == r.audit_id]
    assert item["answer"] == WITHHELD and r.answer not in json.dumps(rows)
    assert item["question"] == BUDGET
    assert item["citations"] and all(c["title"] == WITHHELD for c in item["citations"])
    assert "Finance Budget Memo" not in json.dumps(rows)


def test_feedback_that_says_nothing_is_refused_and_not_counted(live_kb, kb_rt: Runtime) -> None:
    from steward.core.errors import InputError

    server, keys = live_kb
    r = asks(kb_rt, "cara", WIRE)
    cara = principal_for(kb_rt.store, "cara")
    with pytest.raises(InputError, match="Give a thumb, a rating or a comment"):
        kb_rt.feedback.give(cara, r.audit_id, thumb=None, rating=None, comment="   ")
    empty = httpx.post(
        f"{server.url}/v1/feedback",
        json={"audit_id": r.audit_id, "thumb": None, "rating": None, "comment": ""},
        headers=auth(keys["cara"]),
        timeout=60,
    )
    # Refused by the body's schema (which says so: anyOf thumb, rating, comment), before any work.
    assert empty.status_code == 422, empty.text
    assert "Give a thumb, a rating or a comment." in empty.json()["error"]["message"]
    with kb_rt.store.read() as s:
        assert list(s.scalars(select(Feedback))) == []
    assert events(kb_rt, "feedback-given") == []
