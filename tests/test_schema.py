"""Schemathesis against the served OpenAPI spec: no 500s, no status or body outside the spec.

Runs the `st` command line as a real process against a real server on loopback (its pytest
plugin does not work with pytest 9), with every check enabled and a fixed seed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from steward.config.settings import Settings
from steward.identity.auth import create_key
from steward.runtime import Runtime
from steward.web.app import create_app
from tests.conftest import LiveServer


def test_api_conforms_to_its_spec(
    kb_home: Path, tmp_path: Path, model_cache: Path, embedder
) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    rt = Runtime(Settings(home=home, model_cache=model_cache), embedder=embedder)
    key = create_key(rt.store, "ops")  # an operator: every route is reachable
    st = Path(sys.executable).with_name("st")
    with LiveServer(create_app(rt)) as server:
        r = subprocess.run(
            [
                str(st),
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "-H",
                f"Authorization: Bearer {key}",
                "--max-examples",
                "7",
                # The spec's own examples and the stateful links. Not the coverage phase
                # (every boundary value of every parameter: 50 s of the suite's 10-minute
                # budget on 2 cores), nor the fuzzing phase, which test_openapi_fuzz.py runs
                # for every operation in positive and negative mode with the same checks.
                "--phases",
                "examples,stateful",
                "--seed",
                "20261123",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    rt.close()
    summary = r.stdout[-3000:]
    assert r.returncode == 0, summary
    assert "No issues found" in r.stdout or "passed" in r.stdout, summary
