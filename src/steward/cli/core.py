"""Core commands: directory, keys, ingestion, sync runs, asking, search, eval, serve, demo."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _acting, _print_json, _progress, _runtime, err, fail, out
from steward.core.errors import InputError, StewardError
from steward.identity.authz import Permission
from steward.observability.context import request_context

# steward/cli/__init__.py adds these groups to the root app and registers this module's
# top-level commands there, in the order `steward --help` lists them.
directory_app = typer.Typer(no_args_is_help=True, help="Users, groups and centers.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys (stored only as hashes).")


# ------------------------------------------------------------------ directory and keys


@directory_app.command("import")
def directory_import(file: Path, as_json: JsonOpt = False) -> None:
    """Import users, groups and centers from a YAML directory file."""
    from steward.identity.directory import import_directory

    rt = _runtime()
    who = _acting(rt, Permission.MANAGE_DIRECTORY, "directory")
    report = import_directory(rt.store, file, actor=who.user_id)
    if as_json:
        # The three counts scripts already read; the lifecycle counts are in the audit event.
        _print_json({k: getattr(report, k) for k in ("centers", "groups", "users")})
    else:
        out.print(
            f"Imported {report.users} users, {report.groups} groups, {report.centers} centers: "
            f"{report.added} added, {report.updated} updated, {report.deactivated} deactivated."
        )


@directory_app.command("deactivate")
def directory_deactivate(user: str, as_json: JsonOpt = False) -> None:
    """Deactivate USER (a leaver): their API keys and tokens are refused from the next request."""
    from steward.identity.directory import deactivate_user

    rt = _runtime()
    who = _acting(rt, Permission.MANAGE_DIRECTORY, f"user:{user}")
    deactivate_user(rt.store, user, actor=who.user_id, channel="cli")
    if as_json:
        _print_json({"user": user, "active": False})
    else:
        out.print(f"Deactivated {user}: their keys and tokens no longer work.", markup=False)


@directory_app.command("list")
def directory_list(as_json: JsonOpt = False) -> None:
    """List users with their groups, center and access."""
    from steward.identity.directory import list_users

    users = list_users(_runtime().store)
    rows = [
        {
            "id": u.id,
            "name": u.display_name,
            "groups": sorted(g.id for g in u.groups),
            "center": u.center_id,
            "access": u.access,
            "active": u.active,
        }
        for u in users
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("user", "name", "groups", "center", "access", "active")
    for u in users:
        groups = ", ".join(sorted(g.id for g in u.groups))
        active = "yes" if u.active else "no"
        table.add_row(u.id, u.display_name, groups, u.center_id or "—", u.access, active)
    out.print(table)


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Directory user id.")],
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="30d, 12h, 8w, or a date (2027-01-31: through that day)."),
    ] = None,
) -> None:
    """Create an API key for USER and print it once (only its hash is stored)."""
    from steward.identity.auth import create_key, expiry_from

    rt = _runtime()
    expires_at = expiry_from(expires) if expires else None
    who = _acting(rt, Permission.MANAGE_KEYS, f"user:{user}")
    out.print(create_key(rt.store, user, expires_at, actor=who.user_id), markup=False)


def _when(ts: Any) -> str | None:
    return ts.isoformat() if ts is not None else None


@keys_app.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option("--user")] = None, as_json: JsonOpt = False
) -> None:
    """List API keys: id, prefix, user, created, expires, last used (to the minute), revoked."""
    from steward.identity.auth import list_keys

    rows = [
        {
            "id": k.id,
            "user": k.user_id,
            "prefix": k.prefix,
            "created_at": _when(k.created_at),
            "expires_at": _when(k.expires_at),
            "last_used_at": _when(k.last_used_at),
            "revoked_at": _when(k.revoked_at),
        }
        for k in list_keys(_runtime().store, user)
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "user", "prefix", "created", "expires", "last used", "revoked")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["user"]),
            f"{r['prefix']}…",
            *(str(r[k] or "")[:19] for k in ("created_at", "expires_at", "last_used_at")),
            str(r["revoked_at"] or "")[:19],
        )
    out.print(table)


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace_hours: Annotated[
        float, typer.Option("--grace-hours", min=0, help="How long the old key keeps working.")
    ] = 0.0,
) -> None:
    """Issue a new key for the same user and retire the old one (after a grace period)."""
    from datetime import timedelta

    from steward.identity.auth import rotate_key

    rt = _runtime()
    who = _acting(rt, Permission.MANAGE_KEYS, f"key:{key_id}")
    grace = timedelta(hours=grace_hours)
    out.print(rotate_key(rt.store, key_id, grace, actor=who.user_id), markup=False)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by id; it stops working at once."""
    from steward.identity.auth import revoke_key

    rt = _runtime()
    who = _acting(rt, Permission.MANAGE_KEYS, f"key:{key_id}")
    revoke_key(rt.store, key_id, actor=who.user_id)
    out.print(f"Revoked {key_id}.")


