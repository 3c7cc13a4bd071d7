"""Tools from a plugin: a distribution that declares the ``steward.tools`` entry point is found
by the standard entry-point machinery (a real ``.dist-info`` on ``sys.path``, nothing patched),
and its tools join the tools file's; a broken plugin stops the start with its name."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.actions.registry import ToolSpec, load_registry
from steward.core.errors import ConfigError

PLUGIN = """
def tools():
    return [{
        "name": "order_statement",
        "description": "Order a paper statement.",
        "risk": "read",
        "subject": "customer",
        "arguments": {"type": "object", "properties": {"customer": {"type": "string"}},
                      "required": ["customer"], "additionalProperties": False},
        "executor": {"python": "steward_demo_plugin:run"},
    }]


def run(call):
    return {"ordered": True}


def broken():
    raise RuntimeError("the plugin's own bug")
"""


def _install(root: Path, target: str) -> None:
    (root / "steward_demo_plugin.py").write_text(PLUGIN)
    info = root / "steward_demo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: steward-demo-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(f"[steward.tools]\ndemo = {target}\n")


@pytest.fixture
def plugin_path(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("steward_demo_plugin", None)


def test_a_plugins_tools_join_the_tools_file(plugin_path: Path) -> None:
    _install(plugin_path, "steward_demo_plugin:tools")
    tools = plugin_path / "tools.yaml"
    tools.write_text(
        "tools:\n  - name: ping\n    description: Ping.\n    risk: read\n"
        "    arguments: {type: object}\n    executor: {python: 'steward_demo_plugin:run'}\n"
    )
    reg = load_registry(tools)
    assert set(reg.tools) == {"ping", "order_statement"}
    assert isinstance(reg.tools["order_statement"], ToolSpec)
    assert reg.mode(reg.tools["order_statement"], "read", None) == "auto"
    # The same name from the file and the plugin is refused, not silently replaced.
    tools.write_text(tools.read_text().replace("name: ping", "name: order_statement"))
    with pytest.raises(ConfigError, match="declared twice"):
        load_registry(tools)


def test_a_broken_plugin_is_named(plugin_path: Path) -> None:
    _install(plugin_path, "steward_demo_plugin:broken")
    with pytest.raises(ConfigError, match="plugin 'demo' did not load"):
        load_registry(None)
