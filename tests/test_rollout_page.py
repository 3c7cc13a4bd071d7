"""The rollout page in a real browser (Debian's Chromium, Playwright) against a real server: an
operator opens a wave through the form and sees it listed, opens the next with an override and
its reason, and closes one; a sponsor sees the figures without the forms; an asker is refused;
forged ids and forms without the session's CSRF token are refused."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from steward import audit
from steward.identity.auth import create_key, principal_for
from steward.pipeline.orchestrator import ask
from steward.web.app import create_app
from tests.conftest import LiveServer
from tests.test_console import CHROMIUM, FLAGS, signed_in, wcag_violations
from tests.test_rollout import FEE, write_plan

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def test_an_operator_opens_and_closes_waves_on_the_page_and_an_asker_is_refused(
    browser: Browser, live_kb, kb_rt, make_runtime
) -> None:
    server, keys = live_kb
    write_plan(kb_rt)
    ask(kb_rt, principal_for(kb_rt.store, "cara"), FEE)  # the previous behaviour, counted
    page = signed_in(browser, server, keys["ops"])
    page.goto(f"{server.url}/console/rollout")
    expect(page.get_by_role("heading", name="Rollout", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Account fees")).to_contain_text("pilot")
    first = page.locator("#wave-fees-north-staff")
    expect(first).to_contain_text("closed")
    expect(page.locator("#gates-fees tr[data-metric=resolution_rate]")).to_contain_text(
        "insufficient"
    )
    expect(page.locator("#verdict-fees")).to_contain_text("north-staff, may open")
    assert wcag_violations(page) == []
    first.get_by_role("button", name="Open wave north-staff").click()
    expect(first).to_contain_text("open since")
    expect(first).to_contain_text("by ops")
    # The next wave's gates have no sample yet: the form asks for an override's reason.
    second = page.locator("#wave-fees-customers")
    expect(page.locator("#verdict-fees")).to_contain_text("may not open")
    second.get_by_label("Override reason").fill("Pilot customers picked by the board")
    second.get_by_role("button", name="Open wave customers with an override").click()
    expect(second).to_contain_text("open since")
    expect(second).to_contain_text("Opened with an override: Pilot customers picked by the board")
    second.get_by_label("Reason").fill("Wrong fee table")
    second.get_by_role("button", name="Close wave customers").click()
    expect(second).to_contain_text("closed")
    expect(second).to_contain_text("Wrong fee table")
    kinds = [e["kind"] for e in audit.export(kb_rt.store) if e["kind"].startswith("rollout-")]
    assert kinds == ["rollout-wave-opened", "rollout-wave-opened", "rollout-wave-closed"]
    page.close()

    # An asker reaches neither the page nor its forms (403, audited).
    asker = signed_in(browser, server, keys["cara"])
    response = asker.goto(f"{server.url}/console/rollout")
    assert response is not None and response.status == 403
    expect(asker.get_by_role("heading", name="Not allowed")).to_be_visible()
    asker.close()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        csrf = client.post("/v1/session", json={"api_key": keys["cara"]}).json()["csrf_token"]
        refused = client.post(
            "/console/rollout/fees/waves/customers/open",
            content=f"csrf_token={csrf}",
            headers=FORM,
        )
        assert refused.status_code == 403
    with httpx.Client(base_url=server.url, timeout=60) as client:
        csrf = client.post("/v1/session", json={"api_key": keys["ops"]}).json()["csrf_token"]
        for path, extra, status in (
            ("/console/rollout/forged/waves/customers/open", "", 404),
            ("/console/rollout/fees/waves/forged/open", "", 404),
            ("/console/rollout/fees/waves/north-staff/close", "&reason=", 400),  # no reason
        ):
            r = client.post(path, content=f"csrf_token={csrf}{extra}", headers=FORM)
            assert r.status_code == status, (path, r.text)
        no_token = client.post(
            "/console/rollout/fees/waves/north-staff/close",
            content="reason=nope",
            headers=FORM,
        )
        assert no_token.status_code == 403 and "CSRF" in no_token.text
    assert [w["open"] for w in kb_rt.rollout.status(principal_for(kb_rt.store, "ops"))[
        "usecases"
    ][0]["waves"]] == [True, False, False]  # fmt: skip

    # A sponsor (the sponsor group, an asker by role) sees the figures, not the forms, and
    # not who opened a wave.
    sponsored = make_runtime(kb_rt.settings.home, sponsor_group="finance")
    with LiveServer(create_app(sponsored)) as other:
        view = signed_in(browser, other, create_key(sponsored.store, "fin"))
        view.goto(f"{other.url}/console/rollout")
        expect(view.locator("#wave-fees-north-staff")).to_contain_text("by an operator")
        expect(view.locator("#gates-fees")).to_contain_text("Resolution rate")
        expect(view.get_by_role("button")).to_have_count(1)  # sign out only
        # Operators type reasons, which may name people: a sponsor sees that there is one.
        expect(view.locator("#wave-fees-customers")).to_contain_text("reason is in the audit")
        expect(view.locator("body")).not_to_contain_text("Wrong fee table")
        view.close()


def test_the_page_says_how_often_the_guard_runs_and_when_the_server_does_not(
    kb_home: Path, tmp_path: Path, make_runtime
) -> None:
    for interval, says in (
        (60, "checked every 60 seconds"),
        (0, "when steward rollout evaluate runs (the server does not check by itself"),
    ):
        home = tmp_path / f"home-{interval}"
        shutil.copytree(kb_home, home)
        rt = make_runtime(home, rollout_interval_s=interval)
        write_plan(rt)
        key = create_key(rt.store, "ops")
        with LiveServer(create_app(rt)) as server, httpx.Client(base_url=server.url) as client:
            assert client.post("/v1/session", json={"api_key": key}).status_code == 201
            page = client.get("/console/rollout")
            assert page.status_code == 200, page.text
            text = " ".join(re.sub(r"<[^>]+>", "", page.text).split())
            assert says in text and ("checked every 0" not in text)
