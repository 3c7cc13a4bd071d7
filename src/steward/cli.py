"""The ``steward`` command line. Errors print one line on stderr and exit with status 2."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from steward.errors import InputError, StewardError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Steward: governed, cited, audited answers from your own knowledge.",
)
directory_app = typer.Typer(no_args_is_help=True, help="Users, groups and centers.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys (stored only as hashes).")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")
app.add_typer(directory_app, name="directory")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def _runtime() -> Any:
    from steward import logs
    from steward.runtime import Runtime

    rt = Runtime()
    logs.configure(rt.settings.log_level)
    return rt


def _local_admin() -> Any:
    """Whoever runs the CLI on the data home already controls it: they act as a local admin,
    recorded in the audit trail under their operating-system user name."""
    import getpass

    from steward.identity import Principal

    return Principal(
        f"cli:{getpass.getuser()}", "local operator", frozenset(), None, "admin", False, "cli"
    )


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


# ------------------------------------------------------------------ directory and keys


@directory_app.command("import")
def directory_import(file: Path, as_json: JsonOpt = False) -> None:
    """Import users, groups and centers from a YAML directory file."""
    from steward.directory import import_directory

    rt = _runtime()
    report = import_directory(rt.store, file)
    if as_json:
        _print_json(report.__dict__)
    else:
        out.print(
            f"Imported {report.users} users, {report.groups} groups, {report.centers} centers."
        )


@directory_app.command("list")
def directory_list(as_json: JsonOpt = False) -> None:
    """List users with their groups, center and access."""
    from steward.directory import list_users

    users = list_users(_runtime().store)
    rows = [
        {
            "id": u.id,
            "name": u.display_name,
            "groups": sorted(g.id for g in u.groups),
            "center": u.center_id,
            "access": u.access,
        }
        for u in users
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("user", "name", "groups", "center", "access")
    for u in users:
        groups = ", ".join(sorted(g.id for g in u.groups))
        table.add_row(u.id, u.display_name, groups, u.center_id or "—", u.access)
    out.print(table)


@keys_app.command("create")
def keys_create(user: Annotated[str, typer.Option("--user", help="Directory user id.")]) -> None:
    """Create an API key for USER and print it once (only its hash is stored)."""
    from steward.identity import create_key

    out.print(create_key(_runtime().store, user), markup=False)


@keys_app.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option("--user")] = None, as_json: JsonOpt = False
) -> None:
    """List API keys (ids and prefixes, never the secret)."""
    from steward.identity import list_keys

    rows = [
        {
            "id": k.id,
            "user": k.user_id,
            "prefix": k.prefix,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in list_keys(_runtime().store, user)
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "user", "prefix", "created", "revoked")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["user"]),
            f"{r['prefix']}…",
            str(r["created_at"])[:19],
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

    from steward.identity import rotate_key

    out.print(rotate_key(_runtime().store, key_id, timedelta(hours=grace_hours)), markup=False)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by id; it stops working at once."""
    from steward.identity import revoke_key

    revoke_key(_runtime().store, key_id)
    out.print(f"Revoked {key_id}.")


# ------------------------------------------------------------------ ingestion


@app.command()
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
    as_json: JsonOpt = False,
) -> None:
    """Sync sources incrementally: unchanged items cost nothing, removed ones disappear."""
    from steward.ingest.pipeline import sync
    from steward.ingest.sources import SourceSpec, load_sources
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
    with _progress() as bar:
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
                err.print(f"{r.source_id}: {e['ref']}: {e['message']}", markup=False)
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(2)


@app.command()
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
        table.add_row(*(str(v)[:26] for v in d.values()))
    out.print(table)


# ------------------------------------------------------------------ asking


def _one_batch_line(rt: Any, line: str, n: int) -> dict[str, Any]:
    from steward.identity import principal_for
    from steward.orchestrator import ask as run_ask

    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"line {n}: malformed JSON at column {exc.colno}") from exc
    if not isinstance(row, dict) or "user" not in row or "question" not in row:
        raise InputError(f"line {n}: expected an object with `id`, `user` and `question`")
    principal = principal_for(rt.store, str(row["user"]))
    r = run_ask(rt, principal, row["question"], channel="batch")
    return {"id": row.get("id"), **r.as_dict()}


