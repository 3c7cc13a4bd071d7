"""The docs run as written: every `$ command` in a console block of the pilot guide and of the
README, in order, against a fresh data home, as a new adopter would type them. A command that
fails, or whose output no longer shows what the docs say it shows, fails the test.

Expected output lines are matched loosely: `…` stands for any text, the fragments between must
appear in that order; a line without `…` must appear as a whole line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


def steps(markdown: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for every `$ ` line of every console block."""
    out: list[tuple[str, list[str]]] = []
    for block in BLOCK.findall(markdown):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:].strip(), []))
            elif line.strip() and out:
                out[-1][1].append(line.strip())
    return out


def matches(expected: str, output: str) -> bool:
    if "…" not in expected:
        return expected in {line.strip() for line in output.splitlines()}
    at = 0
    for fragment in (f.strip() for f in expected.split("…")):
        if not fragment:
            continue
        found = output.find(fragment, at)
        if found < 0:
            return False
        at = found + len(fragment)
    return True


def run_steps(doc: Path, model_cache: Path, tmp_path: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "LAKESHORE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["STEWARD_MODEL_CACHE"] = str(model_cache)
    env["TMPDIR"] = str(tmp_path)  # mktemp -d lands in the test's own folder
    ran = []
    for command, expected in steps(doc.read_text(encoding="utf-8")):
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            env[name] = subprocess.run(
                ["bash", "-c", f'printf %s "{value}"'], env=env, cwd=ROOT, text=True,
                capture_output=True, check=True,
            ).stdout  # fmt: skip
            ran.append(command)
            continue
        r = subprocess.run(
            ["bash", "-c", command], env=env, cwd=ROOT, text=True, capture_output=True,
            timeout=600,
        )  # fmt: skip
        output = r.stdout + r.stderr
        assert r.returncode == 0, f"{doc.name}: `{command}` exited {r.returncode}:\n{output}"
        for line in expected:
            assert matches(line, output), (
                f"{doc.name}: `{command}` no longer shows {line!r}:\n{output}"
            )
        ran.append(command)
    return ran


def test_the_pilot_guide_runs_as_written(model_cache: Path, tmp_path: Path) -> None:
    ran = run_steps(ROOT / "docs" / "pilot.md", model_cache, tmp_path)
    # The onboarding path: directory, four sources, a team policy, a governed answer, a
    # refusal, a hand-off and an evaluation report all came out of the guide's own commands.
    for needed in ("directory import", "ingest --config", "policy show --group", "ask --as",
                   "eval --questions", "keys create"):  # fmt: skip
        assert any(needed in c for c in ran), needed


def test_the_readme_example_runs_as_written(model_cache: Path, tmp_path: Path) -> None:
    assert run_steps(ROOT / "README.md", model_cache, tmp_path)


@pytest.mark.parametrize(
    ("expected", "output", "ok"),
    [
        ("answer (confidence …)", "answer (confidence 0.86)\nmore", True),
        ("…(pub-fees, chunk …)", "  [1] Fees (pub-fees, chunk 3)", True),
        ("…(pub-fees, chunk …)", "  [1] Fees (pub-other, chunk 3)", False),
        ("refuse (confidence 0.00)", "refuse (confidence 0.00)", True),
        ("refuse (confidence 0.00)", "abstain (confidence 0.00)", False),
    ],
)
def test_the_matcher_tells_a_changed_output_apart(expected: str, output: str, ok: bool) -> None:
    assert matches(expected, output) is ok


def test_no_doc_points_into_src_or_outside_the_repository() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for block in BLOCK.findall(text):
            assert "src/steward/" not in block, f"{doc.name}: an example points into src/"
        if doc.name != "benchmarks.md":  # the results page names the evaluation sets it ran on
            assert "../shared" not in text, f"{doc.name} points outside the repository"
