"""The operator console in a real browser (Debian's Chromium driven by Playwright, no download)
against a real uvicorn server: sign-in, every page on real data, role checks, CSRF, a ticket
claimed and answered from the review queue, audit search, and axe-core's WCAG 2.1 AA rules."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select, update

from steward import audit
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.store.models import SyncRun, Ticket, User
from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FRAUD = "Someone used my card 4111 1111 1111 1111 for purchases I never made!"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def console(
    live_kb: tuple[LiveServer, dict[str, str]], kb_rt: Runtime
) -> tuple[LiveServer, dict[str, str], Runtime, str]:
    """The test knowledge base with some traffic: answers, a fraud hand-off (a ticket), and
    nora made a reviewer of the north center. Returns the ticket id last."""
    server, keys = live_kb
    with kb_rt.store.write() as (s, _):
        s.execute(update(User).where(User.id == "nora").values(access="reviewer"))
    cara = principal_for(kb_rt.store, "cara")
    ask(kb_rt, cara, "How much is the monthly fee?")
    ask(kb_rt, principal_for(kb_rt.store, "sam"), "How much is the monthly fee?")
    handed = ask(kb_rt, cara, FRAUD)
    assert handed.action == "escalate"
    with kb_rt.store.read() as s:
        ticket_id = s.scalars(select(Ticket.id)).one()
    return server, keys, kb_rt, ticket_id


def signed_in(browser: Browser, server: LiveServer, key: str) -> Page:
    page = browser.new_page()
    page.goto(f"{server.url}/console/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    return page


def wcag_violations(page: Page) -> list[dict[str, Any]]:
    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result.response["violations"]
    ]


def test_operator_signs_in_and_every_page_shows_real_data(browser: Browser, console) -> None:
    server, keys, _rt, ticket_id = console
    page = signed_in(browser, server, keys["ops"])
    expect(page).to_have_url(f"{server.url}/console")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_contain_text("Op Erator")
    # The six metrics and their status in words, not colour alone.
    cards = page.locator("li.metric")
    expect(cards).to_have_count(9)
    escalation = page.locator('li.metric[data-metric="escalation_rate"]')
    expect(escalation.locator(".value")).not_to_have_text("no data")
    expect(escalation.locator(".badge")).to_contain_text("target")
    expect(page.locator("#questions-total")).to_contain_text("3 questions")
    expect(page.locator("svg.trend").first).to_be_visible()
    # The center filter recomputes for that center only (sam's question is in it).
    page.get_by_label("Center").select_option("north")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{server.url}/console?center=north&period=30d")
    assert wcag_violations(page) == []
    # The check itself sees a violation when there is one (an input with no label).
    page.evaluate("document.querySelector('main').appendChild(document.createElement('input'))")
    assert "label" in [v["id"] for v in wcag_violations(page)]

    page.goto(f"{server.url}/console/sources")
    expect(page.locator("#sources tbody tr")).not_to_have_count(0)
    page.goto(f"{server.url}/console/alerts")
    expect(page.get_by_role("heading", name="Alerts and switches")).to_be_visible()
    page.goto(f"{server.url}/console/review")
    expect(page.locator(f"#ticket-{ticket_id}")).to_contain_text("fraud")
    page.close()


def test_reviewer_claims_and_answers_a_ticket_from_the_queue(browser: Browser, console) -> None:
    server, keys, rt, ticket_id = console
    page = signed_in(browser, server, keys["nora"])
    expect(page).to_have_url(f"{server.url}/console/review")
    ticket = page.locator(f"#ticket-{ticket_id}")
    # The conversation is shown masked, and the card number never reaches the page.
    expect(ticket.locator(".transcript")).to_contain_text("<CARD_")
    assert "4111" not in page.content()
    assert wcag_violations(page) == []
    ticket.get_by_role("button", name="Claim").click()
    ticket = page.locator(f"#ticket-{ticket_id}")
    expect(ticket).to_contain_text("Claimed by nora")
    ticket.get_by_label("Answer to the asker").fill("We blocked the card and will call you.")
    ticket.get_by_role("button", name="Send answer").click()
    ticket = page.locator(f"#ticket-{ticket_id}")
    expect(ticket).to_contain_text("We blocked the card")
    expect(ticket.locator(".pill").first).to_have_text("answered")
    # The service did it, audited as the reviewer.
    kinds = [(e["kind"], e["user_id"]) for e in audit.export(rt.store)]
    assert ("ticket-claimed", "nora") in kinds and ("ticket-answered", "nora") in kinds
    # The asker sees the reply in their conversation.
    with rt.store.read() as s:
        conversation = s.scalars(select(Ticket.conversation_id)).one()
    history = httpx.get(
        f"{server.url}/v1/conversations/{conversation}",
        headers={"Authorization": f"Bearer {keys['cara']}"},
        timeout=60,
    ).json()
    assert history["turns"][-1]["text"] == "We blocked the card and will call you."
    # A reviewer does not reach operator pages.
    for path in ("/console", "/console/audit", "/console/sources", "/console/alerts"):
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.close()


def test_asker_gets_a_clear_403_page(browser: Browser, console) -> None:
    server, keys, _rt, _ticket = console
    page = signed_in(browser, server, keys["cara"])
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("You don't have access to the operator console.")
    assert "cara" not in alert.inner_text() and "asker" not in alert.inner_text()
    response = page.goto(f"{server.url}/console/review")
    assert response is not None and response.status == 403
    page.close()


def test_signed_out_browser_is_sent_to_sign_in_and_a_bad_key_is_refused(
    browser: Browser, console
) -> None:
    server, _keys, _rt, _ticket = console
    page = browser.new_page()
    page.goto(f"{server.url}/console/audit")
    expect(page).to_have_url(f"{server.url}/console/sign-in")
    page.get_by_label("API key").fill("stw_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid API key")
    assert "steward_session" not in [c["name"] for c in page.context.cookies()]
    page.close()


def test_console_forms_without_the_csrf_token_are_refused(console) -> None:
    server, keys, rt, ticket_id = console
    with httpx.Client(base_url=server.url, timeout=60) as client:
        signed = client.post("/v1/session", json={"api_key": keys["ops"]}).json()
        form = {"content-type": "application/x-www-form-urlencoded"}
        refused = client.post(
            f"/console/review/tickets/{ticket_id}/claim", content="", headers=form
        )
        assert refused.status_code == 403 and "CSRF" in refused.text
        stop = client.post(
            "/console/alerts/stop-answers",
            content="center=north&reason=test&csrf_token=wrong",
            headers=form,
        )
        assert stop.status_code == 403
        assert rt.switches.active() == []
        # With the token the same form works, through the switch board (audited).
        ok = client.post(
            "/console/alerts/stop-answers",
            content=f"center=north&reason=incident+42&csrf_token={signed['csrf_token']}",
            headers=form,
        )
        assert ok.status_code == 303
    (switch,) = rt.switches.active()
    assert (switch.kind, switch.center, switch.actor) == ("stop-answers", "north", "ops")
    with rt.store.read() as s:
        claimed = s.scalars(select(Ticket.assignee)).one()
    assert claimed is None


def test_audit_search_finds_a_row_by_asker_and_shows_its_detail(browser: Browser, console) -> None:
    server, keys, _rt, _ticket = console
    page = signed_in(browser, server, keys["ops"])
    page.goto(f"{server.url}/console/audit")
    page.get_by_label("Asker").fill("sam")
    page.get_by_label("Event").select_option("question")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#audit-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("How much is the monthly fee?")
    rows.first.get_by_role("link").click()
    facts = page.locator("#audit-facts")
    expect(facts).to_contain_text("sam")
    expect(facts).to_contain_text("Trace id")
    expect(page.locator("#trace-id")).to_be_visible()
    expect(page.get_by_role("heading", name="Cited passages")).to_be_visible()
    expect(page.get_by_role("heading", name="Stage latencies")).to_be_visible()
    page.close()


def test_sign_out_ends_the_console_session(browser: Browser, console) -> None:
    server, keys, _rt, _ticket = console
    page = signed_in(browser, server, keys["ops"])
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/console/sign-in")
    page.goto(f"{server.url}/console")
    expect(page).to_have_url(f"{server.url}/console/sign-in")
    page.close()


def test_reviewer_marks_a_flagged_answer_wrong(browser: Browser, console) -> None:
    server, keys, rt, _ticket = console
    cara = principal_for(rt.store, "cara")
    answered = ask(rt, cara, "How much is the monthly fee?", channel="chat")
    assert answered.action == "answer"
    rt.feedback.give(cara, answered.audit_id, thumb=-1, rating=None, comment="")
    (item,) = rt.review.list(principal_for(rt.store, "ops"))
    page = signed_in(browser, server, keys["nora"])
    card = page.locator(f"#item-{item.id}")
    expect(card).to_contain_text("monthly fee")
    card.get_by_label("Wrong").check()
    card.get_by_label("Note").fill("Quotes the old fee.")
    card.get_by_role("button", name="Save verdict").click()
    expect(page.locator(f"#item-{item.id}")).to_contain_text("Verdict: wrong")
    verdicts = [e for e in audit.export(rt.store) if e["kind"] == "review-verdict"]
    assert [(e["user_id"], e["payload"].get("verdict")) for e in verdicts] == [("nora", "wrong")]
    page.close()


def test_sync_now_runs_the_sources_sync_in_the_background(browser: Browser, console) -> None:
    server, keys, rt, _ticket = console
    page = signed_in(browser, server, keys["ops"])
    page.goto(f"{server.url}/console/sources")
    row = page.locator("#sources tbody tr").first
    source_id = (row.get_attribute("id") or "").removeprefix("source-")
    with rt.store.read() as s:
        before = len(list(s.scalars(select(SyncRun.id).where(SyncRun.source_id == source_id))))
    row.get_by_role("button", name=f"Sync {source_id} now").click()
    # The page answers at once and shows the run it started.
    status = page.locator(f"#source-{source_id} .job")
    expect(status).to_contain_text("asked by ops")
    job = server.server.config.app.state.sync_jobs.get(source_id)
    assert job is not None and job.done.wait(timeout=120)
    page.reload()
    expect(status).to_contain_text("Sync now: ok")
    with rt.store.read() as s:
        after = len(list(s.scalars(select(SyncRun.id).where(SyncRun.source_id == source_id))))
    assert after == before + 1
    requested = [e for e in audit.export(rt.store) if e["kind"] == "sync-requested"]
    assert [(e["user_id"], e["target"]) for e in requested] == [("ops", f"source:{source_id}")]
    page.close()


def test_flagged_answer_citing_a_document_the_reviewer_may_not_read_is_withheld(
    browser: Browser, console
) -> None:
    server, keys, rt, _ticket = console
    fin = principal_for(rt.store, "fin")  # finance: reads the budget memo; ops does not
    answered = ask(rt, fin, "What is the marketing budget for next year?", channel="chat")
    assert answered.action == "answer" and answered.answer
    rt.feedback.give(fin, answered.audit_id, thumb=-1, rating=None, comment="")
    (item,) = rt.review.list(principal_for(rt.store, "ops"))
    page = signed_in(browser, server, keys["ops"])
    page.goto(f"{server.url}/console/review")
    card = page.locator(f"#item-{item.id}")
    expect(card).to_contain_text("marketing budget")
    expect(card).to_contain_text("[withheld")
    assert answered.answer not in page.content()
    page.close()


def test_audit_search_answers_400_for_a_bad_cursor_and_lists_every_kind(console) -> None:
    """A ``before`` cursor that is no sequence number is a clear 400 page (it was a 500 for
    one past the column's range, and a silent first page for -1 or abc); the Event and
    Decision menus name every kind and decision the trail holds."""
    server, keys, _rt, _ticket = console
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/v1/session", json={"api_key": keys["ops"]}).status_code == 201
        for bad in ("99999999999999999999999", "9223372036854775808", "-1", "abc", "0", "1e3"):
            r = client.get("/console/audit", params={"before": bad})
            assert r.status_code == 400, (bad, r.status_code)
            assert "cursor" in r.text
        ok = client.get("/console/audit", params={"before": "9223372036854775807"})
        assert ok.status_code == 200
        menus = client.get("/console/audit").text
    for kind in (
        "switch-set",
        "switch-cleared",
        "feedback-given",
        "review-claimed",
        "review-verdict",
        "session-started",
        "session-ended",
        "sync-requested",
        "source-removed",
    ):
        assert f'<option value="{kind}"' in menus, kind
    assert '<option value="error"' in menus


def test_ticket_transcript_on_the_review_page_withholds_a_restricted_answer(console) -> None:
    """An answer in a ticket's transcript drawn from a document the reviewer may not read
    (the budget memo: finance only) is withheld on the queue page, as in GET /v1/tickets."""
    server, keys, rt, _ticket = console
    fin = principal_for(rt.store, "fin")
    first = ask(rt, fin, "What is the marketing budget for next year?", channel="chat")
    assert first.action == "answer" and first.answer
    rt.handoff.open(
        conversation_id=str(first.conversation_id),
        who=fin,
        reason="requested",
        detail="asked for a person",
        intent=None,
        signals=[],
        sources=[],
        audit_id=first.audit_id,
    )
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/v1/session", json={"api_key": keys["ops"]}).status_code == 201
        queue = client.get("/console/review")
    assert queue.status_code == 200
    assert "[withheld" in queue.text and html.escape(first.answer) not in queue.text
    assert rt.review.list(principal_for(rt.store, "ops")) == []  # not a flagged item's answer
    assert "marketing budget" in queue.text  # the asker's question stays
