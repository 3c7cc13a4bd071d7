"""Personal data: masked to stable tokens before storage; detection fails closed."""

from __future__ import annotations

import re

import pytest

from steward.core.errors import GuardError
from steward.evals.runner import plaintext_found
from steward.guard import Masker, Span, TokenBook, luhn_ok
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from tests.kb import PERSONAL_VALUES


def test_declared_personal_fields_never_reach_disk_in_clear(kb_home) -> None:
    found = plaintext_found(kb_home, PERSONAL_VALUES)
    assert found == set()


def test_scanner_does_find_a_planted_value(kb_rt: Runtime) -> None:
    """The check above could pass vacuously; show that it sees a raw value."""
    (kb_rt.settings.home / "leak.log").write_text("call 12065550199 now")
    assert plaintext_found(kb_rt.settings.home, PERSONAL_VALUES) == {"+1-206-555-0199"}


def test_same_value_gets_the_same_token_everywhere(kb_rt: Runtime) -> None:
    m = kb_rt.masker
    a = m.mask("card 4111 1111 1111 1111 on file").text
    b = m.mask("number 4111-1111-1111-1111 again").text
    c = m.mask("another card 5555 5555 5555 4444").text
    tok_a = re.search(r"<CARD_\d+>", a).group()
    assert tok_a in b
    assert tok_a not in c


def test_recognizers_find_common_values(kb_rt: Runtime) -> None:
    text = (
        "Mail jo.doe@example.com or call +1-206-555-0100; card 3782-822463-10005; "
        "IBAN DE89370400440532013000; SSN 536-22-8726."
    )
    masked = kb_rt.masker.mask(text)
    assert sorted(masked.kinds) == ["CARD", "EMAIL", "IBAN", "PHONE", "SSN"]
    for raw in ("jo.doe", "555-0100", "822463", "DE8937", "536-22"):
        assert raw not in masked.text


def test_luhn_rejects_random_digit_runs(kb_rt: Runtime) -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    masked = kb_rt.masker.mask("Order 4111 1111 1111 1112 shipped.")
    assert "CARD" not in masked.kinds


def test_allow_listed_hotline_stays_readable(kb_rt: Runtime) -> None:
    m = Masker(kb_rt.masker.tokens, allow=[r"1-800-555-\d{4}"])
    assert m.mask("Call 1-800-555-0134 any time.").text == "Call 1-800-555-0134 any time."
    assert "<PHONE_" in m.mask("Call 1-206-555-0134 any time.").text


class Broken:
    """A recognizer whose detector crashes (a real plug-in failing, not a mock)."""

    name = "broken"

    def find(self, text: str) -> list[Span]:
        raise RuntimeError("detector crashed")


def test_detection_failure_is_an_error_not_a_pass(kb_rt: Runtime) -> None:
    m = Masker(kb_rt.masker.tokens, recognizers=[Broken()])
    with pytest.raises(GuardError, match="text withheld"):
        m.mask("card 4111 1111 1111 1111")


def test_question_is_withheld_when_detection_fails(kb_rt: Runtime) -> None:
    kb_rt.__dict__["masker"] = Masker(TokenBook(kb_rt.store, b"k" * 32), recognizers=[Broken()])
    r = ask(kb_rt, principal_for(kb_rt.store, "cara"), "My card 4111 1111 1111 1111 was lost")
    assert r.action == "abstain"
    assert r.citations == []
    from steward import audit

    row = audit.get(kb_rt.store, r.audit_id)
    assert row.question == "[withheld: personal-data check failed]"
    assert "4111" not in row.question
    assert "4111" not in row.answer


def test_operator_recognizers_are_used_and_bad_ones_stop_start_up(
    kb_home, tmp_path, make_runtime
) -> None:
    import shutil

    from steward.core.errors import ConfigError

    good = tmp_path / "rec.yaml"
    good.write_text("recognizers:\n  - kind: MEMBER_ID\n    pattern: 'HM-\\d{8}'\n")
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", pii_recognizers_file=good)
    r = ask(
        rt, principal_for(rt.store, "cara"), "Member HM-12345678 here: what is the monthly fee?"
    )
    from steward import audit

    assert "HM-12345678" not in audit.get(rt.store, r.audit_id).question
    assert "<MEMBER_ID_" in audit.get(rt.store, r.audit_id).question
    bad = tmp_path / "bad.yaml"
    bad.write_text("recognizers:\n  - kind: X\n    pattern: '('\n")
    rt2 = make_runtime(tmp_path / "h", pii_recognizers_file=bad)
    with pytest.raises(ConfigError, match="STEWARD_PII_RECOGNIZERS_FILE"):
        _ = rt2.masker