@app.command()
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
    from steward.identity import principal_for
    from steward.orchestrator import ask as run_ask

    rt = _runtime()
    if batch is not None:
        try:
            lines = batch.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            fail(f"Cannot read batch file {batch}: {exc.strerror}")
        failed = 0
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
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
    r = run_ask(rt, principal_for(rt.store, as_user), question, channel="cli")
    if as_json:
        _print_json(r.as_dict())
        return
    out.print(f"[bold]{r.action}[/bold] (confidence {r.confidence:.2f})")
    out.print(r.answer, markup=False)
    for i, c in enumerate(r.citations, 1):
        out.print(f"  [{i}] {c.title} ({c.doc_id}, chunk {c.chunk_id})", markup=False)
    out.print(f"[dim]audit {r.audit_id} · {r.latency_ms:.0f} ms[/dim]")


# ------------------------------------------------------------------ audit


@audit_app.command("show")
def audit_show(audit_id: str, as_json: JsonOpt = False) -> None:
    """Print one audit record: who asked what, what was decided and why, from which sources."""
    from steward import audit

    row = audit.as_dict(audit.get(_runtime().store, audit_id))
    if as_json:
        _print_json(row)
        return
    for key, value in row.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
        out.print(f"[bold]{key:>18}[/bold]  {shown}", markup=True, highlight=False)


@audit_app.command("sources")
def audit_sources(audit_id: str, as_json: JsonOpt = False) -> None:
    """Which data sources produced this answer, and whether they changed since."""
    from steward import audit

    rows = audit.sources(_runtime().store, audit_id)
    if as_json:
        _print_json(rows)
        return
    table = Table("doc", "source", "cited version", "now", "status")
    for r in rows:
        table.add_row(
            r["doc_id"],
            str(r["source_id"]),
            str(r["cited_version"]),
            str(r["current_version"]),
            r["status"],
        )
    out.print(table)


def _when(value: str | None, flag: str) -> Any:
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{flag} must be an ISO date or time, e.g. 2025-01-31 or 2025-01-31T12:00:00Z")
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@audit_app.command("export")
def audit_export(
    dest: Annotated[Path, typer.Argument(help="JSON Lines file to write.")],
    since: Annotated[str | None, typer.Option(help="From this date/time (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date/time (ISO).")] = None,
) -> None:
    """Export audit rows (masked, as stored) to a JSON Lines file."""
    from steward import audit

    rows = audit.export(_runtime().store, _when(since, "--since"), _when(until, "--until"))
    n = 0
    with dest.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    out.print(f"Wrote {n} audit rows to {dest}.")


@audit_app.command("prune")
def audit_prune(
    before: Annotated[str, typer.Option(help="Delete rows older than this date/time (ISO).")],
) -> None:
    """Retention: delete old audit rows; the chain stays verifiable from the newest kept row."""
    from steward import audit

    n = audit.prune(_runtime().store, _when(before, "--before"))
    out.print(f"Deleted {n} audit rows older than {before}.")


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Check the hash chain; names the first edited, deleted or reordered row."""
    from steward import audit

    rep = audit.verify(_runtime().store)
    if as_json:
        _print_json(rep.__dict__)
    elif rep.ok:
        out.print(f"Audit chain intact: {rep.rows} rows.")
    if not rep.ok:
        fail(f"audit chain broken at seq {rep.seq} (id {rep.audit_id}): {rep.problem}", 1)


# ------------------------------------------------------------------ privacy and safety

quarantine_app = typer.Typer(no_args_is_help=True, help="Instruction-like text held back.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(as_json: JsonOpt = False) -> None:
    """Chunks held back from retrieval because they read like instructions to an AI."""
    from steward.quarantine import held

    rows = [h.__dict__ for h in held(_runtime())]
    if as_json:
        _print_json(rows)
        return
    table = Table("chunk", "doc", "source", "reason", "text")
    for r in rows:
        table.add_row(str(r["chunk_id"]), r["doc_id"], r["source_id"], r["reason"], r["text"][:80])
    out.print(table)


@quarantine_app.command("release")
def quarantine_release(chunk_id: int) -> None:
    """Release a held chunk after review (audited)."""
    from steward.quarantine import release

    audit_id = release(_runtime(), chunk_id, _local_admin())
    out.print(f"Released chunk {chunk_id} (audit {audit_id}).")


@app.command()
def erase(
    subject: Annotated[
        str,
        typer.Option(
            "--subject", help="The subject's value: customer name, e-mail, phone, card number."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Erase a data subject from every copy Steward holds (records, chunks, vectors, vault)."""
    from steward.erasure import erase_subject

    rep = erase_subject(_runtime(), subject, _local_admin())
    if as_json:
        _print_json(rep.__dict__)
        return
    out.print(
        f"Erased: {rep.tokens} token(s), {rep.documents} record(s) removed, "
        f"{rep.chunks} chunk(s) redacted, {rep.vault_entries} vault entr(ies) deleted "
        f"(audit {rep.audit_id})."
    )


