"""The chat page in a real browser (Debian's Chromium driven by Playwright; no download)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def test_ask_in_the_chat_page_shows_a_cited_answer(browser: Browser, live_kb) -> None:
    server, keys = live_kb
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#key", keys["cara"])
    page.click("#keyform button")
    page.fill("#question", "How much is the monthly maintenance fee?")
    page.click("#send")
    turn = page.locator(".turn").first
    expect(turn.locator(".badge")).to_have_text("answer")
    expect(turn).to_contain_text("$12")
    expect(turn.locator("ol.cites li")).to_contain_text("Account Fees 2025 (pub-fees)")
    expect(turn.locator(".meta")).to_contain_text("audit ")


def test_bad_key_in_the_chat_page_shows_the_error(browser: Browser, live_kb) -> None:
    server, _ = live_kb
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#key", "stw_wrong")
    page.click("#keyform button")
    page.fill("#question", "How much is the monthly fee?")
    page.click("#send")
    expect(page.locator(".turn .error").first).to_have_text("Invalid API key.")


def test_answer_text_is_not_rendered_as_html(browser: Browser, live_kb) -> None:
    """A question (or passage) holding markup is shown as text, never executed."""
    server, keys = live_kb
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#key", keys["cara"])
    page.click("#keyform button")
    page.fill("#question", "<img src=x onerror=\"document.title='pwned'\"> monthly fee?")
    page.click("#send")
    expect(page.locator(".turn .a").first).to_be_visible()
    assert page.title() != "pwned"
    assert page.locator(".turn img").count() == 0


def test_the_api_reference_renders_offline_from_this_server_only(browser: Browser, live_kb) -> None:
    server, _ = live_kb
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(server.url + "/docs")
    expect(page.locator("section.operation h2").first).to_be_visible()
    expect(page.locator("#operations")).to_contain_text("POST /v1/ask")
    assert requested and all(u.startswith(server.url) for u in requested), requested
    assert not blocked
    assert page.request.get(server.url + "/redoc").status == 404  # FastAPI's CDN page is off
