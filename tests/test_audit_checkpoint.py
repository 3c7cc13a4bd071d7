"""Audit checkpoints: a signed chain head outside the database catches what the chain cannot,
deleted newest rows and rollback; a forged or edited checkpoint fails its signature."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
from sqlalchemy import text

from steward import audit
from steward.audit import checkpoint
from steward.identity.auth import create_key, principal_for
from steward.pipeline.orchestrator import ask
from steward.runtime import Runtime
from steward.web.app import create_app
from tests.conftest import run_cli


def _fill(rt: Runtime, n: int) -> list[str]:
    cara = principal_for(rt.store, "cara")
    return [ask(rt, cara, f"How much is the monthly fee? ({i})").audit_id for i in range(n)]


def _sink(rt: Runtime) -> Path:
    return checkpoint.sink_file(rt.settings)


def test_deleting_the_newest_rows_fails_verify_naming_the_gap(
    kb_rt: Runtime, model_cache: Path
) -> None:
    _fill(kb_rt, 6)
    home = kb_rt.settings.home
    made = run_cli("audit", "checkpoint", "--json", home=home, model_cache=model_cache)
    assert made.returncode == 0, made.stderr
    cp = json.loads(made.stdout)
    assert cp["seq"] == 6 and cp["rows"] == 6
    key = checkpoint.key_file(kb_rt.settings)
    assert key.stat().st_mode & 0o777 == 0o600
    with kb_rt.store.raw() as conn:
        conn.execute(text("DELETE FROM audit WHERE seq > 4"))
    # The chain alone cannot tell: what is left is still a valid chain.
    assert run_cli("audit", "verify", home=home, model_cache=model_cache).returncode == 0
    r = run_cli(
        "audit", "verify", "--checkpoint", str(_sink(kb_rt)), home=home, model_cache=model_cache
    )
    assert r.returncode == 1
    assert f"checkpoint at seq 6 ({cp['ts']}); the trail ends at seq 4: 2 rows missing" in r.stderr


def test_rollback_to_another_history_is_detected(kb_rt: Runtime) -> None:
    _fill(kb_rt, 3)
    cp = checkpoint.write(kb_rt.store, kb_rt.settings)
    public = checkpoint.public_key(kb_rt.settings)
    assert checkpoint.check(kb_rt.store, cp, public).ok
    # Roll back the newest row, then let the trail grow again past the checkpoint.
    with kb_rt.store.raw() as conn:
        conn.execute(text("DELETE FROM audit WHERE seq = 3"))
    _fill(kb_rt, 2)
    assert audit.verify(kb_rt.store).ok
    result = checkpoint.check(kb_rt.store, cp, public)
    assert not result.ok and "rolled back or rewritten" in (result.problem or "")
    assert result.problem is not None and result.problem.startswith("checkpoint at seq 3 (")


def test_forged_or_edited_checkpoint_fails_its_signature(
    kb_rt: Runtime, tmp_path: Path, model_cache: Path
) -> None:
    _fill(kb_rt, 2)
    cp = checkpoint.write(kb_rt.store, kb_rt.settings)
    public = checkpoint.public_key(kb_rt.settings)
    line = json.loads(_sink(kb_rt).read_text().splitlines()[-1])
    edited = tmp_path / "edited.jsonl"
    edited.write_text(json.dumps({**line, "seq": 1}) + "\n")
    (forged_cp,) = checkpoint.read_file(edited)
    result = checkpoint.check(kb_rt.store, forged_cp, public)
    assert not result.ok and "signature does not verify" in (result.problem or "")
    # A checkpoint signed by a key of one's own is not one of ours either.
    other = checkpoint.sign(kb_rt.store, checkpoint.load_or_create_key(tmp_path / "other.key"))
    assert "another key" in (checkpoint.check(kb_rt.store, other, public).problem or "")
    assert checkpoint.check(kb_rt.store, cp, public).ok
    home = kb_rt.settings.home
    r = run_cli("audit", "verify", "--checkpoint", str(edited), home=home, model_cache=model_cache)
    assert r.returncode == 1 and "signature does not verify" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    r = run_cli("audit", "verify", "--checkpoint", str(bad), home=home, model_cache=model_cache)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "line 1 is not an audit checkpoint" in r.stderr


def test_every_checkpoint_is_checked_with_all(kb_rt: Runtime) -> None:
    _fill(kb_rt, 2)
    first = checkpoint.write(kb_rt.store, kb_rt.settings)
    _fill(kb_rt, 2)
    checkpoint.write(kb_rt.store, kb_rt.settings)
    found = checkpoint.read_file(_sink(kb_rt))
    assert [c.seq for c in found] == [first.seq, first.seq + 2]
    # A checkpoint is not an audit row: writing one does not move the head.
    assert audit.count(kb_rt.store) == found[-1].seq
    public = checkpoint.public_key(kb_rt.settings)
    assert all(checkpoint.check(kb_rt.store, c, public).ok for c in found)


def test_checkpoint_also_goes_to_syslog(kb_rt: Runtime, make_runtime) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    rt = make_runtime(kb_rt.settings.home, audit_checkpoint_syslog=f"127.0.0.1:{port}")
    cp = checkpoint.write(rt.store, rt.settings)
    message = sock.recv(65536).decode()
    sock.close()
    assert "steward-audit-checkpoint" in message and cp.sig in message


def test_server_writes_checkpoints_and_operators_can_ask_for_one(
    kb_rt: Runtime, make_runtime
) -> None:
    _fill(kb_rt, 1)
    rt = make_runtime(kb_rt.settings.home, audit_checkpoint_interval_s=3600)
    app = create_app(rt)

    async def serve_briefly() -> None:
        async with app.router.lifespan_context(app):
            pass  # one at start, one at stop

    asyncio.run(serve_briefly())
    assert [c.seq for c in checkpoint.read_file(_sink(rt))] == [1, 1]
    keys = {u: create_key(rt.store, u) for u in ("ops", "cara")}

    async def post(user: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(
                "/v1/audit/checkpoint", headers={"Authorization": f"Bearer {keys[user]}"}
            )

    assert asyncio.run(post("cara")).status_code == 403
    made = asyncio.run(post("ops"))
    assert made.status_code == 200 and made.json()["seq"] == audit.count(rt.store)
    assert len(checkpoint.read_file(_sink(rt))) == 3