# ------------------------------------------------------------------ ingestion


def ingest(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Source config YAML; registers its sources, then syncs them."
        ),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Sync only these ids.")
    ] = None,
    bulk: Annotated[
        bool,
        typer.Option(
            "--bulk",
            help="A large first load: the engine builds its search indexes once at the end "
            "(PostgreSQL; the embedded engine needs nothing).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sync sources incrementally: unchanged items cost nothing, removed ones disappear."""
    from steward.knowledge.pipeline import sync
    from steward.knowledge.sources import SourceSpec, load_sources
    from steward.store.models import Source

    rt = _runtime()
    if config is not None:
        specs = load_sources(config)
    else:
        with rt.store.read() as s:
            specs = [SourceSpec.model_validate(x.config) for x in s.query(Source).all()]
        if not specs:
            fail("No sources registered — run `steward ingest --config sources.yaml` first.")
    if source:
        specs = [s for s in specs if s.id in source]
    with _progress() as bar, rt.index.bulk() if bulk else contextlib.nullcontext():
        task = bar.add_task("syncing", total=None)
        reports = sync(
            rt, specs, lambda n, ref: bar.update(task, advance=n, description=f"syncing {ref[:40]}")
        )
    if as_json:
        _print_json([r.as_dict() for r in reports])
    else:
        table = Table(
            "source",
            "status",
            "seen",
            "added",
            "changed",
            "unchanged",
            "removed",
            "failed",
            "quarantined",
            "ms",
        )
        for r in reports:
            table.add_row(
                r.source_id,
                r.status,
                *(
                    str(x)
                    for x in (
                        r.seen,
                        r.added,
                        r.changed,
                        r.unchanged,
                        r.removed,
                        r.failed,
                        r.quarantined,
                        int(r.duration_ms),
                    )
                ),
            )
        out.print(table)
        for r in reports:
            for e in r.errors[:20]:
                where = r.source_id if e["ref"] == r.source_id else f"{r.source_id}: {e['ref']}"
                err.print(f"{where}: {e['message']}", markup=False)
    # Bad input anywhere is exit 2: a whole source that could not be read ("failed") or items
    # that could not ("partial": the rest synced, each bad item kept its last good version).
    if any(r.status in ("failed", "partial") for r in reports):
        raise typer.Exit(2)


def runs(limit: int = 20, as_json: JsonOpt = False) -> None:
    """Recent sync runs: what each saw, changed and failed, and how long it took."""
    from sqlalchemy import select

    from steward.store.models import SyncRun

    rt = _runtime()
    with rt.store.read() as s:
        rows = list(s.scalars(select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)))
    data = [
        {
            k: getattr(r, k)
            for k in (
                "id",
                "source_id",
                "status",
                "started_at",
                "seen",
                "added",
                "changed",
                "unchanged",
                "removed",
                "failed",
                "quarantined",
                "duration_ms",
            )
        }
        for r in rows
    ]
    if as_json:
        _print_json(data)
        return
    table = Table(*data[0].keys()) if data else Table("no sync runs yet")
    for d in data:
        table.add_row(*(str(v) for v in d.values()))
    out.print(table)


# ------------------------------------------------------------------ asking


def _one_batch_line(rt: Any, line: str, n: int) -> dict[str, Any]:
    from steward.core.strictjson import RepeatedKeyError, each_key_once
    from steward.identity.auth import principal_for
    from steward.pipeline.orchestrator import ask as run_ask

    try:
        row = json.loads(line, object_pairs_hook=each_key_once)
    except RepeatedKeyError as exc:  # which "question" was meant?
        raise InputError(f"line {n}: the key {exc.key[:40]!r} is written twice") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"line {n}: malformed JSON at column {exc.colno}") from exc
    if not isinstance(row, dict) or "user" not in row or "question" not in row:
        raise InputError(f"line {n}: expected an object with `id`, `user` and `question`")
    principal = principal_for(rt.store, str(row["user"]))
    r = run_ask(rt, principal, row["question"], channel="batch")
    return {"id": row.get("id"), **r.as_dict()}


