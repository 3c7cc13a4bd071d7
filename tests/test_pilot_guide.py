"""The docs run as written: every `$ command` in a console block of the pilot guide and of the
README, in order, against a fresh data home, as a new adopter would type them. A command that
fails, or whose output no longer shows what the docs say it shows, fails the test.

Expected output lines are matched loosely: `…` stands for any text, the fragments between must
appear in that order; a line without `…` must appear as a whole line."""

from __future__ import annotations

import json
import os
import re
import socket
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
    return run_steps_with_output(doc, model_cache, tmp_path)[0]


def run_steps_with_output(
    doc: Path, model_cache: Path, tmp_path: Path
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The commands run, their outputs by command, and the environment they left."""
    outputs: dict[str, str] = {}
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
        outputs[command] = output
        assert r.returncode == 0, f"{doc.name}: `{command}` exited {r.returncode}:\n{output}"
        for line in expected:
            assert matches(line, output), (
                f"{doc.name}: `{command}` no longer shows {line!r}:\n{output}"
            )
        ran.append(command)
    return ran, outputs, env


def test_the_pilot_guide_runs_as_written(model_cache: Path, tmp_path: Path) -> None:
    ran = run_steps(ROOT / "docs" / "pilot.md", model_cache, tmp_path)
    # The onboarding path: directory, four sources, a team policy, a governed answer, a
    # refusal, a hand-off and an evaluation report all came out of the guide's own commands.
    for needed in ("directory import", "ingest --config", "policy show --group", "ask --as",
                   "eval --questions", "keys create"):  # fmt: skip
        assert any(needed in c for c in ran), needed


def test_the_readme_example_runs_as_written_and_its_curl_answers(
    model_cache: Path, tmp_path: Path
) -> None:
    """The console steps, then the README's `steward serve` + curl snippet as written (its
    port moved to a free one), with the key the steps created."""
    ran, outputs, env = run_steps_with_output(ROOT / "README.md", model_cache, tmp_path)
    made = next(out for cmd, out in outputs.items() if cmd.startswith("steward keys create"))
    env["KEY"] = re.search(r"stw_[A-Za-z0-9_-]+", made).group()  # type: ignore[union-attr]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    curl = next(b for b in re.findall(r"```bash\n(.*?)```", readme, re.DOTALL) if "curl" in b)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["steward", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # printed once it listens
        assert "Steward is serving on" in line, line
        r = subprocess.run(
            ["bash", "-c", curl.replace("localhost:8000", f"127.0.0.1:{port}")],
            env=env, cwd=ROOT, text=True, capture_output=True, timeout=120,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    # What the README's comment under the snippet says it returns.
    assert body["action"] == "answer" and "international wires cost $40 each" in body["answer"]
    assert [c["doc_id"] for c in body["citations"]][:1] == ["pub-fees-2025"]
    assert ran


def test_the_quick_start_demo_runs_as_written(model_cache: Path, tmp_path: Path) -> None:
    """The README's first command, with DEMO_SERVE=0 (as docs say) so it stops after the
    sample answers instead of serving."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/demo" in readme.split("## ")[1], "the quick start no longer runs the demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(
        STEWARD_HOME=str(tmp_path / "demo-home"),
        STEWARD_MODEL_CACHE=str(model_cache),
        DEMO_SERVE="0",
    )
    r = subprocess.run(
        ["bash", "-c", "./scripts/demo"], env=env, cwd=ROOT, text=True, capture_output=True,
        timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    # Each governed outcome shows: answers with their sources, a hand-off, a refusal, a key.
    for shown in ("answer (", "escalate (", "refuse (", "abstain (", "API key for cust-lena"):
        assert shown in r.stdout, shown
    assert "(faq:faq-005)" in r.stdout  # a citation names its source


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
