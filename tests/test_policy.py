"""Per-center policies: validated, merged over the default, re-read on change, audited."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from steward import audit
from steward.core.errors import ConfigError
from steward.identity.auth import principal_for
from steward.pipeline.orchestrator import ask
from steward.pipeline.policy import Policy, PolicyBook

WIRE = "Please wire $15,000 from my savings to my brother today."


def write(folder: Path, name: str, text: str) -> None:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    # Tests change files within one second: move mtime on so the change is seen.
    stamp = path.stat().st_mtime + 1 if path.exists() else None
    if stamp:
        os.utime(path, (stamp, stamp))


def test_center_file_overrides_the_default(tmp_path: Path) -> None:
    write(tmp_path, "default", "answer_threshold: 0.5\nlarge_amount: 10000\n")
    write(tmp_path, "north", "answer_threshold: 0.8\nescalate_for: everyone\n")
    book = PolicyBook(tmp_path, Policy())
    north, south = book.for_center("north"), book.for_center("south")
    assert (north.answer_threshold, north.escalate_for, north.large_amount) == (
        0.8,
        "everyone",
        10000,
    )
    assert (south.answer_threshold, south.escalate_for) == (0.5, "external")
    assert north.name == "north" and south.name == "default"
    assert north.version != south.version


def test_invalid_policy_fails_start_up_with_a_clear_message(tmp_path: Path) -> None:
    write(tmp_path, "default", "answer_threshhold: 0.5\n")
    with pytest.raises(ConfigError, match="answer_threshhold"):
        PolicyBook(tmp_path, Policy())
    write(tmp_path, "default", "business_hours: {timezone: Mars/Olympus}\n")
    with pytest.raises(ConfigError, match="time zone"):
        PolicyBook(tmp_path, Policy())


def test_hot_reload_and_bad_edit_keeps_last_good(tmp_path: Path) -> None:
    write(tmp_path, "default", "answer_threshold: 0.5\n")
    book = PolicyBook(tmp_path, Policy())
    assert book.for_center(None).answer_threshold == 0.5
    write(tmp_path, "default", "answer_threshold: 0.7\n")
    assert book.for_center(None).answer_threshold == 0.7
    write(tmp_path, "default", "answer_threshold: seven\n")
    assert book.for_center(None).answer_threshold == 0.7  # the last good version stays
    assert "default.yaml" in book.errors


def test_business_hours() -> None:
    from steward.pipeline.policy import BusinessHours

    hours = BusinessHours(
        timezone="America/Chicago",
        days=["mon", "tue", "wed", "thu", "fri"],
        open="07:00",
        close="21:00",
    )
    assert hours.is_open(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))  # Monday 09:00 CST
    assert not hours.is_open(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # 06:00 CST
    assert not hours.is_open(datetime(2026, 11, 22, 15, 0, tzinfo=UTC))  # Sunday


def test_same_question_answered_in_one_center_escalated_in_another(
    kb_home, tmp_path, make_runtime
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "default", "escalate_for: external\n")
    write(policies, "north", "escalate_for: everyone\n")
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", policy_dir=policies)
    north = ask(rt, principal_for(rt.store, "nora"), WIRE)  # staff, north center
    south = ask(rt, principal_for(rt.store, "solo"), WIRE)  # staff, south center
    assert (north.action, north.escalation_reason) == ("escalate", "money_movement")
    assert south.action != "escalate"
    row = audit.get(rt.store, north.audit_id)
    assert "policy:north@" in row.reason and "escalation.money_movement" in row.reason
    assert row.settings["policy"].startswith("north@")


def test_policy_can_send_an_intent_to_people(kb_home, tmp_path, make_runtime) -> None:
    from steward.models.intents import train

    shutil.copytree(kb_home, tmp_path / "h")
    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "default", "always_human_intents: [complaint]\n")
    rt = make_runtime(tmp_path / "h", policy_dir=policies)
    texts = [
        "I want to complain about your service",
        "this is a formal complaint",
        "I am unhappy and want to file a complaint",
        "your staff were rude, I complain",
        "how much is the monthly fee",
        "what does an international wire cost",
        "what is the fee for wires",
        "how do I reset my PIN",
    ] * 3
    labels = (["complaint"] * 4 + ["fees"] * 3 + ["pin"]) * 3
    train(texts, labels, rt.embedder, threshold=0.2).save(tmp_path / "h" / "intents" / "model")
    r = ask(rt, principal_for(rt.store, "cara"), "I want to make a formal complaint about fees")
    assert (r.action, r.escalation_reason) == ("escalate", "policy")
    assert "always_human_intents" in audit.get(rt.store, r.audit_id).reason
    ok = ask(rt, principal_for(rt.store, "cara"), "How much is the monthly maintenance fee?")
    assert ok.action == "answer"
    assert audit.get(rt.store, ok.audit_id).settings["intent"] == "fees"


def test_a_profile_can_tighten_but_never_loosen_the_center_rules(tmp_path: Path) -> None:
    # Any caller names a profile in the gateway's `model` field; a lax one must not be a way
    # around the center's hand-off rules.
    write(tmp_path, "north", "answer_threshold: 0.7\nescalate_for: everyone\nlarge_amount: 5000\n")
    write(
        tmp_path,
        "profile.lax",
        "answer_threshold: 0.1\nescalate_for: nobody\nescalation_reasons: [legal]\n"
        "large_amount: 1000000\nlow_confidence_action: escalate\n",
    )
    write(tmp_path, "profile.strict", "answer_threshold: 0.9\nalways_human_intents: [loan_*]\n")
    book = PolicyBook(tmp_path, Policy())
    assert set(book.profiles()) >= {"lax", "strict"}
    lax = book.for_center("north", "lax")
    assert (lax.answer_threshold, lax.escalate_for, lax.large_amount) == (0.7, "everyone", 5000)
    assert set(lax.escalation_reasons) == set(Policy().escalation_reasons)
    assert lax.low_confidence_action == "escalate"  # a choice between two safe outcomes
    assert lax.name == "lax" and "+" in lax.version
    strict = book.for_center("north", "strict")
    assert strict.answer_threshold == 0.9 and strict.always_human_intents == ("loan_*",)


def test_next_opening_follows_days_hours_and_time_zone() -> None:
    from steward.pipeline.policy import BusinessHours

    hours = BusinessHours(
        timezone="Europe/Berlin",
        days=["mon", "tue", "wed", "thu", "fri"],
        open="09:00",
        close="17:00",
    )
    saturday_noon = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert not hours.is_open(saturday_noon)
    assert hours.next_open(saturday_noon) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    tuesday_open = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
    assert hours.next_open(tuesday_open) == tuesday_open
    tuesday_evening = datetime(2026, 12, 8, 17, 30, tzinfo=UTC)
    assert hours.next_open(tuesday_evening) == datetime(2026, 12, 9, 8, 0, tzinfo=UTC)


def test_outside_business_hours_the_sla_starts_at_opening_and_the_asker_is_told(
    kb_home, tmp_path, make_runtime
) -> None:
    from datetime import time, timedelta

    from steward.pipeline.handoff import PRIORITY, SLA
    from steward.store.models import Ticket

    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).date()
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[tomorrow.weekday()]
    policies = tmp_path / "policies"
    policies.mkdir()
    write(
        policies,
        "default",
        "escalate_for: everyone\n"
        f"business_hours: {{timezone: UTC, days: [{day}], open: '00:00', close: '23:59'}}\n",
    )
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", policy_dir=policies)
    r = ask(rt, principal_for(rt.store, "nora"), WIRE)
    assert r.action == "escalate" and r.ticket_id
    assert "a person will pick this up when we open" in r.answer and day.capitalize() in r.answer
    with rt.store.read() as s:
        ticket = s.get(Ticket, r.ticket_id)
        assert ticket is not None
        due = ticket.due_at if ticket.due_at.tzinfo else ticket.due_at.replace(tzinfo=UTC)
    opening = datetime.combine(tomorrow, time(0, 0), tzinfo=UTC)
    assert due == opening + SLA[PRIORITY.get("money_movement", "p3")]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # The fifth outside review: reports of fraud the detector (an English model) does not
        # read were abstained on, because the language was not judged either.
        ("Me llamó alguien del banco y le di mi clave, ahora no hay dinero en la cuenta", "es"),
        ("Ich wurde betrogen, jemand hat in meinem Namen einen Kredit aufgenommen", "de"),
    ],
)
def test_reports_in_other_languages_are_judged_by_their_language(text: str, lang: str) -> None:
    from steward.core.language import detect

    assert detect(text) == lang
    assert detect("Can you help me find the hat I left at the branch?") == "en"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Me llamó un supuesto policía y moví mis ahorros a una cuenta segura", "fraud"),
        ("Ich wurde betrogen, jemand hat in meinem Namen einen Kredit aufgenommen", "fraud"),
        ("Je n'en peux plus, je pense à en finir avec tout ça, je suis désolé", "emotional"),
        # The third look: too short to tell the language, but the words are telling.
        ("Não aguento mais, quero me matar", "emotional"),
        ("creo que me han timado", "fraud"),
    ],
)
def test_an_urgent_report_in_another_language_is_not_queued_for_language(
    kb_home, tmp_path, make_runtime, text: str, reason: str
) -> None:
    """The second look after the fifth review: fraud reported in Spanish or German went to the
    language queue (p3), since the learned detector reads English."""
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h")
    r = ask(rt, principal_for(rt.store, "cara"), text)
    assert (r.action, r.escalation_reason) == ("escalate", reason), r.reason
    assert f":language.{reason}" in audit.get(rt.store, r.audit_id).reason


@pytest.mark.parametrize(
    "text",
    [
        "Je voudrais en finir avec ce dossier de sinistre",  # get a claim over with
        "Tive um golpe de granizo no carro",  # hail damage
        "Preciso de uma conta segura para pagar o prémio?",
        "How do you protect my account against hackers?",
    ],
)
def test_the_urgent_words_leave_ordinary_questions_alone(text: str) -> None:
    from steward.core.language import detect, likely, urgent_reason

    assert urgent_reason(text, detect(text) or likely(text)) is None


def test_a_question_in_another_language_goes_to_a_person(kb_home, tmp_path, make_runtime) -> None:
    from steward.core.language import detect

    german = "Wie hoch ist die Gebühr für eine Überweisung ins Ausland?"
    assert detect(german) == "de"
    assert detect("What is the fee for a wire from my account?") == "en"
    assert detect("wire fee") is None  # too short to judge: nothing is decided on it
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h")
    r = ask(rt, principal_for(rt.store, "cara"), german)
    assert (r.action, r.escalation_reason) == ("escalate", "language") and r.ticket_id
    assert ":language" in audit.get(rt.store, r.audit_id).reason
    english = ask(rt, principal_for(rt.store, "cara"), "How much does an international wire cost?")
    assert english.action == "answer"

    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "north", "language: de\n")  # cara's center serves German
    shutil.copytree(kb_home, tmp_path / "h2")
    rt2 = make_runtime(tmp_path / "h2", policy_dir=policies)
    r2 = ask(rt2, principal_for(rt2.store, "cara"), german)
    assert r2.escalation_reason != "language"


def test_a_team_file_applies_to_the_askers_in_that_group_only(
    kb_home, tmp_path, make_runtime
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "default", "answer_threshold: 0.3\n")
    write(policies, "team.finance", "answer_threshold: 0.99\n")  # finance: never guess
    shutil.copytree(kb_home, tmp_path / "h")
    rt = make_runtime(tmp_path / "h", policy_dir=policies)
    q = "How much does an international wire cost?"
    sam = ask(rt, principal_for(rt.store, "sam"), q)  # all_staff only
    fin = ask(rt, principal_for(rt.store, "fin"), q)  # all_staff and finance
    assert sam.action == "answer"
    assert fin.action == "abstain" and "0.99" in fin.reason
    p = rt.policies.for_center(None, groups=["all_staff", "finance"])
    assert p.answer_threshold == 0.99 and p.name == "finance"


def test_a_team_file_named_for_no_group_is_an_error(kb_home, tmp_path, make_runtime) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "team.fianance", "answer_threshold: 0.9\n")
    shutil.copytree(kb_home, tmp_path / "h")
    with pytest.raises(ConfigError, match=r"team\.fianance\.yaml names no group.*finance"):
        _ = make_runtime(tmp_path / "h", policy_dir=policies).policies


def test_policy_show_refuses_an_unknown_group(kb_home, tmp_path, model_cache) -> None:
    from tests.conftest import run_cli

    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, "team.finance", "answer_threshold: 0.9\n")
    shutil.copytree(kb_home, tmp_path / "h")
    env = {"STEWARD_POLICY_DIR": str(policies)}
    bad = run_cli("policy", "show", "--group", "nope", home=tmp_path / "h",
                  model_cache=model_cache, extra_env=env)  # fmt: skip
    assert bad.returncode == 2 and "Unknown group 'nope'" in bad.stderr
    good = run_cli("policy", "show", "--group", "finance", "--json", home=tmp_path / "h",
                   model_cache=model_cache, extra_env=env)  # fmt: skip
    assert good.returncode == 0 and json.loads(good.stdout)["answer_threshold"] == 0.9
