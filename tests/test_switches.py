"""Kill switches and overrides: they act on every replica within seconds, govern the cache, and
every change is an audited, permission-checked act of a named operator."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from steward import audit
from steward.core.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from steward.identity.auth import principal_for
from steward.operations.switches import providers_of
from steward.pipeline.orchestrator import ask
from steward.store.models import AuditRecord, Document, Ticket, User
from tests.conftest import run_cli

WIRE = "How much does an international wire cost?"


def events(rt, kind: str) -> list[AuditRecord]:
    with rt.store.read() as s:
        return list(
            s.scalars(select(AuditRecord).where(AuditRecord.kind == kind).order_by(AuditRecord.seq))
        )


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_switch_set_on_one_worker_holds_on_another_within_the_refresh_interval(
    kb_rt, make_runtime
) -> None:
    other = make_runtime(kb_rt.settings.home)  # a second replica on the same store
    clock = Clock()
    other.switches.clock = clock
    assert other.switches.refresh_s <= 2.0  # settings: well inside the 5 s promise
    cara = principal_for(kb_rt.store, "cara")
    assert ask(other, cara, WIRE).action == "answer"
    ops = principal_for(kb_rt.store, "ops")
    sw = kb_rt.switches.set(ops, "stop-answers", reason="fee answers under review")
    # The first worker sees its own change at once; the other reads at most every refresh_s.
    assert ask(kb_rt, cara, WIRE).action == "escalate"
    clock.now += other.switches.refresh_s
    held = ask(other, cara, WIRE)
    assert held.action == "escalate" and held.ticket_id is not None
    kb_rt.switches.clear(ops, sw.id, reason="reviewed")
    clock.now += other.switches.refresh_s
    assert ask(other, cara, WIRE).action == "answer"


def test_stop_answers_for_a_center_sends_its_questions_to_a_person_only(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    kb_rt.switches.set(ops, "stop-answers", center="north", reason="north script is wrong")
    cara = principal_for(kb_rt.store, "cara")  # a north customer
    north = ask(kb_rt, cara, WIRE)
    assert north.action == "escalate" and north.ticket_id is not None
    assert "handing this conversation to a person" in north.answer
    with kb_rt.store.read() as s:
        ticket = s.get(Ticket, north.ticket_id)
    assert ticket is not None and ticket.center == "north" and ticket.status == "open"
    row = audit.get(kb_rt.store, north.audit_id)
    assert row.reason.startswith("switch.stop-answers") and "center north" in row.reason
    south = ask(kb_rt, principal_for(kb_rt.store, "solo"), WIRE)
    assert south.action == "answer" and "$45" in south.answer
    kb_rt.switches.resume(ops, center="north", reason="fixed")
    assert ask(kb_rt, cara, WIRE).action == "answer"


def test_a_fraud_report_keeps_its_own_reason_while_answers_are_stopped(kb_rt) -> None:
    kb_rt.switches.set(principal_for(kb_rt.store, "ops"), "stop-answers", reason="outage")
    r = ask(
        kb_rt,
        principal_for(kb_rt.store, "cara"),
        "Someone used my card for purchases I never made!",
    )
    assert (r.action, r.escalation_reason) == ("escalate", "fraud")  # p1, not the switch's p3


def test_no_cached_answer_is_served_while_answers_are_stopped(kb_rt) -> None:
    cara = principal_for(kb_rt.store, "cara")
    ops = principal_for(kb_rt.store, "ops")
    ask(kb_rt, cara, WIRE)
    assert ask(kb_rt, cara, WIRE).cache == "exact"
    kb_rt.switches.set(ops, "stop-answers", reason="wrong fees in answers")
    stopped = ask(kb_rt, cara, WIRE)
    assert stopped.action == "escalate" and stopped.cache is None
    assert "$45" not in stopped.answer
    kb_rt.switches.resume(ops, reason="fees fixed")
    assert ask(kb_rt, cara, WIRE).cache == "exact"


def _doc_ids(rt, hits) -> set[str]:
    from steward.store.models import Chunk

    with rt.store.read() as s:
        rows = s.execute(
            select(Document.doc_id)
            .join(Chunk, Chunk.document_id == Document.id)
            .where(Chunk.id.in_([h.chunk_id for h in hits]))
        ).all()
    return {r[0] for r in rows}


def test_an_excluded_document_leaves_retrieval_and_the_cache_on_both_engines(engine_rt) -> None:
    rt = engine_rt
    cara = principal_for(rt.store, "cara")
    ops = principal_for(rt.store, "ops")
    before = ask(rt, cara, WIRE)
    assert "pub-fees" in {c.doc_id for c in before.citations}
    assert ask(rt, cara, WIRE).cache == "exact"
    sw = rt.switches.set(ops, "exclude-document", value={"document": "pub-fees"}, reason="wrong")
    flt = rt.search.filter_for(cara.groups, cara.center)
    vec = rt.embedder.embed([WIRE])[0]
    for mode in ("lexical", "dense", "hybrid"):
        hits = rt.search.search(WIRE, vec, flt, 20, mode=mode)
        assert "pub-fees" not in _doc_ids(rt, hits), mode
        assert hits or mode == "lexical"  # no other document has these words
    after = ask(rt, cara, WIRE)
    assert after.cache is None and "pub-fees" not in {c.doc_id for c in after.citations}
    assert "$45" not in after.answer
    # The permission filter still comes first: nothing outside cara's access appears either.
    assert "int-budget" not in _doc_ids(rt, rt.search.search("marketing budget", vec, flt, 50))
    rt.switches.clear(ops, sw.id, reason="fixed")
    flt = rt.search.filter_for(cara.groups, cara.center)
    assert flt.excluded == frozenset()
    assert "pub-fees" in _doc_ids(rt, rt.search.search(WIRE, vec, flt, 5))


def test_an_excluded_source_leaves_retrieval(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    sam = principal_for(kb_rt.store, "sam")
    question = "How do I reset my card PIN?"
    vec = kb_rt.embedder.embed([question])[0]
    flt = kb_rt.search.filter_for(sam.groups, sam.center)
    assert "faq:faq-1" in _doc_ids(kb_rt, kb_rt.search.search(question, vec, flt, 5))
    kb_rt.switches.set(ops, "exclude-source", value={"source": "faq"}, reason="stale FAQ")
    flt = kb_rt.search.filter_for(sam.groups, sam.center)
    found = _doc_ids(kb_rt, kb_rt.search.search(question, vec, flt, 50))
    assert not any(d.startswith("faq:") for d in found)
    with pytest.raises(NotFoundError):
        kb_rt.switches.set(ops, "exclude-source", value={"source": "nope"}, reason="typo")


def test_a_pinned_answer_is_given_and_cites_only_what_the_asker_may_read(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    text = "International wires are paused today; call us before sending one."
    kb_rt.switches.set(
        ops,
        "pin-answer",
        pattern=r"international\s+wire",
        value={"answer": text, "cite": "pub-fees"},
        reason="payments incident",
    )
    cara = principal_for(kb_rt.store, "cara")
    r = ask(kb_rt, cara, WIRE)
    assert (r.action, r.answer) == ("answer", text)
    assert [c.doc_id for c in r.citations] == ["pub-fees"]
    assert audit.get(kb_rt.store, r.audit_id).reason.startswith("switch.pin-answer")
    assert ask(kb_rt, cara, "What is the monthly fee?").answer != text  # pattern only
    kb_rt.switches.set(
        ops,
        "pin-answer",
        pattern="marketing budget",
        value={"answer": "Ask Finance.", "cite": "int-budget"},
        reason="budget questions",
    )
    shown = ask(kb_rt, cara, "What is the marketing budget?")
    assert shown.answer == "Ask Finance." and shown.citations == []  # cara may not read it


def test_force_escalation_by_topic_pattern(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    kb_rt.switches.set(ops, "force-escalation", pattern=r"\bwires?\b", reason="wire incident")
    cara = principal_for(kb_rt.store, "cara")
    r = ask(kb_rt, cara, WIRE)
    assert r.action == "escalate" and r.ticket_id is not None
    assert audit.get(kb_rt.store, r.audit_id).reason.startswith("switch.force-escalation")
    assert ask(kb_rt, cara, "How do I reset my card PIN?").action == "answer"
    with pytest.raises(InputError):
        kb_rt.switches.set(ops, "force-escalation", pattern="x", intent="fees", reason="both")


PROVIDERS = """\
models:
  primary: {kind: extractive}
  backup: {kind: extractive, max_sentences: 1}
