"""Federated records (issue 22, point 5): a customer merged from a core-banking CSV and a CRM
JSONL that disagree on the segment and the address, through the real connectors, sync, masker
and store; the confidence, the conflict task and who may see and resolve what."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from steward import audit
from steward.audit import Kind
from steward.core.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from steward.identity.auth import principal_for
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.sponsor.records_merge import Evidence, Tuning, merge_field
from tests.conftest import run_cli

DIRECTORY = """\
organization: Records Test
centers: [north]
groups:
  - {id: core_team, name: Core banking team, external: false, description: Core banking}
  - {id: crm_team, name: CRM team, external: false, description: CRM}
  - {id: sponsors, name: Sponsors, external: false, description: Programme sponsors}
users:
  - {id: ops, display_name: Op Erator, groups: [core_team, crm_team], center: null,
     access: operator}
  - {id: dana, display_name: Dana Core, groups: [core_team], center: north}
  - {id: carl, display_name: Carl Crm, groups: [crm_team], center: north}
  - {id: rita, display_name: Rita Rep, groups: [core_team, crm_team], center: north}
  - {id: cora, display_name: Cora Core, groups: [core_team], center: north}
  - {id: sue, display_name: Sue Sponsor, groups: [sponsors], center: null}
"""

SOURCES = """\
sources:
  - id: core-banking
    connector: csv
    path: core.csv
    id_field: customer_id
    title_field: title
    text_fields: [segment, notes]
    updated_field: updated
    personal_fields: {name: NAME, address: ADDRESS}
    entity:
      type: customer
      key: customer_id
      fields: [segment, address]
      authority: 0.9
      label: core banking
      owners: [dana]
  - id: crm
    connector: jsonl
    path: crm.jsonl
    id_field: id
    title_field: title
    text_fields: [segment, notes]
    updated_field: updated
    personal_fields: {name: NAME, address: ADDRESS}
    entity:
      type: customer
      key: cust
      fields: [segment, address]
      authority: 0.6
      label: CRM
      owners: [carl]