def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Ask as this directory user.")] = None,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch", help="JSONL of {id, user, question}; one JSON line out per line in."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask as a directory user (operators on this machine), or run a batch file."""
    from steward.identity.auth import principal_for
    from steward.pipeline.orchestrator import ask as run_ask

    rt = _runtime()
    if batch is not None:
        try:
            lines = batch.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            fail(f"Cannot read batch file {batch}: {exc.strerror}")
        except UnicodeDecodeError as exc:
            fail(f"{batch}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8.")
        failed = 0
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                with request_context(channel="batch"):  # one request id per line, in logs and audit
                    _print_json(_one_batch_line(rt, line, n))
            except StewardError as exc:
                failed += 1
                ident = None
                with contextlib.suppress(json.JSONDecodeError, AttributeError):
                    ident = json.loads(line).get("id")
                _print_json(
                    {
                        "id": ident,
                        "action": None,
                        "error": {"code": exc.code, "message": exc.message},
                    }
                )
            sys.stdout.flush()
        if failed:
            fail(f"{failed} batch line(s) failed; see their `error` objects.")
        return
    if not question or not as_user:
        fail('Give a question and --as USER (or --batch FILE), e.g. steward ask --as ana "..."')
    with request_context(channel="cli"):
        r = run_ask(rt, principal_for(rt.store, as_user), question, channel="cli")
    if as_json:
        _print_json(r.as_dict())
        return
    why = f", reason: {r.escalation_reason}" if r.escalation_reason else ""
    out.print(f"[bold]{r.action}[/bold] (confidence {r.confidence:.2f}{why})")
    out.print(r.answer, markup=False)
    for i, c in enumerate(r.citations, 1):
        out.print(f"  [{i}] {c.title} ({c.doc_id}, chunk {c.chunk_id})", markup=False)
    out.print(f"[dim]audit {r.audit_id} · {r.latency_ms:.0f} ms[/dim]")


def search(
    query: Annotated[str | None, typer.Argument(help="The query.")] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Search as this user.")] = None,
    k: Annotated[int, typer.Option(min=1, max=100)] = 10,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch", help='JSONL of {"id","user","query","k"}; one JSON line out per line in.'
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(help="Rankers: hybrid (what answering uses), lexical or dense."),
    ] = "hybrid",
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank",
            help="Rerank the fused candidates (default: STEWARD_RERANKER; --rerank with "
            "none configured uses `sentences`).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Permitted passages for a query, best first (what answering would see)."""
    from steward.identity.auth import principal_for
    from steward.retrieval.service import search as run_search

    rt = _runtime()
    if batch is None:
        if not query or not as_user:
            fail('Give a query and --as USER (or --batch FILE), e.g. steward search --as ana "fee"')
        hits = run_search(rt, principal_for(rt.store, as_user), query, k, mode, rerank)
        if as_json:
            _print_json({"hits": [h.as_dict() for h in hits]})
            return
        for h in hits:
            out.print(f"{h.score:.4f}  {h.doc_id}  {h.heading}", markup=False)
        return
    try:
        lines = batch.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"Cannot read batch file {batch}: {exc.strerror}")
    failed = 0
    who_cache: dict[str, Any] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        ident = None
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "user" not in row or "query" not in row:
                raise InputError(f"line {n}: expected an object with `id`, `user` and `query`")
            ident = row.get("id")
            user = str(row["user"])
            who = who_cache.get(user) or principal_for(rt.store, user)
            who_cache[user] = who
            hits = run_search(rt, who, row["query"], int(row.get("k", k)), mode, rerank)
            _print_json({"id": ident, "hits": [h.as_dict(with_text=False) for h in hits]})
        except (StewardError, json.JSONDecodeError, ValueError, TypeError) as exc:
            failed += 1
            code = exc.code if isinstance(exc, StewardError) else "bad_request"
            msg = exc.message if isinstance(exc, StewardError) else f"line {n}: {exc}"
            _print_json({"id": ident, "hits": None, "error": {"code": code, "message": msg}})
    if failed:
        fail(f"{failed} batch line(s) failed; see their `error` objects.")


# ------------------------------------------------------------------ evaluation, serving, demo


