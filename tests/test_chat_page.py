"""The chat page in a real browser (Debian's Chromium driven by Playwright; no download)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("#sign-in-button")
    expect(page.locator("#chat")).to_be_visible()


def test_ask_in_the_chat_page_shows_a_cited_answer(browser: Browser, live_kb) -> None:
    server, keys = live_kb
    page = browser.new_page()
    sign_in(page, server.url, keys["cara"])
    page.fill("#question", "How much is the monthly maintenance fee?")
    page.click("#send")
    turn = page.locator(".msg.assistant").first
    expect(turn).to_contain_text("$12")
    expect(turn.locator(".sources button")).to_contain_text("Account Fees 2025")
    expect(turn.locator(".confidence")).to_contain_text("supported by")
    expect(turn).not_to_contain_text("pub-fees")  # no internal document ids


def test_bad_key_in_the_chat_page_shows_the_error(browser: Browser, live_kb) -> None:
    server, _ = live_kb
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#key", "stw_wrong")
    page.click("#sign-in-button")
    expect(page.locator("#sign-in-error")).to_have_text(
        "That key wasn't accepted. Check it and try again."
    )


def test_answer_text_is_not_rendered_as_html(browser: Browser, live_kb) -> None:
    """A question (or passage) holding markup is shown as text, never executed."""
    server, keys = live_kb
    page = browser.new_page()
    sign_in(page, server.url, keys["cara"])
    page.fill("#question", "<img src=x onerror=\"document.title='pwned'\"> monthly fee?")
    page.click("#send")
    expect(page.locator(".msg.assistant").first).not_to_have_attribute("aria-busy", "true")
    expect(page.locator(".msg.asker").first).to_contain_text("<img src=x")
    assert page.title() != "pwned"
    assert page.locator("#log img").count() == 0


def test_the_api_reference_renders_offline_from_this_server_only(browser: Browser, live_kb) -> None:
    server, _ = live_kb
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    for path in ("/docs", "/redoc"):  # where FastAPI would load Swagger UI and ReDoc from a CDN
        page.goto(server.url + path)
        expect(page.locator("section.operation h2").first).to_be_visible()
        expect(page.locator("#operations")).to_contain_text("POST /v1/ask")
    assert requested and all(u.startswith(server.url) for u in requested), requested
    assert not blocked
