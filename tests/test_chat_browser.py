"""The chat page end to end, as a customer and an operator would use it (issue #19).

Debian's Chromium driven by Playwright (no browser download) against a real uvicorn serving the
demo organisation: sign in with a key, ask, a follow-up understood as one, open a citation,
feedback kept with the audit row, history after a reload, the figures of the report moving,
a fraud report handed off and the advisor's reply appearing in the open page, one request per
double click, an operator's "stop auto-answers" for a center, clear error states, and axe-core
finding no WCAG 2.1 AA violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import func, select

from steward import audit
from steward.identity.auth import create_key
from steward.runtime import Runtime
from steward.store.models import AuditRecord, Feedback, Ticket, Turn
from steward.web.app import create_app
from tests.conftest import LiveServer
from tests.idp import CLIENT_ID, CLIENT_SECRET, ISSUER, Provider

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREENSHOT = Path(__file__).parents[1] / "docs" / "img" / "chat.png"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
HURRICANE = "What is the hurricane deductible in Florida?"
FOLLOW_UP = "and how often does it apply?"  # alone, it is not answerable: "it" is the deductible
WATER = "How long do I have to report water damage to my house?"
FRAUD = "Someone is using my card 4111 1111 1111 1111 for payments I never made!"
FRAUD_AGAIN = "There is another charge on my card that I never made, this is fraud."
INTERNAL_WORDS = ("abstain", "escalate", "reason:", "confidence 0", "faq:", "audit", "TypeError")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def site(demo_rt: Runtime) -> Iterator[tuple[LiveServer, dict[str, str], Runtime]]:
    keys = {u: create_key(demo_rt.store, u) for u in ("cust-lena", "cust-omar", "ops-admin")}
    with LiveServer(create_app(demo_rt)) as server:
        yield server, keys, demo_rt


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sign_in(page: Page, url: str, key: str, name: str) -> None:
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("#sign-in-button")
    expect(page.locator("#who-name")).to_have_text(name)
    expect(page.locator("#question")).to_be_focused()


def ask(page: Page, question: str) -> Any:
    """Type a question and press Enter; the new assistant message, once it is complete."""
    before = page.locator(".msg.assistant, .msg.notice").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    reply = page.locator(".msg.assistant, .msg.notice").nth(before)
    expect(reply).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    expect(page.locator("#send")).to_be_enabled()
    return reply


def console(browser: Browser, url: str, key: str) -> Page:
    """An operator signed in to the console in a browser of their own (another cookie jar)."""
    page = browser.new_context().new_page()
    page.goto(url + "/console/sign-in")
    page.fill("#api_key", key)
    page.click("form[action='/console/sign-in'] button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/console/sign-in"))
    return page


def questions_on(dashboard: Page) -> int:
    """The dashboard's question count ("1,234 questions in the last 30 days ...")."""
    words = dashboard.locator("#questions-total").inner_text()
    return int(words.split(" questions")[0].replace(",", ""))


def question_rows(rt: Runtime, user: str) -> int:
    with rt.store.read() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.user_id == user, AuditRecord.kind == "question")
            )
            or 0
        )


