"""Use-case portfolio (sponsor/usecases.py, docs/usecases-roi.md): weighted criteria, weights
checked and normalised, data quality measured where a use case names its sources (never typed
over a measurement), each score explained, the permission, the CLI and the console page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from steward.core.errors import ForbiddenError, InputError
from steward.identity.auth import create_key, principal_for
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.runtime import Runtime
from steward.sponsor import usecases
from tests.conftest import LiveServer, run_cli

PORTFOLIO = """\
use_cases:
  - id: card-fees
    name: Card fee questions
    scores: {time_to_value: 5, measurable_success: 4, low_resistance: 4, data_quality: 4}
  - id: mortgages
    name: Mortgage advice
    scores: {time_to_value: 2, measurable_success: 3, low_resistance: 2, data_quality: 5}
  - id: wires
    name: Wire transfers
    scores: {time_to_value: 4, measurable_success: 5, low_resistance: 3}
    sources: [crm]
"""


def write(tmp_path: Path, text: str = PORTFOLIO, name: str = "usecases.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def ops(rt: Runtime) -> Any:
    return principal_for(rt.store, "ops")


def register_crm(rt: Runtime, root: Path) -> None:
    """A real source `crm` with nothing in it yet: registered, but no readiness run has items
    of it to measure (the wires use case names it)."""
    folder = root / "crm-empty"
    folder.mkdir(exist_ok=True)
    config = root / "crm-sources.yaml"
    config.write_text(f"sources:\n  - {{id: crm, connector: folder, path: '{folder}'}}\n")
    assert [r.status for r in sync(rt, load_sources(config))] == ["ok"]


@pytest.fixture(autouse=True)
def _crm(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if "kb_rt" in request.fixturenames:
        register_crm(request.getfixturevalue("kb_rt"), tmp_path)


def test_default_weights_rank_and_explain_each_score(kb_rt: Runtime, tmp_path: Path) -> None:
    d = usecases.score(kb_rt, ops(kb_rt), write(tmp_path))
    assert d["weights"] == {
        "time_to_value": 0.4,
        "measurable_success": 0.25,
        "low_resistance": 0.2,
        "data_quality": 0.15,
    }
    by_id = {r["id"]: r for r in d["ranking"]}
    # 5×.4 + 4×.25 + 4×.2 + 4×.15 = 4.4; 2×.4 + 3×.25 + 2×.2 + 5×.15 = 2.7
    assert by_id["card-fees"]["score"] == pytest.approx(4.4)
    assert by_id["mortgages"]["score"] == pytest.approx(2.7)
    crit = {c["criterion"]: c for c in by_id["card-fees"]["criteria"]}
    assert crit["time_to_value"] == {
        "criterion": "time_to_value",
        "label": "time to value",
        "value": 5.0,
        "weight": 0.4,
        "contribution": 2.0,
        "origin": "typed",
        "usable_share": None,
    }
    assert crit["data_quality"]["origin"] == "typed, not measured"
    # Wires names its source: no readiness run covers it, so its data quality is not
    # measured and counts as the lowest (1): 4×.4 + 5×.25 + 3×.2 + 1×.15 = 3.6.
    wires = {c["criterion"]: c for c in by_id["wires"]["criteria"]}["data_quality"]
    assert (wires["origin"], wires["value"]) == ("not measured", 1.0)
    assert by_id["wires"]["score"] == pytest.approx(3.6)
    assert [r["id"] for r in d["ranking"]] == ["card-fees", "wires", "mortgages"]
    assert [r["rank"] for r in d["ranking"]] == [1, 2, 3]
    why = by_id["card-fees"]["explanation"]
    assert why.startswith("#1 at 4.40/5") and "time to value" in why and "typed" in why
    assert "run the readiness audit" in by_id["wires"]["explanation"]


def test_data_quality_is_measured_by_the_readiness_audit(kb_rt: Runtime, tmp_path: Path) -> None:
    from steward.sponsor.readiness import quality_of, run

    path = write(tmp_path, PORTFOLIO.replace("sources: [crm]", "sources: [docs, faq]"))
    run(kb_rt, ops(kb_rt))  # the real audit of the test knowledge base
    share = quality_of(kb_rt, ["docs", "faq"])
    assert share is not None and 0 < share <= 1
    d = usecases.score(kb_rt, ops(kb_rt), path)
    wires = next(r for r in d["ranking"] if r["id"] == "wires")
    dq = {c["criterion"]: c for c in wires["criteria"]}["data_quality"]
    assert dq["origin"] == "measured" and dq["usable_share"] == pytest.approx(share, abs=1e-4)
    assert dq["value"] == pytest.approx(1 + 4 * share, abs=1e-3)
    assert wires["score"] == pytest.approx(4 * 0.4 + 5 * 0.25 + 3 * 0.2 + dq["value"] * 0.15)
    assert f"{share:.0%} usable" in wires["explanation"]
    d = usecases.score(kb_rt, ops(kb_rt), write(tmp_path, PORTFOLIO, "unseen.yaml"))
    wires = next(r for r in d["ranking"] if r["id"] == "wires")
    assert wires["criteria"][3]["origin"] == "not measured" and wires["criteria"][3]["value"] == 1


def test_a_source_the_store_does_not_have_is_refused_not_scored_unmeasured(
    kb_rt: Runtime, tmp_path: Path
) -> None:
    path = write(tmp_path, PORTFOLIO.replace("sources: [crm]", "sources: [crm, crmm]"))
    with pytest.raises(InputError) as err:
        usecases.score(kb_rt, ops(kb_rt), path)
    assert err.value.message.startswith("Use case 'wires' names source(s) 'crmm' that this store")
    assert "its sources: crm, docs, faq, tickets" in err.value.message


def test_weights_are_normalised_and_checked(kb_rt: Runtime, tmp_path: Path) -> None:
    scaled = "weights: {time_to_value: 4, measurable_success: 2.5, low_resistance: 2, " + (
        "data_quality: 1.5}\n" + PORTFOLIO
    )
    d = usecases.score(kb_rt, ops(kb_rt), write(tmp_path, scaled))
    assert d["weights"]["time_to_value"] == 0.4 and d["ranking"][0]["score"] == pytest.approx(4.4)
    only = "weights: {measurable_success: 1}\n" + PORTFOLIO  # the others weigh 0
    d = usecases.score(kb_rt, ops(kb_rt), write(tmp_path, only))
    assert d["ranking"][0]["id"] == "wires" and d["ranking"][0]["score"] == 5.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("weights: {time_to_value: 0, data_quality: 0}\n" + PORTFOLIO, "more than zero"),
        ("weights: {time_to_value: -1, data_quality: 2}\n" + PORTFOLIO, "zero or more"),
        ("weights: {charm: 1}\n" + PORTFOLIO, "charm"),
        # The outside review: NaN and overflowing weights crashed the scoring.
        ("weights: {time_to_value: .nan, data_quality: 2}\n" + PORTFOLIO, "weights"),
        ("weights: {time_to_value: 1e308, data_quality: 1e308}\n" + PORTFOLIO, "at most"),
        (PORTFOLIO.replace("time_to_value: 5,", "time_to_value: 6,"), "time_to_value"),
        (
            PORTFOLIO.replace("[crm]", "[crm]\n    data_quality: 3"),
            "data_quality",
        ),
        (
            PORTFOLIO.replace("low_resistance: 3}", "low_resistance: 3, data_quality: 2}"),
            "measured",
        ),
        (PORTFOLIO.replace("id: mortgages", "id: card-fees"), "unique"),
        ("use_cases: []\n", "use_cases"),
    ],
)
def test_bad_portfolios_are_refused(
    kb_rt: Runtime, tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(InputError) as exc:
        usecases.score(kb_rt, ops(kb_rt), write(tmp_path, text))
    assert fragment in exc.value.message


def test_scoring_needs_view_sponsor(kb_home: Path, tmp_path: Path, make_runtime: Any) -> None:
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", sponsor_group="finance")
    register_crm(rt, tmp_path)
    path = write(tmp_path)
    with pytest.raises(ForbiddenError):
        usecases.score(rt, principal_for(rt.store, "cara"), path)
    assert usecases.score(rt, principal_for(rt.store, "fin"), path)["ranking"]


def test_usecases_score_cli_json_and_bad_file(tmp_path: Path, model_cache: Path) -> None:
    home = tmp_path / "home"
    text = PORTFOLIO.replace("    sources: [crm]\n", "")
    done = run_cli(
        "usecases",
        "score",
        str(write(tmp_path, text)),
        "--json",
        home=home,
        model_cache=model_cache,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ranking"][0]["id"] == "card-fees"
    table = run_cli(
        "usecases", "score", str(write(tmp_path, text)), home=home, model_cache=model_cache
    )
    assert table.returncode == 0 and "Card fee questions" in table.stdout
    bad = run_cli(
        "usecases",
        "score",
        str(write(tmp_path, "weights: {x: 1}\n", "bad.yaml")),
        home=home,
        model_cache=model_cache,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error: ")


def test_console_page_shows_ranking_and_roi_to_sponsors_only(
    kb_home: Path, tmp_path: Path, make_runtime: Any
) -> None:
    """A sponsor (an analyst in the sponsor group) signs in with a real browser, follows the
    navigation to the page and sees the ranking and the accounts; an agent gets a 403."""
    from playwright.sync_api import expect, sync_playwright

    from steward.web.app import create_app
    from tests.test_console import CHROMIUM, FLAGS, signed_in, wcag_violations

    shutil.copytree(kb_home, tmp_path / "h")
    home = tmp_path / "h"
    write(home, PORTFOLIO)
    (home / "roi.yaml").write_text(
        "name: Pilot <b>x</b>\naccrual: ramp\nyears: 2\n"
        "costs: {one_time: [{name: build, amount: 900000}],"
        " recurring: [{name: run, yearly: 500000}]}\n"
        "benefits: {typed: [{name: y1, amount: 1020600}, {name: y2, amount: 2590000, year: 2}]}\n",
        encoding="utf-8",
    )
    rt = make_runtime(home, sponsor_group="finance")
    register_crm(rt, tmp_path)
    keys = {u: create_key(rt.store, u) for u in ("fin", "sam")}
    with LiveServer(create_app(rt)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = signed_in(browser, server, keys["fin"])
            page.wait_for_url(f"{server.url}/console/economics")  # a sponsor's landing page
            page.get_by_role("link", name="Use cases and ROI").click()
            expect(page.get_by_role("heading", name="Use cases and ROI", level=1)).to_be_visible()
            rows = page.locator("#usecases tbody tr")
            expect(rows).to_have_count(3)
            expect(rows.nth(0)).to_have_attribute("data-usecase", "card-fees")
            expect(rows.nth(0).locator('[data-criterion="data_quality"]')).to_contain_text(
                "typed, not measured"
            )
            expect(rows.nth(1).locator('[data-criterion="data_quality"]')).to_contain_text(
                "not measured"
            )
            expect(page.locator("#roi-accrual")).to_contain_text("ramp (month m of each year")
            expect(page.locator("#roi-totals")).to_contain_text("payback month 19")
            expect(page.locator("#roi-totals")).to_contain_text("Pilot <b>x</b>")  # as text
            expect(page.locator("#roi-years tbody tr").nth(0)).to_contain_text("-27.1%")
            expect(page.locator("#roi-years tbody tr").nth(1)).to_contain_text("418.0%")
            expect(page.locator("#roi-months tbody tr")).to_have_count(24)
            assert wcag_violations(page) == []
            other = signed_in(browser, server, keys["sam"])
            refused = other.goto(f"{server.url}/console/economics")
            assert refused is not None and refused.status == 403
            assert "card-fees" not in other.content()
        finally:
            browser.close()


def test_a_sponsor_is_not_shown_where_the_servers_files_lie(
    kb_home: Path, tmp_path: Path, make_runtime: Any
) -> None:
    from steward.web.console.economics import overview

    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", sponsor_group="finance")
    seen = overview(rt, principal_for(rt.store, "fin"))
    assert "operator adds it" in seen["usecases"]["missing"]
    assert str(tmp_path) not in str(seen)
    assert str(tmp_path) in overview(rt, ops(rt))["roi"]["missing"]  # the operator is told