def eval_cmd(
    questions: Annotated[Path, typer.Option("--questions", "-q", help="Question JSONL file.")],
    as_json: JsonOpt = False,
    details: Annotated[
        Path | None, typer.Option("--details", help="Write one JSON line per question here.")
    ] = None,
) -> None:
    """Score a question file (the format is in docs/operations.md) and print the figures."""
    from steward.evals.runner import load_questions, run_eval
    from steward.identity.directory import get_user

    rt = _runtime()
    qs = load_questions(questions)
    # Every asker known before the models load (a few seconds): named with its question.
    for user, first in {q.user: q.id for q in reversed(qs)}.items():
        try:
            get_user(rt.store, user)
        except StewardError as exc:
            fail(f"{questions}: question {first!r}: {exc.message}")
    rt.warm()
    with _progress() as bar:
        task = bar.add_task("evaluating", total=len(qs))
        summary, scored = run_eval(rt, qs, lambda _s: bar.advance(task))
    if details is not None:
        details.write_text("".join(json.dumps(s.as_dict()) + "\n" for s in scored))
    if as_json:
        _print_json(summary)
        return
    table = Table("metric", "value")
    for k, v in summary.items():
        table.add_row(k, str(v))
    out.print(table)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (STEWARD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (STEWARD_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes; each builds its own runtime from the same settings "
            "(the store, rate limits and answer cache are shared through the database).",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API and the chat page; prints one line when it listens."""
    import uvicorn

    from steward.web import metrics as web_metrics
    from steward.web.app import create_app

    rt = _runtime()
    rt.warm()
    bind_host = host or rt.settings.http.host
    bind_port = port or rt.settings.http.port
    line = startup_line(rt, bind_host, bind_port, workers)
    options: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "log_level": "warning",
        **proxy_options(os.environ),
    }
    if workers > 1:
        # Each worker counts into its own files here; any worker's scrape adds them up.
        web_metrics.prepare_multiprocess(rt.settings.home)
    if rt.settings.telemetry.metrics_bind:
        # The store's engine outlives rt.close(): it opens connections again when scraped.
        public = web_metrics.serve_unauthenticated(rt.settings.telemetry.metrics_bind, rt.store)
        out.print(f"Metrics (no authentication) on {web_metrics.url_of(public)}")
    if workers > 1:
        rt.close()
        out.print(line)  # the workers start next; each is ready once it has warmed up
        config = uvicorn.Config(
            "steward.web.app:app_from_environment", factory=True, workers=workers, **options
        )
        _serve_workers(config)
        return

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:  # listening: say so, once
                out.print(line)

    Server(uvicorn.Config(create_app(rt), **options)).run()


def _serve_workers(config: Any) -> None:
    """``uvicorn.run(..., workers=N)``, but the parent listens on the socket before the workers
    start: uvicorn's parent only binds it, and the first worker listens once its start-up is
    done, so a client connecting between "Worker ... is ready" and then was refused. Listening
    here, connections wait in the backlog until a worker takes them."""
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.listen(config.backlog)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def startup_line(rt: Any, host: str, port: int, workers: int) -> str:
    """What an operator needs to see when the server is up (no secrets: the store's URL is
    reduced to its engine)."""
    embedder = rt.embedder
    runtime = getattr(embedder, "runtime", None)
    quantize = getattr(embedder, "quantize", None)
    how = "/".join(str(x) for x in (runtime, quantize) if x and x != "none")
    return (
        f"Steward is serving on http://{host}:{port}/ (data home {rt.settings.home}, store "
        f"{rt.store.dialect}, embedder {embedder.model_id}{f' on {how}' if how else ''}, provider "
        f"{rt.answerer.provider.name}, {workers} worker{'s' if workers > 1 else ''})"
    )


def proxy_options(env: Mapping[str, str]) -> dict[str, Any]:
    """Trust X-Forwarded-For only from the proxies named in ``FORWARDED_ALLOW_IPS``. uvicorn's
    own default trusts 127.0.0.1, so any process on the host (or a TLS pass-through) could name
    itself a new client address and escape the failed-login throttle (outside review)."""
    trusted = env.get("FORWARDED_ALLOW_IPS", "").strip()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def demo(
    serve_after: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Start the server with the chat page afterwards."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Load the bundled demo organisation, ask sample questions, optionally serve the chat."""
    from steward import demo as demo_mod

    rt = _runtime()
    result = demo_mod.run(rt, out if not as_json else None)
    if as_json:
        _print_json(result)
    if serve_after:
        serve(None, None)