def no_wcag_violations(page: Page) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
    found = [(v["id"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]]
    assert not found, found


def report(server: LiveServer, key: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/v1/report", params={"since": "1d"}, headers=bearer(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_customer_asks_follows_up_opens_a_source_rates_and_reloads(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, rt = site
    before = report(server, keys["ops-admin"])
    operator = console(browser, server.url, keys["ops-admin"])
    operator.goto(server.url + "/console")
    on_dashboard = questions_on(operator)
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")

    first = ask(page, HURRICANE)
    expect(first).to_contain_text("2% of the dwelling limit")
    expect(first.locator(".confidence")).to_have_text(re.compile(r"[Ss]upported by \d sources?\."))
    follow = ask(page, FOLLOW_UP)
    expect(follow).to_contain_text("once per hurricane season")
    # Understood as a follow-up: one conversation, and the rewrite leaned on the first question.
    with rt.store.read() as s:
        asked = list(s.scalars(select(Turn).where(Turn.role == "asker").order_by(Turn.id)))
    assert len({t.conversation_id for t in asked}) == 1 and len(asked) == 2
    assert asked[1].standalone and "hurricane deductible" in asked[1].standalone
    assert (
        "[standalone: What is the hurricane deductible"
        in audit.get(rt.store, asked[1].audit_id or "").question
    )

    # The citation opens its passage: title, section, date and version, in a dialog.
    source = first.locator(".sources button").first
    title = source.inner_text().split(" — ")[0]
    source.click()
    dialog = page.locator("#passage")
    expect(dialog).to_be_visible()
    expect(page.locator("#passage-title")).to_have_text(title)
    for field in ("Section", "Date", "Version"):
        expect(page.locator("#passage-meta")).to_contain_text(field)
    expect(page.locator("#passage-meta")).to_contain_text(re.compile(r"20\d\d-\d\d-\d\d"))
    expect(page.locator("#passage-text")).to_contain_text("hurricane")
    no_wcag_violations(page)  # with the dialog open
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(source).to_be_focused()

    # Feedback on the first answer, with a comment that holds a phone number.
    first.get_by_role("button", name="Yes").click()
    first.get_by_label("Comment (optional)").fill("Clear, thanks. Call me on +1-206-555-0190.")
    first.get_by_role("button", name="Send feedback").click()
    expect(first.locator(".feedback")).to_contain_text("Thanks for your feedback.")
    with rt.store.read() as s:
        (fb,) = s.scalars(select(Feedback).where(Feedback.audit_id == asked[0].audit_id))
    assert fb.thumb == 1 and fb.user_id == "cust-lena" and "0190" not in fb.comment

    # Nothing internal on a customer's screen.
    shown = page.locator("main").inner_text()
    for word in INTERNAL_WORDS:
        assert word not in shown, word

    # History survives a reload: the same conversation, re-read from the server.
    page.reload()
    expect(page.locator("#who-name")).to_have_text("Lena Park")
    expect(page.locator(".msg")).to_have_count(4)
    expect(page.locator(".msg.assistant").nth(0)).to_contain_text("2% of the dwelling limit")
    expect(page.locator(".msg.assistant").nth(1)).to_contain_text("once per hurricane season")
    expect(page.locator(".msg.assistant").nth(0).locator(".feedback")).to_contain_text("Thanks")
    expect(page.locator(".msg.assistant").nth(1).locator(".sources button").first).to_be_visible()
    no_wcag_violations(page)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The operator's figures moved: two more questions, one more rating.
    after = report(server, keys["ops-admin"])
    assert (after["questions"] or 0) >= (before["questions"] or 0) + 2
    assert after["satisfaction"] is not None
    operator.goto(server.url + "/console")  # and the console's dashboard shows it
    assert questions_on(operator) >= on_dashboard + 2
    page.close()


def test_a_double_click_on_ask_sends_one_question(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, rt = site
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/v1/ask/stream") else None)
    rows = question_rows(rt, "cust-lena")
    page.fill("#question", "How much does roadside assistance cost?")
    page.dblclick("#send")
    expect(page.locator(".msg.assistant").first).to_contain_text("$16")
    expect(page.locator("#send")).to_be_enabled()
    assert len(sent) == 1
    assert question_rows(rt, "cust-lena") == rows + 1
    expect(page.locator(".msg.asker")).to_have_count(1)
    page.close()


def test_a_fraud_report_is_handed_off_and_the_advisors_reply_appears_live(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, rt = site
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    handed = ask(page, FRAUD)
    expect(handed).to_contain_text("passed your conversation to a person")
    # The question is shown as it was kept: the card number masked, in words.
    expect(page.locator(".msg.asker").first).to_contain_text("[card number hidden]")
    assert "4111" not in page.locator("main").inner_text()
    ticket = page.locator("#ticket")
    expect(ticket).to_contain_text("Waiting for an advisor")
    again = ask(page, FRAUD_AGAIN)
    expect(again).to_contain_text("person")
    with rt.store.read() as s:
        tickets = list(s.scalars(select(Ticket)))
    assert len(tickets) == 1  # one ticket per conversation
    (t,) = tickets
    assert t.id.endswith(ticket.inner_text().split(":")[0].split()[-1])  # the reference shown
    for word in INTERNAL_WORDS:
        assert word not in page.locator("main").inner_text(), word

    # The operator works the ticket in the console's review queue; the customer's open page
    # follows without a reload.
    operator = console(browser, server.url, keys["ops-admin"])
    operator.goto(server.url + "/console/review")
    card = operator.locator(f"#ticket-{t.id}")
    card.get_by_role("button", name="Claim").click()
    expect(ticket).to_contain_text("An advisor is replying", timeout=15_000)
    reply = "We have blocked the card and will send a new one within 5 days."
    card = operator.locator(f"#ticket-{t.id}")
    card.locator(f"#answer-{t.id}").fill(reply)
    card.get_by_role("button", name="Send answer").click()
    expect(page.locator(".msg.human")).to_contain_text("blocked the card", timeout=15_000)
    expect(ticket).to_contain_text("Answered")
    no_wcag_violations(page)
    # Reloaded, the conversation is as the server keeps it: the card number masked, in words.
    page.reload()
    expect(page.locator(".msg.asker").first).to_contain_text("[card number hidden]")
    assert "4111" not in page.locator("main").inner_text()
    expect(page.locator(".msg.human")).to_contain_text("blocked the card")
    expect(ticket).to_contain_text("Answered")
    page.close()


def test_stop_auto_answers_for_a_center_sends_its_next_question_to_a_person(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, rt = site
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    operator = console(browser, server.url, keys["ops-admin"])
    operator.goto(server.url + "/console/alerts")
    operator.select_option("#stop-center", "seattle")
    operator.fill("#stop-reason", "wrong fee table published")
    operator.get_by_role("button", name="Stop auto-answers").click()
    held = ask(page, "How much does roadside assistance cost?")
    expect(held).to_contain_text("passed your conversation to a person")
    expect(held).not_to_contain_text("$16")
    expect(page.locator("#ticket")).to_contain_text("Waiting for an advisor")

    operator.goto(server.url + "/console/alerts")
    operator.select_option("#resume-center", "seattle")
    operator.fill("#resume-reason", "fee table fixed")
    operator.get_by_role("button", name="Resume auto-answers").click()
    page.click("#new-conversation")
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator("#ticket")).to_be_hidden()
    # The worker that made the change holds it at once (others re-read within 2 s).
    expect(ask(page, "How much does roadside assistance cost?")).to_contain_text("$16")
    with rt.store.read() as s:
        kinds = [
            r.kind for r in s.scalars(select(AuditRecord).where(AuditRecord.kind.like("switch-%")))
        ]
    assert kinds == ["switch-set", "switch-cleared"]  # both changes on the record
    page.close()


def test_signing_in_as_someone_else_clears_the_previous_conversation(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, _ = site
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    ask(page, WATER)
    # Someone else signs in on this browser (another tab, the same cookie jar): the page that
    # loads next shows their name and nothing of Lena's.
    r = page.request.post(server.url + "/v1/session", data={"api_key": keys["cust-omar"]})
    assert r.status == 201
    page.reload()
    expect(page.locator("#who-name")).to_have_text("Omar Reyes")
    expect(page.locator(".msg")).to_have_count(0)
    stored = page.evaluate("sessionStorage.getItem('steward.chat')")
    assert "cust-lena" not in (stored or "")
    # Signing out leaves nothing behind either.
    ask(page, "How much does roadside assistance cost?")
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('steward.chat')") is None
    assert page.request.get(server.url + "/v1/session").status == 401
    page.close()


def test_a_bad_key_is_refused_in_words(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, _, _ = site
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#key", "stw_wrong")
    page.click("#sign-in-button")
    expect(page.locator("#sign-in-error")).to_have_text(
        "That key wasn't accepted. Check it and try again."
    )
    expect(page.locator("#chat")).to_be_hidden()
    no_wcag_violations(page)
    page.close()


def test_a_stopped_server_offers_a_retry_not_a_type_error(
    browser: Browser, demo_rt: Runtime
) -> None:
    key = create_key(demo_rt.store, "cust-lena")
    app = create_app(demo_rt)
    server = LiveServer(app)
    with server:
        page = browser.new_page()
        sign_in(page, server.url, key, "Lena Park")
    # The server is gone now.
    failed = ask(page, "How much does roadside assistance cost?")
    expect(failed).to_contain_text(
        "Can't reach the assistant right now. Check your connection and try again."
    )
    expect(failed.get_by_role("button", name="Retry")).to_be_focused()
    assert "TypeError" not in page.locator("main").inner_text()
    page.close()


def test_retry_sends_the_question_again_once_the_network_is_back(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, _ = site
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    page.route("**/v1/ask/stream", lambda route: route.abort("connectionrefused"))
    failed = ask(page, "How much does roadside assistance cost?")
    expect(failed).to_contain_text("Can't reach the assistant right now.")
    page.unroute("**/v1/ask/stream")
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator(".msg.assistant").last).to_contain_text("$16", timeout=30_000)
    expect(page.locator(".msg.notice")).to_have_count(0)
    expect(page.locator(".msg.asker")).to_have_count(1)
    page.close()


def test_an_ended_session_goes_back_to_sign_in(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, _ = site
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    context.clear_cookies()
    page.fill("#question", "How much does roadside assistance cost?")
    page.press("#question", "Enter")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#sign-in-note")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    context.close()


def test_too_many_questions_ask_the_customer_to_wait(
    browser: Browser, demo_copy: Path, make_runtime: Any
) -> None:
    # The limits count in fixed windows: an hour's makes a window boundary inside the test
    # unlikely, and asking up to twice the limit reaches it even across one.
    rt: Runtime = make_runtime(demo_copy, rate_per_user=4, rate_window_s=3600)
    key = create_key(rt.store, "cust-lena")
    with LiveServer(create_app(rt)) as server:
        page = browser.new_page()
        sign_in(page, server.url, key, "Lena Park")  # two requests: GET and POST /v1/session
        notice = page.locator(".msg.notice")
        for _ in range(8):
            ask(page, "How much does roadside assistance cost?")
            if notice.count():
                break
        expect(notice.last).to_contain_text("Please wait")
        expect(notice.last.get_by_role("button", name="Retry")).to_be_visible()
        page.close()


def test_sign_in_with_the_identity_provider_is_offered_only_where_configured(
    browser: Browser,
    site: tuple[LiveServer, dict[str, str], Runtime],
    demo_copy: Path,
    make_runtime: Any,
    tmp_path: Path,
) -> None:
    """Where it is configured, the link goes through a real provider on loopback (another
    site: localhost, not 127.0.0.1) by the code flow, and the browser comes back signed in:
    its SameSite=Strict session cookie is sent on the way back to the chat page."""
    server, _, _ = site
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    jwk = {**json.loads(RSAAlgorithm.to_jwk(public)), "kid": "k1", "use": "sig", "alg": "RS256"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    page = browser.new_page()
    page.goto(server.url + "/")
    expect(page.locator("#key")).to_be_visible()
    expect(page.locator("#idp")).to_be_hidden()
    idp = Provider(private, user="cust-lena")
    with LiveServer(idp.app()) as provider:
        rt: Runtime = make_runtime(
            demo_copy,
            oidc_jwks_file=jwks,
            oidc_issuer=ISSUER,
            oidc_audience=CLIENT_ID,
            oidc_authorize_url=f"http://localhost:{provider.port}/authorize",
            oidc_token_url=f"{provider.url}/token",
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
        )
        with LiveServer(create_app(rt)) as oidc:
            page.goto(oidc.url + "/")
            link = page.get_by_role("link", name="Sign in with your organisation's account")
            expect(link).to_have_attribute("href", "/console/oidc/start?next=/")
            no_wcag_violations(page)
            link.click()
            expect(page.locator("#who-name")).to_have_text("Lena Park", timeout=30_000)
            assert page.url == oidc.url + "/"
            assert len(idp.token_requests) == 1
    page.close()


def test_the_page_works_by_keyboard_alone_with_a_visible_focus_ring(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, _ = site
    page = browser.new_page()
    page.goto(server.url + "/")
    expect(page.locator("#key")).to_be_focused()
    page.keyboard.type(keys["cust-lena"])
    page.keyboard.press("Enter")
    expect(page.locator("#who-name")).to_have_text("Lena Park")
    expect(page.locator("#question")).to_be_focused()
    page.keyboard.type(HURRICANE)
    page.keyboard.press("Enter")
    expect(page.locator(".msg.assistant .feedback")).to_be_visible(timeout=30_000)
    # Back from the question box: No, Yes, then the source.
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
    source = page.locator(".msg.assistant .sources button").first
    expect(source).to_be_focused()
    ring = source.evaluate(
        "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert ring[0] == "solid" and float(ring[1].removesuffix("px")) >= 2, ring
    page.keyboard.press("Enter")
    expect(page.locator("#passage")).to_be_visible()
    expect(page.locator("#passage-text")).to_contain_text("hurricane")
    page.keyboard.press("Escape")
    expect(page.locator("#passage")).to_be_hidden()
    expect(source).to_be_focused()
    page.close()


@pytest.mark.parametrize(
    "failure", ["429", "503", "403", "network"], ids=["limited", "down", "csrf", "offline"]
)
def test_a_failed_sign_out_says_so_and_stays_signed_in(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime], failure: str
) -> None:
    """The page said "You have signed out" whatever DELETE /v1/session answered; the session
    then still worked. Now only a 204 (or 401: already out) signs the page out."""
    server, keys, _ = site
    page = browser.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")

    def refuse(route: Any) -> None:
        if route.request.method != "DELETE":
            route.continue_()
        elif failure == "network":
            route.abort("connectionrefused")
        else:
            route.fulfill(
                status=int(failure),
                headers={"Retry-After": "7", "Content-Type": "application/json"},
                body=json.dumps({"error": {"code": "x", "message": "no", "request_id": "r"}}),
            )

    page.route("**/v1/session", refuse)
    page.click("#sign-out")
    expect(page.locator("#sign-out-error")).to_contain_text("still signed in")
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#sign-in")).to_be_hidden()
    assert "signed out" not in page.locator("#sign-in-note").inner_text()
    assert page.request.get(server.url + "/v1/session").status == 200
    page.unroute("**/v1/session")
    page.click("#sign-out")  # it works once the server answers 204
    expect(page.locator("#sign-in-note")).to_have_text("You have signed out.")
    page.close()


def test_the_next_user_does_not_inherit_the_previous_users_unsent_question(
    browser: Browser, site: tuple[LiveServer, dict[str, str], Runtime]
) -> None:
    server, keys, _ = site
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server.url, keys["cust-lena"], "Lena Park")
    context.clear_cookies()  # Lena's session ends while she types
    page.fill("#question", "My policy number is 12345, is my claim approved?")
    page.press("#question", "Enter")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#key", keys["cust-omar"])
    page.click("#sign-in-button")
    expect(page.locator("#who-name")).to_have_text("Omar Reyes")
    expect(page.locator("#question")).to_have_value("")
    assert "12345" not in (page.evaluate("JSON.stringify(sessionStorage)") or "")
    context.close()