route: {simple: primary, complex: primary}
fallback: [backup]
"""


def test_provider_fallback_writes_with_the_named_provider_and_skips_the_cache(
    kb_rt, make_runtime, tmp_path: Path
) -> None:
    providers = tmp_path / "providers.yaml"
    providers.write_text(PROVIDERS)
    rt = make_runtime(kb_rt.settings.home, providers_file=providers)
    cara, ops = principal_for(rt.store, "cara"), principal_for(rt.store, "ops")
    first = ask(rt, cara, WIRE)
    assert audit.get(rt.store, first.audit_id).model.startswith("primary:")
    assert ask(rt, cara, WIRE).cache == "exact"
    with pytest.raises(NotFoundError, match="Unknown provider"):
        rt.switches.set(ops, "provider-fallback", value={"provider": "gpt-9"}, reason="x")
    sw = rt.switches.set(ops, "provider-fallback", value={"provider": "backup"}, reason="drift")
    switched = ask(rt, cara, WIRE)
    row = audit.get(rt.store, switched.audit_id)
    assert switched.cache is None and switched.action == "answer"
    assert not row.model.startswith("primary:") and row.settings["route"] == {}
    # Another profile version's providers file names its own "backup": each writes with its own.
    other = tmp_path / "other.yaml"
    other.write_text(PROVIDERS.replace("backup: {kind: extractive, max_sentences: 1}",
                                       "backup: {kind: extractive, max_sentences: 2}"))  # fmt: skip
    rt2 = make_runtime(kb_rt.settings.home, providers_file=other)
    assert rt.switches.answerer(rt.answerer).provider is providers_of(rt.answerer)["backup"]
    theirs = rt.switches.answerer(rt2.answerer).provider
    assert theirs is providers_of(rt2.answerer)["backup"]
    assert theirs is not providers_of(rt.answerer)["backup"]
    rt.switches.clear(ops, sw.id, reason="primary healthy")
    assert audit.get(rt.store, ask(rt, cara, "What is the monthly fee?").audit_id).model.startswith(
        "primary:"
    )


def test_every_change_is_audited_with_who_and_a_masked_reason(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    sw = kb_rt.switches.set(
        ops,
        "stop-answers",
        intent="fees",
        reason="complaint from jane.doe@example.com",
        intents=["fees", "cards"],
    )
    kb_rt.switches.clear(ops, sw.id, reason="handled, card 4111 1111 1111 1111 blocked")
    (set_row,) = events(kb_rt, "switch-set")
    (cleared,) = events(kb_rt, "switch-cleared")
    assert set_row.user_id == cleared.user_id == "ops"
    assert set_row.target == cleared.target == f"switch:{sw.id}"
    assert set_row.payload["kind"] == "stop-answers" and set_row.payload["intent"] == "fees"
    assert "jane.doe" not in set_row.reason and "<EMAIL_" in set_row.reason
    assert "4111" not in cleared.reason and "<CARD_" in cleared.reason
    assert "jane.doe" not in sw.reason
    assert audit.verify(kb_rt.store).ok
    with pytest.raises(InputError, match="reason"):
        kb_rt.switches.set(ops, "stop-answers", reason="   ")
    with pytest.raises(InputError, match="backtracks"):
        kb_rt.switches.set(ops, "force-escalation", pattern="(a+)+$", reason="slow")
    with pytest.raises(InputError, match="Unknown switch kind"):
        kb_rt.switches.set(ops, "stop-everything", reason="no such kind")


def test_askers_and_reviewers_may_not_touch_switches_and_are_on_the_record(kb_rt) -> None:
    with kb_rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == "nora").values(access="reviewer"))
    for user in ("cara", "nora"):
        who = principal_for(kb_rt.store, user)
        with pytest.raises(ForbiddenError):
            kb_rt.switches.set(who, "stop-answers", reason="let me in")
    denied = events(kb_rt, "access-denied")
    assert [d.user_id for d in denied] == ["cara", "nora"]
    assert all(d.payload["permission"] == "manage-switches" for d in denied)
    assert kb_rt.switches.active() == []


def _post(server, key: str, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"})


def test_the_http_api_sets_lists_and_clears_and_refuses_bad_input(live_kb, kb_rt) -> None:
    server, keys = live_kb
    ok = _post(
        server,
        keys["ops"],
        "/v1/switches",
        {"kind": "stop-answers", "center": "south", "reason": "south scripts"},
    )
    assert ok.status_code == 201, ok.text
    sw = ok.json()
    assert sw["kind"] == "stop-answers" and sw["center"] == "south" and sw["actor"] == "ops"
    listed = httpx.get(
        f"{server.url}/v1/switches", headers={"Authorization": f"Bearer {keys['ops']}"}
    )
    assert [s["id"] for s in listed.json()] == [sw["id"]]
    bad = [
        ({"kind": "stop-answers", "reason": ""}, 422),
        ({"kind": "stop-answers", "reason": "x", "colour": "red"}, 422),
        ({"kind": "stop-answers", "center": "north pole", "reason": "x"}, 422),
        ({"kind": "launch-missiles", "reason": "x"}, 422),
        ({"kind": "force-escalation", "reason": "neither pattern nor intent"}, 422),
        ({"kind": "force-escalation", "pattern": "(a+)+$", "reason": "x"}, 400),
        ({"kind": "exclude-document", "document": "nope", "reason": "x"}, 404),
        ({"kind": "provider-fallback", "provider": "gpt-9", "reason": "x"}, 404),
    ]
    for body, status in bad:
        r = _post(server, keys["ops"], "/v1/switches", body)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()["error"]) == {"code", "message", "request_id"}
    for user in ("cara", "sam"):
        r = _post(server, keys[user], "/v1/switches", {"kind": "stop-answers", "reason": "x"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = _post(server, keys[user], f"/v1/switches/{sw['id']}/clear", {"reason": "x"})
        assert r.status_code == 403
    assert {d.user_id for d in events(kb_rt, "access-denied")} == {"cara", "sam"}
    assert (
        _post(server, keys["ops"], "/v1/switches/01NOPE/clear", {"reason": "x"}).status_code == 404
    )
    cleared = _post(server, keys["ops"], f"/v1/switches/{sw['id']}/clear", {"reason": "done"})
    assert cleared.status_code == 200 and kb_rt.switches.active() == []


def test_the_cli_stops_and_resumes_a_center_and_exits_2_on_bad_input(
    kb_rt, model_cache: Path
) -> None:
    home = kb_rt.settings.home

    def cli(*args: str):
        return run_cli("switch", *args, home=home, model_cache=model_cache)

    r = cli("stop-answers", "--center", "north", "--reason", "bad north answers", "--json")
    assert r.returncode == 0, r.stderr
    listed = cli("list", "--json")
    assert '"center": "north"' in listed.stdout and '"actor": "cli:' in listed.stdout
    cara = principal_for(kb_rt.store, "cara")
    assert ask(kb_rt, cara, WIRE).action == "escalate"  # set by another process
    for args in (
        ("stop-answers", "--reason", " "),
        ("force-escalation", "--pattern", "(a+)+$", "--reason", "x"),
        ("clear", "01NOPE", "--reason", "x"),
    ):
        bad = cli(*args)
        assert bad.returncode == 2 and bad.stderr.startswith("error: "), (args, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1
    assert cli("resume", "--center", "north", "--reason", "fixed").returncode == 0
    assert ask(kb_rt, cara, WIRE).action == "answer"


def test_a_pattern_that_runs_out_of_time_hands_off_and_never_pins(kb_rt) -> None:
    from steward.operations.switches import matches

    slow = r"(x+x+)+y"
    assert matches(slow, "x" * 5000, on_timeout=False) is False  # pin-answer: no pinned reply
    assert matches(slow, "x" * 5000, on_timeout=True) is True  # force-escalation: a person
    with pytest.raises(InputError, match="backtracks"):  # and it is refused when set
        kb_rt.switches.set(
            principal_for(kb_rt.store, "ops"),
            "pin-answer",
            pattern=slow,
            value={"answer": "x"},
            reason="slow",
        )


def test_a_center_or_intent_nobody_has_is_refused_not_silently_set(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    with pytest.raises(NotFoundError, match=r"Unknown center 'nowhere'.*north"):
        kb_rt.switches.set(ops, "stop-answers", center="nowhere", reason="typo")
    with pytest.raises(ConflictError, match="steward intent train"):
        kb_rt.switches.set(ops, "stop-answers", intent="fees", reason="no model")
    with pytest.raises(NotFoundError, match="Unknown intent 'feez'"):
        kb_rt.switches.set(ops, "stop-answers", intent="feez", intents=["fees"], reason="typo")
    assert kb_rt.switches.active() == [] and events(kb_rt, "switch-set") == []
    glob = kb_rt.switches.set(ops, "stop-answers", intent="fee*", intents=["fees"], reason="ok")
    assert glob.intent == "fee*"


def test_a_second_switch_of_the_same_kind_and_scope_is_a_conflict(kb_rt) -> None:
    ops = principal_for(kb_rt.store, "ops")
    first = kb_rt.switches.set(ops, "stop-answers", center="north", reason="north scripts")
    with pytest.raises(ConflictError, match=first.id):
        kb_rt.switches.set(ops, "stop-answers", center="north", reason="again")
    kb_rt.switches.set(ops, "stop-answers", center="south", reason="another scope")
    kb_rt.switches.clear(ops, first.id, reason="fixed")
    cara = principal_for(kb_rt.store, "cara")  # north: nothing forgotten keeps it stopped
    assert ask(kb_rt, cara, WIRE).action == "answer"
    assert kb_rt.switches.set(ops, "stop-answers", center="north", reason="again").id != first.id


def test_http_and_cli_refuse_unknown_scopes_and_duplicates_quietly(
    live_kb, kb_rt, model_cache: Path
) -> None:
    server, keys = live_kb
    for body, status in (
        ({"kind": "stop-answers", "center": "atlantis", "reason": "x"}, 404),
        ({"kind": "stop-answers", "intent": "fees", "reason": "x"}, 409),
    ):
        r = _post(server, keys["ops"], "/v1/switches", body)
        assert r.status_code == status, r.text
        assert "north" in r.json()["error"]["message"] or "intent train" in r.text
    body = {"kind": "stop-answers", "center": "south", "reason": "south scripts"}
    first = _post(server, keys["ops"], "/v1/switches", body)
    assert first.status_code == 201, first.text
    again = _post(server, keys["ops"], "/v1/switches", body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert first.json()["id"] in again.json()["error"]["message"]
    home = kb_rt.settings.home
    for args in (
        ("stop-answers", "--center", "nowhere", "--reason", "typo"),
        ("stop-answers", "--intent", "fees", "--reason", "no model"),
        ("stop-answers", "--center", "south", "--reason", "duplicate"),
    ):
        bad = run_cli("switch", *args, home=home, model_cache=model_cache)
        assert bad.returncode == 2 and bad.stderr.startswith("error: "), (args, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    ok = run_cli(
        "switch",
        "stop-answers",
        "--center",
        "north",
        "--reason",
        "r",
        home=home,
        model_cache=model_cache,
    )
    assert ok.returncode == 0 and ok.stderr.strip() == "", ok.stderr  # no log lines
