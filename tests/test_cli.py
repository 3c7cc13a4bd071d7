"""The command line, as a real process: JSON for scripts, one-line errors with exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli
from tests.kb import write_kb


def test_directory_import_and_ingest_from_scratch(tmp_path: Path, model_cache: Path) -> None:
    sources = write_kb(tmp_path / "kb")
    home = tmp_path / "home"
    r = run_cli(
        "directory",
        "import",
        str(tmp_path / "kb" / "directory.yaml"),
        "--json",
        home=home,
        model_cache=model_cache,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"centers": 2, "groups": 3, "users": 7}
    r = run_cli("ingest", "--config", str(sources), "--json", home=home, model_cache=model_cache)
    assert r.returncode == 0, r.stderr
    reports = {x["source_id"]: x for x in json.loads(r.stdout)}
    assert reports["docs"]["added"] == 5
    assert reports["tickets"]["added"] == 2
    again = run_cli("ingest", "--json", home=home, model_cache=model_cache)
    assert again.returncode == 0
    assert sum(x["unchanged"] for x in json.loads(again.stdout)) == 9
    bulk = run_cli("ingest", "--bulk", "--json", home=home, model_cache=model_cache)
    assert bulk.returncode == 0, bulk.stderr
    assert sum(x["unchanged"] for x in json.loads(bulk.stdout)) == 9


def test_ask_as_user_json_and_audit_show(kb_home: Path, tmp_path: Path, model_cache: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    r = run_cli(
        "ask",
        "--as",
        "cara",
        "How much is the monthly maintenance fee?",
        "--json",
        home=home,
        model_cache=model_cache,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["action"] == "answer"
    assert "$12" in out["answer"]
    shown = run_cli("audit", "show", out["audit_id"], "--json", home=home, model_cache=model_cache)
    assert shown.returncode == 0
    row = json.loads(shown.stdout)
    assert row["user_id"] == "cara"
    assert row["action"] == "answer"
    assert row["citations"][0]["doc_id"] == "pub-fees"
    verify = run_cli("audit", "verify", home=home, model_cache=model_cache)
    assert verify.returncode == 0
    assert "intact" in verify.stdout


def test_batch_keeps_order_and_survives_bad_lines(
    kb_home: Path, tmp_path: Path, model_cache: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        json.dumps({"id": "a", "user": "cara", "question": "How much is the monthly fee?"})
        + "\n"
        + '{"id": "b", "user": "cara", "question": \n'
        + json.dumps({"id": "c", "user": "mallory", "question": "Hi?"})
        + "\n"
        + json.dumps({"id": "d", "user": "cara", "question": ""})
        + "\n"
        + json.dumps({"id": "e", "user": "fin", "question": "What is the marketing budget?"})
        + "\n"
        # Which question was meant? (the second outside look of the eleventh session)
        + '{"id": "f", "user": "cara", "question": "Hi?", "question": "The fee?"}\n'
    )
    r = run_cli("ask", "--batch", str(batch), "--json", home=home, model_cache=model_cache)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", None, "c", "d", "e", "f"]
    assert lines[0]["action"] == "answer"
    assert lines[0]["citations"][0]["doc_id"] == "pub-fees"
    assert set(lines[0]) == {
        "id",
        "action",
        "answer",
        "citations",
        "confidence",
        "escalation_reason",
        "reason",
        "audit_id",
        "latency_ms",
    }
    assert set(lines[0]["citations"][0]) >= {"doc_id", "chunk_id", "title"}
    assert lines[1]["error"]["code"] == "bad_request"
    assert "line 2" in lines[1]["error"]["message"]
    assert lines[2]["error"]["code"] == "not_found"
    assert "mallory" in lines[2]["error"]["message"]
    assert lines[3]["error"]["code"] == "invalid_question"
    assert lines[4]["action"] == "answer"
    assert "$7.3 million" in lines[4]["answer"]
    assert "line 6: the key 'question' is written twice" in lines[5]["error"]["message"]
    assert r.returncode == 2
    assert r.stderr.strip() == "error: 4 batch line(s) failed; see their `error` objects."


def test_bad_input_is_one_line_on_stderr_with_status_2(tmp_path: Path, model_cache: Path) -> None:
    home = tmp_path / "home"
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"id": "q1", "question": "caf\xe9"}\n')
    line = (
        '{"id": "q1", "user": "u", "question": "fee?", "kind": "answerable", '
        '"expected_action": "answer"'
    )
    misspelt = tmp_path / "misspelt.jsonl"  # a misspelt key would switch a leak check off
    misspelt.write_text(line + ', "must_not_contian": ["secret"]}\n')
    twice = tmp_path / "twice.jsonl"
    twice.write_text(line + ', "id": "q2"}\n')
    ghost = tmp_path / "ghost.jsonl"  # an asker nobody knows, named before the models load
    ghost.write_text(line + "}\n")
    cases = [
        (["ask", "--as", "ghost", "hello?"], "Unknown user 'ghost'"),
        # The outside review of the eleventh session: files that are not UTF-8, unknown and
        # repeated keys in a question file, a missing folder, a user nobody knows.
        (["eval", "--questions", str(latin1)], "latin1.jsonl: not UTF-8 text"),
        (["ask", "--batch", str(latin1)], "latin1.jsonl: not UTF-8 text"),
        (["eval", "--questions", str(misspelt)], "misspelt.jsonl:1: must_not_contian: Extra"),
        (["eval", "--questions", str(twice)], "twice.jsonl:1: the key 'id' is written twice"),
        (["eval", "--questions", str(ghost)], "ghost.jsonl: question 'q1': Unknown user 'u'"),
        (["tickets", "corrections", str(tmp_path / "no" / "x.jsonl")], "No such file"),
        (["keys", "list", "--user", "nobody-here"], "Unknown user 'nobody-here'"),
        (["directory", "import", str(tmp_path / "missing.yaml")], "Cannot read directory file"),
        (["audit", "show", "01NOPE"], "No audit record"),
        (["ask", "--batch", str(tmp_path / "none.jsonl")], "Cannot read batch file"),
        (["ingest"], "No sources registered"),
        (["ask", "--frobnicate"], "No such option"),
    ]
    for args, expected in cases:
        r = run_cli(*args, home=home, model_cache=model_cache)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (args, r.stderr)
        assert expected in lines[0], (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_python_dash_m_steward_shows_help(tmp_path: Path, model_cache: Path) -> None:
    r = run_cli("--help", home=tmp_path / "h", model_cache=model_cache)
    assert r.returncode == 0
    for command in ("ask", "ingest", "directory", "keys", "audit", "eval", "serve", "demo"):
        assert command in r.stdout
