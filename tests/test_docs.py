"""The docs stay true: every setting is documented, the README's quick start is two commands."""

from __future__ import annotations

import re
from pathlib import Path

from steward.config.settings import LEAVES

ROOT = Path(__file__).parents[1]


def test_every_setting_is_in_the_configuration_reference() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`STEWARD_([A-Z0-9_]+)`", doc))
    # The settings are nested groups; each leaf names its flat variable (the docs list those).
    declared = {leaf.env.removeprefix("STEWARD_") for leaf in LEAVES}
    assert declared - documented == set(), "undocumented settings"
    assert documented - declared == set(), "documented settings that do not exist"


def test_every_setting_has_a_help_line() -> None:
    for leaf in LEAVES:
        assert leaf.field.description, leaf.env


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [ln for ln in block.splitlines()[1:] if ln.strip() and not ln.startswith("#")]
    assert commands == ["./scripts/demo", "./scripts/test"]
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