"""

NAME = "Marguerite Okonkwo-Bell"
CORE_ADDRESS = "41 Larkspur Lane, Springfield 62704"
CRM_ADDRESS = "9 Quarry Road, Shelbyville 62565"


def _day(days_ago: int) -> str:
    # A moment, not a date: a date's age grows by up to a day over the day, and the confidences
    # the tests read (two decimals) move with it.
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")


def write_core(root: Path, segment: str = "Premier", address: str = CORE_ADDRESS) -> None:
    (root / "core.csv").write_text(
        "customer_id,title,name,segment,address,notes,updated,acl\n"
        f'C-1001,C-1001 customer profile,{NAME},{segment},"{address}",'
        f"Holds a current account and a mortgage.,{_day(10)},core_team\n"
        f'C-2002,C-2002 customer profile,Tobias Wendt,Standard,"7 Elm Court, Ogden 84401",'
        f"Holds a savings account.,{_day(10)},core_team\n",
        encoding="utf-8",
    )


def write_crm(root: Path, segment: str = "Standard", address: str = CRM_ADDRESS) -> None:
    rows = [
        {
            "id": "crm-77",
            "cust": "C-1001",
            "title": "C-1001 customer profile (CRM)",
            "name": NAME,
            "segment": segment,
            "address": address,
            "notes": "Asked about travel insurance.",
            "updated": _day(90),
            "acl": ["crm_team"],
        }
    ]
    (root / "crm.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")


@pytest.fixture
def world(tmp_path: Path, make_runtime: Any) -> tuple[Runtime, Path]:
    return build_world(tmp_path, make_runtime)


def build_world(tmp_path: Path, make_runtime: Any, **settings: object) -> tuple[Runtime, Path]:
    root = tmp_path / "src"
    root.mkdir()
    (root / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    (root / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    write_core(root)
    write_crm(root)
    rt: Runtime = make_runtime(tmp_path / "home", sponsor_group="sponsors", **settings)
    import_directory(rt.store, root / "directory.yaml")
    reports = sync(rt, load_sources(root / "sources.yaml"))
    assert [r.status for r in reports] == ["ok", "ok"], [r.errors for r in reports]
    return rt, root


def who(rt: Runtime, user: str) -> Any:
    return principal_for(rt.store, user)


def field(view: Any, name: str) -> Any:
    return next(f for f in view.fields if f.field == name)


def events(rt: Runtime, kind: Kind) -> list[dict[str, Any]]:
    return [r for r in audit.export(rt.store) if r["kind"] == kind]


def resync(rt: Runtime, root: Path, source: str) -> None:
    specs = [s for s in load_sources(root / "sources.yaml") if s.id == source]
    assert [r.status for r in sync(rt, specs)] == ["ok"]


def test_two_disagreeing_sources_merge_with_confidence_and_a_conflict_task(
    world: tuple[Runtime, Path],
) -> None:
    rt, _ = world
    view = rt.records.show(who(rt, "ops"), "customer", "C-1001")
    assert view.sources == ["CRM", "core banking"]
    segment, address = field(view, "segment"), field(view, "address")
    # Core banking is fresher (10 days vs 90) and more authoritative (0.9 vs 0.6): it wins.
    assert segment.value == "Premier" and segment.winner.source_ids == ("core-banking",)
    assert [c.value for c in segment.candidates] == ["Premier", "Standard"]
    assert 0.5 < segment.confidence < rt.records.tuning.min_confidence  # disputed: low
    assert segment.conflict and address.conflict
    # The address is a personal field: a token, the winner core banking's.
    assert address.value.startswith("<ADDRESS_") and address.winner.labels == ("core banking",)
    assert address.candidates[0].value != address.candidates[1].value

    tasks = rt.records.conflicts(who(rt, "ops"))
    assert sorted(t.field for t in tasks) == ["address", "segment"]
    seg = next(t for t in tasks if t.field == "segment")
    assert seg.owners == ["carl", "dana"] and seg.status == "open"
    assert {s["source"] for s in seg.sources} == {"core-banking", "crm"}
    opened = events(rt, Kind.RECORD_CONFLICT_OPENED)
    assert {e["target"] for e in opened} == {f"record-task:{t.id}" for t in tasks}
    assert opened[0]["user_id"] == "system" and "carl" in opened[0]["payload"]["owners"]

    # The other customer has one source only: no conflict, confidence from that source alone.
    single = rt.records.show(who(rt, "ops"), "customer", "C-2002")
    assert field(single, "segment").confidence > 0.8 and not field(single, "segment").conflict


def test_agreement_raises_confidence_and_closes_the_task(world: tuple[Runtime, Path]) -> None:
    rt, root = world
    before = field(rt.records.show(who(rt, "ops"), "customer", "C-1001"), "segment").confidence
    write_crm(root, segment="Premier", address=CORE_ADDRESS)
    resync(rt, root, "crm")  # the sync's event merges again
    view = rt.records.show(who(rt, "ops"), "customer", "C-1001")
    segment = field(view, "segment")
    assert segment.value == "Premier" and not segment.conflict
    assert set(segment.winner.labels) == {"core banking", "CRM"}
    # Both sources agree: more confidence than the winner alone had (0.87), far above before.
    assert segment.confidence > 0.9 > before
    assert rt.records.conflicts(who(rt, "ops")) == []
    closed = rt.records.conflicts(who(rt, "ops"), "closed")
    assert {t.field for t in closed} == {"segment", "address"}
    assert len(events(rt, Kind.RECORD_CONFLICT_CLOSED)) == 2

    # A new disagreement re-opens the same task (audited), it does not make a second one.
    write_crm(root, segment="Private")
    resync(rt, root, "crm")
    reopened = {t.field: t for t in rt.records.conflicts(who(rt, "ops"))}
    assert set(reopened) == {"segment", "address"}
    assert reopened["segment"].id == next(t.id for t in closed if t.field == "segment")
    assert reopened["segment"].reopened == 1
    assert len(events(rt, Kind.RECORD_CONFLICT_REOPENED)) == 2


def test_low_confidence_field_is_not_stated_as_fact_in_an_answer(
    world: tuple[Runtime, Path],
) -> None:
    rt, _ = world
    response = ask(rt, who(rt, "rita"), "What segment is customer C-1001 in?")
    assert response.action == "answer", response.reason
    answer = response.answer
    assert "our records disagree" in answer
    assert "core banking says Premier" in answer and "CRM says Standard" in answer
    assert "segment: Standard" not in answer and "segment: Premier (" not in answer


def test_asker_without_access_to_a_source_sees_neither_its_value_nor_its_name(
    world: tuple[Runtime, Path],
) -> None:
    rt, _ = world
    cora = who(rt, "cora")  # reads core banking only
    view = rt.records.show(cora, "customer", "C-1001")
    shown = json.dumps(view.as_dict(rt.records.tuning))
    assert "CRM" not in shown and "crm" not in shown and "Standard" not in shown
    segment = field(view, "segment")
    # Only core banking counts for her: no dispute she can see, stated with its confidence.
    assert segment.value == "Premier" and segment.stated(rt.records.tuning)
    response = ask(rt, cora, "What segment is customer C-1001 in?")
    assert "CRM" not in response.answer and "Standard" not in response.answer
    assert "Premier (confidence 0.87; core banking)" in response.answer
    # And a reader of neither source finds no record at all, the same as an unknown key.
    with pytest.raises(NotFoundError) as hidden:
        rt.records.show(who(rt, "carl"), "customer", "C-2002")
    with pytest.raises(NotFoundError) as unknown:
        rt.records.show(who(rt, "carl"), "customer", "C-9999")
    assert hidden.value.message == unknown.value.message


def test_personal_values_are_nowhere_in_the_data_home_in_plain_text(
    world: tuple[Runtime, Path],
) -> None:
    rt, _ = world
    rt.records.conflicts(who(rt, "ops"))
    rt.close()
    home = rt.settings.home
    raw = [CORE_ADDRESS, CRM_ADDRESS, "Larkspur", "Quarry Road", NAME, "Okonkwo"]
    seen = b""
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            seen += data
            for value in raw:
                assert value.encode() not in data, (value, path.name)
                assert value.encode("utf-16-le") not in data, (value, path.name)
    # The search reads what is stored: the records' text and merged values are there, masked.
    assert b"Holds a current account" in seen and b"<ADDRESS_" in seen


def test_owner_resolves_with_a_chosen_source_and_an_asker_cannot(
    world: tuple[Runtime, Path],
) -> None:
    rt, _ = world
    task = next(t for t in rt.records.conflicts(who(rt, "ops")) if t.field == "segment")
    with pytest.raises(ForbiddenError):
        rt.records.resolve(who(rt, "rita"), task.id, source="crm")
    denied = events(rt, Kind.ACCESS_DENIED)
    assert denied[-1]["target"] == f"record-task:{task.id}"
    with pytest.raises(ForbiddenError):  # an asker who owns no task cannot list them either
        rt.records.conflicts(who(rt, "rita"))
    # Carl owns the CRM side: he sees his task, and resolves it for the CRM value.
    assert [t.id for t in rt.records.conflicts(who(rt, "carl")) if t.field == "segment"] == [
        task.id
    ]
    done = rt.records.resolve(who(rt, "carl"), task.id, source="crm", note="CRM is right")
    assert done.status == "resolved" and done.chosen_source == "crm"
    (resolved,) = events(rt, Kind.RECORD_CONFLICT_RESOLVED)
    assert resolved["user_id"] == "carl" and resolved["payload"]["chosen_source"] == "crm"
    segment = field(rt.records.show(who(rt, "ops"), "customer", "C-1001"), "segment")
    assert segment.value == "Standard" and segment.resolved
    with pytest.raises(InputError):
        rt.records.resolve(who(rt, "ops"), task.id)  # neither a source nor a note


def test_unknown_entity_task_and_bad_config_are_clear_errors(
    world: tuple[Runtime, Path], tmp_path: Path
) -> None:
    rt, root = world
    with pytest.raises(NotFoundError, match="declared types are customer"):
        rt.records.show(who(rt, "ops"), "widget", "W-1")
    with pytest.raises(NotFoundError, match="No conflict task"):
        rt.records.resolve(who(rt, "ops"), "01JZZZZZZZZZZZZZZZZZZZZZZZ", note="x")
    task = rt.records.conflicts(who(rt, "ops"))[0]
    with pytest.raises(InputError, match="crm"):
        rt.records.resolve(who(rt, "ops"), task.id, source="ledger")
    bad = tmp_path / "bad.yaml"
    bad.write_text(SOURCES.replace("      authority: 0.9\n", "      weight: 0.9\n"), "utf-8")
    with pytest.raises(InputError, match="weight"):
        load_sources(bad)
    folder = tmp_path / "folder.yaml"
    folder.write_text(
        "sources:\n  - id: docs\n    connector: folder\n    path: .\n"
        "    entity: {type: customer, key: id, fields: [segment]}\n",
        "utf-8",
    )
    with pytest.raises(InputError, match="needs a record connector"):
        load_sources(folder)
    # A misspelt key federates nothing: the merge says so, naming the fields there are.
    (root / "sources.yaml").write_text(SOURCES.replace("key: cust\n", "key: cust_no\n"), "utf-8")
    resync(rt, root, "crm")  # the sync itself is fine; its merge is refused and logged
    with pytest.raises(
        InputError, match="`cust_no`, which no row has; the fields are: address, cust,"
    ):
        rt.records.merge_all(who(rt, "ops"))


def test_closed_task_cannot_be_resolved(world: tuple[Runtime, Path]) -> None:
    rt, root = world
    task = next(t for t in rt.records.conflicts(who(rt, "ops")) if t.field == "segment")
    write_crm(root, segment="Premier", address=CORE_ADDRESS)
    resync(rt, root, "crm")
    with pytest.raises(ConflictError):
        rt.records.resolve(who(rt, "ops"), task.id, note="late")


def test_cli_shows_records_and_fails_with_one_line(
    world: tuple[Runtime, Path], model_cache: Path
) -> None:
    rt, _ = world
    home = rt.settings.home
    from steward.identity.auth import create_key

    dana = {"STEWARD_ACTOR_KEY": create_key(rt.store, "dana")}
    rt.close()
    # A key's user acts as themselves: not another user's view, not the sponsor's figures.
    for args in (("show", "customer", "C-1001", "--as", "ops"), ("summary",)):
        refused = run_cli("records", *args, home=home, model_cache=model_cache, extra_env=dana)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused
    shown = run_cli(
        "records",
        "show",
        "customer",
        "C-1001",
        "--as",
        "ops",
        "--json",
        home=home,
        model_cache=model_cache,
    )
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert {f["field"]: f["value"] for f in data["fields"]}["segment"] == "Premier"
    r = run_cli(
        "records", "show", "widget", "W-1", "--as", "ops", home=home, model_cache=model_cache
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr == (
        "error: No entity type 'widget': the declared types are customer (an `entity:` block "
        "on a source, docs/records.md).\n"
    )


def test_confidence_formula() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    fresh = Evidence("a", "A", "x", "kx", now, 1.0)
    half = Evidence("b", "B", "x", "kx", now - timedelta(days=180), 1.0)
    other = Evidence("c", "C", "y", "ky", now, 0.5)
    t = Tuning(half_life_days=180, min_confidence=0.6, conflict_share=0.2)
    # One fully trusted, fresh source: 1. One half a half-life old: 0.5 (weight) * 1 (share).
    assert merge_field("f", [fresh], t, now).confidence == 1.0
    assert merge_field("f", [half], t, now).confidence == 0.5
    # Agreement: 1 - (1-0.5) * (1-0.5) = 0.75 > 0.5 (each alone).
    assert (
        merge_field(
            "f", [half, Evidence("d", "D", "x", "kx", now - timedelta(days=180), 1.0)], t, now
        ).confidence
        == 0.75
    )
    # Disagreement: x has 0.5 / (0.5 + 0.5) of the weight, corroboration 0.5: 0.25; a conflict.
    view = merge_field("f", [half, other], t, now)
    assert view.conflict and view.confidence == 0.25
    assert "our records disagree" in view.statement(t)


def test_console_page_shows_tasks_to_operators_and_figures_only_to_sponsors(
    world: tuple[Runtime, Path],
) -> None:
    from fastapi.testclient import TestClient

    from steward.identity.auth import create_key
    from steward.web.app import create_app

    rt, _ = world
    keys = {u: create_key(rt.store, u) for u in ("ops", "sue", "rita", "carl")}
    form = {"content-type": "application/x-www-form-urlencoded"}

    def client(user: str) -> tuple[TestClient, str]:
        c = TestClient(create_app(rt))
        csrf = c.post("/v1/session", json={"api_key": keys[user]}).json()["csrf_token"]
        return c, csrf

    ops, ops_csrf = client("ops")
    page = ops.get("/console/records")
    assert page.status_code == 200
    assert "C-1001" in page.text and "Premier" in page.text and "Standard" in page.text
    assert 'id="record-figures"' in page.text
    missing = ops.post(
        "/console/records/tasks/01JZZZZZZZZZZZZZZZZZZZZZZZ/resolve",
        content=f"note=x&csrf_token={ops_csrf}",
        headers=form,
    )
    assert missing.status_code == 404 and "No conflict task" in missing.text
    sponsor, _ = client("sue")
    figures = sponsor.get("/console/records")
    assert figures.status_code == 200 and 'id="record-figures"' in figures.text
    for secret in ("C-1001", "Premier", "Standard", "<ADDRESS_", "&lt;ADDRESS_", "record-tasks"):
        assert secret not in figures.text, secret
    rep, rep_csrf = client("rita")
    assert rep.get("/console/records").status_code == 403
    task = rt.records.conflicts(who(rt, "ops"))[0]
    refused = rep.post(
        f"/console/records/tasks/{task.id}/resolve",
        content=f"source=crm&csrf_token={rep_csrf}",
        headers=form,
    )
    assert refused.status_code == 403
    carl, carl_csrf = client("carl")
    own = carl.get("/console/records")
    assert own.status_code == 200 and task.id in own.text
    # Carl may not read core banking: its value is hidden from him, CRM's is shown.
    assert "Standard" in own.text and "Premier" not in own.text and "hidden" in own.text
    done = carl.post(
        f"/console/records/tasks/{task.id}/resolve",
        content=f"source=crm&note=checked&csrf_token={carl_csrf}",
        headers=form,
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert rt.records.conflicts(who(rt, "ops"), "resolved")[0].resolved_by == "carl"


def test_api_shows_records_and_refuses_with_4xx(world: tuple[Runtime, Path]) -> None:
    from fastapi.testclient import TestClient

    from steward.identity.auth import create_key
    from steward.web.app import create_app

    rt, _ = world
    client = TestClient(create_app(rt))
    auth = {
        u: {"Authorization": f"Bearer {create_key(rt.store, u)}"} for u in ("ops", "cora", "rita")
    }
    mine = client.get("/v1/records/customer/C-1001", headers=auth["cora"])
    assert mine.status_code == 200
    assert "CRM" not in mine.text and "Standard" not in mine.text
    assert mine.json()["fields"][0]["labels"] == ["core banking"]
    unknown = client.get("/v1/records/widget/W-1", headers=auth["ops"])
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) == {"code", "message", "request_id"}
    assert "declared types are customer" in unknown.json()["error"]["message"]
    missing = client.post(
        "/v1/records/conflicts/01JZZZZZZZZZZZZZZZZZZZZZZZ/resolve",
        json={"note": "x"},
        headers=auth["ops"],
    )
    assert missing.status_code == 404
    task = client.get("/v1/records/conflicts", headers=auth["ops"]).json()[0]
    assert (
        client.post(
            f"/v1/records/conflicts/{task['id']}/resolve",
            json={"source": "crm"},
            headers=auth["rita"],
        ).status_code
        == 403
    )
    assert client.get("/v1/records/conflicts", headers=auth["rita"]).status_code == 403
    assert (
        client.post(
            f"/v1/records/conflicts/{task['id']}/resolve", json={"pick": "crm"}, headers=auth["ops"]
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/v1/records/conflicts/{task['id']}/resolve", json={}, headers=auth["ops"]
        ).status_code
        == 400
    )
    done = client.post(
        f"/v1/records/conflicts/{task['id']}/resolve",
        json={"source": "core-banking"},
        headers=auth["ops"],
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert client.get("/v1/records/summary", headers=auth["rita"]).status_code == 403
    figures = client.get("/v1/records/summary", headers=auth["ops"]).json()
    assert figures["entities"][0]["records"] == 2 and figures["entities"][0]["tasks"]["open"] == 1


def test_records_merge_and_resolve_on_postgresql(
    tmp_path: Path, make_runtime: Any, pg_url: str
) -> None:
    rt, root = build_world(tmp_path, make_runtime, database_url=pg_url)
    segment = field(rt.records.show(who(rt, "rita"), "customer", "C-1001"), "segment")
    assert segment.value == "Premier" and segment.conflict
    task = next(t for t in rt.records.conflicts(who(rt, "ops")) if t.field == "segment")
    rt.records.resolve(who(rt, "dana"), task.id, source="core-banking")
    figures = rt.records.summary(who(rt, "sue")).entities[0]
    assert figures["tasks"] == {"open": 1, "resolved": 1, "closed": 0}
    write_crm(root, segment="Premier", address=CORE_ADDRESS)
    resync(rt, root, "crm")
    assert rt.records.summary(who(rt, "ops")).entities[0]["tasks"]["closed"] == 2


def test_an_erased_customer_leaves_no_record_behind(world: tuple[Runtime, Path]) -> None:
    from sqlalchemy import func, select

    from steward.guard.erasure import erase_subject
    from steward.identity.auth import Principal
    from steward.store.models import RecordEntity, RecordField, RecordTask, RecordValue

    rt, root = world
    admin = Principal("dpo", "Data protection", frozenset(), None, "admin", False)
    erase_subject(rt, NAME, admin)
    with pytest.raises(NotFoundError):  # the values went with the items at once
        rt.records.show(who(rt, "ops"), "customer", "C-1001")
    assert rt.records.conflicts(who(rt, "ops")) == []

    def counts() -> tuple[int | None, ...]:
        with rt.store.read() as s:
            return tuple(
                s.scalar(select(func.count()).select_from(m))
                for m in (RecordValue, RecordEntity, RecordTask, RecordField)
            )

    assert counts() == (2, 1, 0, 2)  # the erasure merged again: no merged row of C-1001 left
    resync(rt, root, "core-banking")  # the erased rows are skipped on the next sync too
    with rt.store.read() as s:
        assert s.scalar(select(func.count()).select_from(RecordValue)) == 2  # C-2002 only
        assert s.scalar(select(func.count()).select_from(RecordEntity)) == 1
        assert s.scalar(select(func.count()).select_from(RecordTask)) == 0
        assert s.scalar(select(func.count()).select_from(RecordField)) == 2


def test_console_page_in_a_browser_resolves_a_task_and_meets_wcag(
    world: tuple[Runtime, Path],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from steward.identity.auth import create_key
    from steward.web.app import create_app
    from tests.conftest import LiveServer
    from tests.test_console import CHROMIUM, FLAGS, wcag_violations

    rt, _ = world
    key = create_key(rt.store, "ops")
    task = next(t for t in rt.records.conflicts(who(rt, "ops")) if t.field == "segment")
    with LiveServer(create_app(rt)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(f"{server.url}/console/sign-in")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Records").click()
        expect(page.get_by_role("heading", name="Federated records", level=1)).to_be_visible()
        row = page.locator(f"#task-{task.id}")
        expect(row).to_contain_text("core banking: Premier")
        expect(row).to_contain_text("CRM: Standard")
        # The sources table counts values (the second review saw a Python repr there).
        expect(page.locator("main")).not_to_contain_text("built-in method")
        assert wcag_violations(page) == []
        row.get_by_label("Right source").select_option("core-banking")
        row.get_by_label("Note").fill("checked with the branch")
        row.get_by_role("button", name="Resolve").click()
        expect(page.locator(f"#task-{task.id}")).to_contain_text("resolved, by ops")
        browser.close()
    (done,) = events(rt, Kind.RECORD_CONFLICT_RESOLVED)
    assert done["user_id"] == "ops" and done["payload"]["chosen_source"] == "core-banking"
