"""Issue 22's readiness must-show on the Meridian corpus (``../shared/corpus/meridian``, or
``$MERIDIAN_CORPUS``; evaluation data, never inside the product). The store is built once, as
``benchmarks/meridian/setup`` builds it; its sync runs the audit. What the audit must find is
read from the corpus README's text (its "Documents to know about" notes), not from the audit's
own output: the superseded card-fee document, the travel-notice contradiction, the two planted
injections; the three centers' differing procedures are not contradictions (scoped by center);
the tickets' PII density is reported, and no ticket's personal value is stored with it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from steward.identity.auth import principal_for
from steward.identity.directory import import_directory
from steward.knowledge.pipeline import sync
from steward.knowledge.sources import load_sources
from steward.models.embeddings import MiniLMEmbedder
from steward.runtime import Runtime
from steward.sponsor import readiness
from steward.store.models import ReadinessFinding, ReadinessRun
from tests.conftest import settings_for

ROOT = Path(__file__).parents[1]
CORPUS = Path(
    os.environ.get("MERIDIAN_CORPUS") or ROOT.parent / "shared" / "corpus" / "meridian"
).resolve()
pytestmark = pytest.mark.skipif(
    not (CORPUS / "README.md").is_file(),
    reason=f"the Meridian evaluation corpus is not beside this checkout ({CORPUS})",
)


def notes() -> dict[str, list[str]]:
    """The README's "Documents to know about" bullets: their bold lead -> the document ids
    (backticked names of files in docs/) they mention, in order."""
    text = (CORPUS / "README.md").read_text()
    section = text.split("Documents to know about:", 1)[1].split("\n## ", 1)[0]
    known = {p.stem for p in (CORPUS / "docs").glob("*.md")}
    out = {}
    for bullet in re.split(r"\n- ", "\n" + section)[1:]:
        lead = re.match(r"\*\*(.+?)\*\*", bullet)
        if lead is None:
            continue
        ids = [t for t in re.findall(r"`([^`]+)`", bullet) if t in known]
        out[lead.group(1).strip(" .").lower()] = list(dict.fromkeys(ids))
    return out


def superseded_pairs() -> list[tuple[str, str]]:
    """(newer, older) for every "`new` (`supersedes: old`)" the README states."""
    text = (CORPUS / "README.md").read_text()
    return re.findall(r"`([\w-]+)` \(`supersedes: ([\w-]+)`\)", text)


@pytest.fixture(scope="module")
def meridian(
    tmp_path_factory: pytest.TempPathFactory,
    model_cache: Path,
    embedder: MiniLMEmbedder,
) -> Any:
    home = tmp_path_factory.mktemp("meridian-readiness")
    rt = Runtime(settings_for(home, model_cache), embedder=embedder)
    import_directory(rt.store, CORPUS / "directory.yaml")
    previous = os.environ.get("MERIDIAN_CORPUS")
    os.environ["MERIDIAN_CORPUS"] = str(CORPUS)
    try:
        reports = sync(rt, load_sources(ROOT / "benchmarks" / "meridian" / "sources.yaml"))
    finally:
        if previous is None:
            os.environ.pop("MERIDIAN_CORPUS", None)
        else:
            os.environ["MERIDIAN_CORPUS"] = previous
    assert all(r.status == "ok" for r in reports), [r.errors for r in reports]
    helen = principal_for(rt.store, "exec-helen")  # an executive: an asker here
    from steward.cli.common import _local_admin

    admin = _local_admin()
    report = readiness.latest(rt, admin)
    assert report is not None and report["run"]["trigger"] == "sync"
    found = readiness.findings(rt, admin, limit=5000)
    yield rt, report, found, helen
    rt.close()


def _of(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in found if f["kind"] == kind]


def test_the_readme_names_what_the_audit_must_find() -> None:
    n = notes()
    assert superseded_pairs() == [("pub-card-fees-2025", "pub-card-fees-2023")]
    assert len(n["contradiction without a supersedes link"]) == 2
    assert len(n["planted prompt injections"]) == 2
    assert len(n["center-specific procedures"]) == 3


def test_the_superseded_card_fee_document_is_found(meridian: Any) -> None:
    _rt, report, found, _ = meridian
    superseded = {(f["other_doc_id"], f["doc_id"]) for f in _of(found, "superseded")}
    for newer, older in superseded_pairs():
        assert (newer, older) in superseded
    assert report["figures"]["sources"]["meridian-docs"]["superseded"] == len(superseded_pairs())


def test_the_travel_notice_contradiction_is_found_and_nothing_else(meridian: Any) -> None:
    _rt, _report, found, _ = meridian
    expected = set(notes()["contradiction without a supersedes link"])
    pairs = [{f["doc_id"], f["other_doc_id"]} for f in _of(found, "contradiction")]
    assert expected in pairs
    # Precision: the README documents one contradiction; the audit reports no other.
    assert len(pairs) == 1, pairs
    (travel,) = _of(found, "contradiction")
    values = {v for pair in travel["detail"]["values"] for v in pair}
    assert {"75 days", "120 days"} == values
    # The README: "The newer date wins."
    newer = max(expected, key=lambda d: _updated(d))
    assert travel["detail"]["newer"] == newer


def _updated(doc_id: str) -> str:
    head = (CORPUS / "docs" / f"{doc_id}.md").read_text().split("---")[1]
    found = re.search(r"^updated:\s*(\S+)", head, re.MULTILINE)
    assert found is not None
    return found.group(1)


def test_the_three_centers_procedures_are_not_contradictions(meridian: Any) -> None:
    _rt, _report, found, _ = meridian
    centers = set(notes()["center-specific procedures"])
    for f in _of(found, "contradiction"):
        assert not ({f["doc_id"], f["other_doc_id"]} & centers), f


def test_the_two_planted_injections_are_found(meridian: Any) -> None:
    _rt, report, found, _ = meridian
    planted = set(notes()["planted prompt injections"])
    assert {f["doc_id"] for f in _of(found, "injection")} == planted
    assert report["figures"]["sources"]["meridian-docs"]["injections"] == len(planted)


def test_the_tickets_pii_density_is_reported_without_their_values(meridian: Any) -> None:
    rt, report, _found, _ = meridian
    sources = report["figures"]["sources"]
    tickets, docs = sources["meridian-tickets"], sources["meridian-docs"]
    lines = (CORPUS / "tickets.jsonl").read_text().splitlines()
    assert tickets["items"] == len(lines)
    assert tickets["pii_spans"] > 0 and tickets["pii_items"] > 0
    assert tickets["pii_per_1k_chars"] > 10 * docs["pii_per_1k_chars"]
    assert {"EMAIL", "PHONE", "NAME"} <= set(tickets["pii_kinds"])
    assert tickets["declared_personal_values"] > tickets["items"]  # 5 fields a ticket, deduped
    with rt.store.read() as s:
        stored = json.dumps(
            [[r.figures for r in s.scalars(select(ReadinessRun))]]
            + [[f.doc_id, f.other_doc_id, f.detail] for f in s.scalars(select(ReadinessFinding))]
        ).lower()
    for line in lines:
        t = json.loads(line)
        for field in ("customer_name", "customer_email", "phone", "card_number", "address"):
            assert str(t[field]).lower() not in stored


def test_a_sponsor_role_reads_it_and_a_customer_does_not(meridian: Any) -> None:
    rt, _report, _found, exec_helen = meridian
    from steward.core.errors import ForbiddenError

    with pytest.raises(ForbiddenError):  # no sponsor group configured: executives are askers
        readiness.latest(rt, exec_helen)
    share = readiness.quality_of(rt, ["meridian-docs"])
    assert share is not None and 0 < share < 1