@app.command("export")
def export_cmd(
    dest: Annotated[Path, typer.Argument(help="A new, empty folder for the copy.")],
    masked: Annotated[bool, typer.Option("--masked", help="Required: the copy is masked.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a masked, non-production copy of the store for development or testing."""
    from steward.sandbox import export_masked

    if not masked:
        fail("Only masked exports exist: add --masked (personal values become consistent fakes).")
    rep = export_masked(_runtime(), dest)
    if as_json:
        _print_json({**rep.__dict__, "dest": str(rep.dest)})
        return
    out.print(
        f"Exported {rep.documents} documents and {rep.chunks} chunks to {rep.dest}; "
        f"{rep.tokens_replaced} masked values replaced by fakes. Use it with "
        f"STEWARD_HOME={rep.dest}."
    )


@app.command()
def reveal(
    token: str,
    as_user: Annotated[str | None, typer.Option("--as", help="Reveal as this user.")] = None,
) -> None:
    """Show the raw value behind a masking token (owner or allowed role; audited)."""
    from steward.identity import principal_for

    rt = _runtime()
    if rt.vault is None:
        fail("The vault is off: no raw values are kept (set STEWARD_VAULT_KEY_FILE).")
    who = principal_for(rt.store, as_user) if as_user else _local_admin()
    out.print(rt.vault.reveal(token, who, "cli").value, markup=False)


@app.command("vault-key")
def vault_key(dest: Path) -> None:
    """Create a new random vault key file (mode 0600); point STEWARD_VAULT_KEY_FILE at it."""
    from steward.vault import new_vault_key_file

    try:
        new_vault_key_file(dest)
    except FileExistsError:
        fail(f"{dest} exists; a vault key is never overwritten.")
    out.print(f"Wrote a new vault key to {dest}. Keep it out of database backups.")


@app.command()
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
    as_json: JsonOpt = False,
) -> None:
    """Permitted passages for a query, best first (what answering would see)."""
    from steward.identity import principal_for
    from steward.search import search as run_search

    rt = _runtime()
    if batch is None:
        if not query or not as_user:
            fail('Give a query and --as USER (or --batch FILE), e.g. steward search --as ana "fee"')
        hits = run_search(rt, principal_for(rt.store, as_user), query, k)
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
            hits = run_search(rt, who, row["query"], int(row.get("k", k)))
            _print_json({"id": ident, "hits": [h.as_dict(with_text=False) for h in hits]})
        except (StewardError, json.JSONDecodeError, ValueError, TypeError) as exc:
            failed += 1
            code = exc.code if isinstance(exc, StewardError) else "bad_request"
            msg = exc.message if isinstance(exc, StewardError) else f"line {n}: {exc}"
            _print_json({"id": ident, "hits": None, "error": {"code": code, "message": msg}})
    if failed:
        fail(f"{failed} batch line(s) failed; see their `error` objects.")


# ------------------------------------------------------------------ conversations and hand-off

intent_app = typer.Typer(no_args_is_help=True, help="The intent classifier you train.")
tickets_app = typer.Typer(no_args_is_help=True, help="The hand-off queue.")
cache_app = typer.Typer(no_args_is_help=True, help="The answer cache.")
policy_app = typer.Typer(no_args_is_help=True, help="Per-center policies.")
app.add_typer(intent_app, name="intent")
app.add_typer(tickets_app, name="tickets")
app.add_typer(cache_app, name="cache")
app.add_typer(policy_app, name="policy")


guard_app = typer.Typer(no_args_is_help=True, help="Prompt-injection detection.")
app.add_typer(guard_app, name="guard")


@guard_app.command("train-injection")
def guard_train_injection(
    file: Annotated[Path, typer.Argument(help="CSV with `text` and `label` (1 = injection).")],
    threshold: Annotated[
        float, typer.Option(min=0.05, max=0.99, help="Probability at which a sentence is flagged.")
    ] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Train the injection classifier from your labelled examples (rules always run too)."""
    from steward.guard.injection import INJECTION, train_injection_model
    from steward.intents import load_examples

    rt = _runtime()
    texts, labels = load_examples(file)
    model = train_injection_model(texts, labels, threshold)
    path = rt.settings.injection_model or rt.settings.home / "guard" / "injection"
    model.save(path)
    n_inj = sum(lab.lower() in ("1", "true", INJECTION) for lab in labels)
    summary = {
        "examples": len(texts),
        "injections": n_inj,
        "path": str(path),
        "threshold": threshold,
    }
    if as_json:
        _print_json(summary)
    else:
        out.print(f"Trained on {len(texts)} examples ({n_inj} injections); saved to {path}.")


@intent_app.command("train")
def intent_train(
    file: Annotated[Path, typer.Argument(help="CSV (text,label) or JSONL of examples.")],
    threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Confidence below which the intent is `unknown`."),
    ] = 0.35,
    as_json: JsonOpt = False,
) -> None:
    """Train the intent model from labelled examples (label `unknown`/`oos` = out of scope)."""
    from steward.intents import load_examples, train

    rt = _runtime()
    texts, labels = load_examples(file)
    with _progress() as bar:
        bar.add_task(f"training on {len(texts)} examples", total=None)
        model = train(texts, labels, rt.embedder, threshold=threshold)
    path = rt.settings.intent_model or rt.settings.home / "intents" / "model"
    model.save(path)
    summary = {
        "examples": len(texts),
        "labels": len(model.labels),
        "path": str(path),
        "temperature": round(model.model.temperature, 3),
        "threshold": threshold,
    }
    if as_json:
        _print_json(summary)
    else:
        out.print(f"Trained on {len(texts)} examples, {len(model.labels)} labels; saved to {path}.")


@intent_app.command("eval")
def intent_eval(
    test: Annotated[Path, typer.Option("--test", help="Labelled examples to score.")],
    as_json: JsonOpt = False,
) -> None:
    """Score the trained model: accuracy, macro-F1 and the number of examples."""
    from steward.intents import evaluate, load_examples

    rt = _runtime()
    if rt.intents is None:
        fail("No intent model yet — run `steward intent train FILE` first.")
    texts, labels = load_examples(test)
    result = evaluate(rt.intents, texts, labels, rt.embedder)
    if as_json:
        _print_json(result)
    else:
        out.print(
            f"accuracy {result['accuracy']:.4f} · macro-F1 {result['macro_f1']:.4f} · "
            f"n {result['n']}"
        )


def _reviewer(rt: Any, as_user: str | None) -> Any:
    from steward.identity import principal_for

    return principal_for(rt.store, as_user) if as_user else _local_admin()


AsUser = Annotated[str | None, typer.Option("--as", help="Act as this directory user.")]


@tickets_app.command("list")
def tickets_list(
    as_user: AsUser = None, status: str | None = None, as_json: JsonOpt = False
) -> None:
    """Tickets in the queue, most urgent first."""
    rt = _runtime()
    rows = [t.as_dict() for t in rt.handoff.queue(_reviewer(rt, as_user), status)]
    if as_json:
        _print_json(rows)
        return
    table = Table("ticket", "priority", "reason", "center", "status", "due", "overdue")
    for t in rows:
        table.add_row(
            t["id"],
            t["priority"],
            t["reason"],
            str(t["center"]),
            t["status"],
            t["due_at"][:19],
            "yes" if t["overdue"] else "",
        )
    out.print(table)


@tickets_app.command("claim")
def tickets_claim(ticket_id: str, as_user: AsUser = None) -> None:
    """Take a ticket."""
    rt = _runtime()
    t = rt.handoff.claim(_reviewer(rt, as_user), ticket_id)
    out.print(f"Claimed {t.id} ({t.reason}, due {t.due_at:%H:%M}).")


@tickets_app.command("answer")
def tickets_answer(ticket_id: str, text: str, as_user: AsUser = None) -> None:
    """Reply to the asker; the reply appears in their conversation."""
    rt = _runtime()
    rt.handoff.answer(_reviewer(rt, as_user), ticket_id, text)
    out.print(f"Answered {ticket_id}.")


@tickets_app.command("resolve")
def tickets_resolve(
    ticket_id: str,
    as_user: AsUser = None,
    save_correction: Annotated[
        bool,
        typer.Option(
            "--save-correction", help="Keep the answer as a labelled example for evaluation."
        ),
    ] = False,
) -> None:
    """Close a ticket."""
    rt = _runtime()
    rt.handoff.resolve(_reviewer(rt, as_user), ticket_id, save_correction)
    out.print(f"Resolved {ticket_id}.")


@tickets_app.command("corrections")
def tickets_corrections(dest: Path) -> None:
    """Export saved corrections as a question file for `steward eval`."""
    rows = _runtime().handoff.corrections()
    dest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out.print(f"Wrote {len(rows)} corrections to {dest}.")


@cache_app.command("stats")
def cache_stats(as_json: JsonOpt = False) -> None:
    """Hit rate and time saved (this process); the cached entries in the store."""
    from sqlalchemy import func, select

    from steward.store.models import CacheEntry

    rt = _runtime()
    with rt.store.read() as s:
        entries = int(s.scalar(select(func.count()).select_from(CacheEntry)) or 0)
    data = {**rt.cache.stats.as_dict(), "entries": entries}
    if as_json:
        _print_json(data)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in data.items()))


@cache_app.command("clear")
def cache_clear() -> None:
    """Drop every cached answer."""
    out.print(f"Cleared {_runtime().cache.clear()} cached answers.")


@policy_app.command("show")
def policy_show(
    center: Annotated[str | None, typer.Option(help="A center id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The policy in force for a center (after the default file and the center's file)."""
    rt = _runtime()
    p = rt.policies.for_center(center)
    data = {
        k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
        for k, v in p.__dict__.items()
    }
    data["errors"] = rt.policies.errors
    if as_json:
        _print_json(data)
        return
    for k, v in data.items():
        out.print(f"{k:>22}  {v}", markup=False)


# ------------------------------------------------------------------ evaluation, serving, demo


@app.command("eval")
def eval_cmd(
    questions: Annotated[Path, typer.Option("--questions", "-q", help="Question JSONL file.")],
    as_json: JsonOpt = False,
    details: Annotated[
        Path | None, typer.Option("--details", help="Write one JSON line per question here.")
    ] = None,
) -> None:
    """Score a question file (Meridian format) and print the figures."""
    from steward.evals import load_questions, run_eval

    rt = _runtime()
    qs = load_questions(questions)
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (STEWARD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (STEWARD_PORT).")] = None,
) -> None:
    """Serve the HTTP API and the chat page."""
    import uvicorn

    from steward.api.app import create_app

    rt = _runtime()
    rt.warm()
    uvicorn.run(
        create_app(rt),
        host=host or rt.settings.host,
        port=port or rt.settings.port,
        log_level="warning",
    )


@app.command()
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


def main() -> None:
    """Entry point: turn Steward's errors into one line on stderr and exit status 2."""
    debug = os.environ.get("STEWARD_DEBUG") == "1"
    try:
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except StewardError as exc:
        if debug:
            raise
        err.print(f"error: {exc.message}", markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted", markup=False)
        sys.exit(130)
    except Exception as exc:  # usage errors and bugs: one line, no traceback
        # Usage errors come from the click that Typer ships (typer._click): recognise them by
        # their interface rather than by a private import path.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            err.print(f"error: {exc.format_message()}", markup=False)
            sys.exit(2)
        if debug:
            raise
        err.print(
            f"error: unexpected {type(exc).__name__}: {exc} (STEWARD_DEBUG=1 for details)",
            markup=False,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
