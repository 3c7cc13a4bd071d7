"""Governance commands: the audit trail, quarantine, erasure, masked export, the vault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from steward.cli.common import (
    JsonOpt,
    _acting,
    _local_admin,
    _print_json,
    _runtime,
    fail,
    out,
    printable,
)
from steward.identity.authz import Permission

# steward/cli/__init__.py adds these groups to the root app and registers this module's
# top-level commands there, in the order `steward --help` lists them.
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")


# ------------------------------------------------------------------ audit


AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Read with this directory user's entitlements."),
]
BreakGlass = Annotated[
    bool,
    typer.Option(
        "--break-glass",
        help="Show answer text and cited titles the reader may not read (audited).",
    ),
]


def _audit_reader(rt: Any, audit_id: str, as_user: str | None, break_glass: bool) -> Any:
    """Who reads the audit row, and whether they use the auditor grant: the local admin has no
    groups, so cited content stays withheld from them unless they break glass (they control
    the data home; the use is audited), or read as a directory user (``--as``)."""
    from steward.identity.auth import principal_for

    if as_user is None:
        return _acting(rt, Permission.READ_AUDIT, f"audit:{audit_id}"), break_glass
    if break_glass:
        fail("--break-glass is for the local operator; --as USER uses that user's own grants.")
    who = principal_for(rt.store, as_user)
    rt.authz.authorize(who, Permission.READ_AUDIT, f"audit:{audit_id}")
    return who, rt.authz.permits(who, Permission.AUDITOR)


@audit_app.command("show")
def audit_show(
    audit_id: str,
    as_json: JsonOpt = False,
    as_user: AsUser = None,
    break_glass: BreakGlass = False,
) -> None:
    """Print one audit record: who asked what, what was decided and why, from which sources
    (answer text only where the reader may read every cited document)."""
    from steward.audit import view

    rt = _runtime()
    who, auditor = _audit_reader(rt, audit_id, as_user, break_glass)
    row = view.record(rt.store, who, audit_id, auditor=auditor, channel="cli")
    if as_json:
        _print_json(row)
        return
    for key, value in row.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
        # Stored text is data: an asker's "[/]" or "[conceal]" must print as written.
        shown = printable(shown)  # stored text cannot drive the terminal either
        out.print(f"[bold]{key:>18}[/bold]  {escape(shown)}", markup=True, highlight=False)


@audit_app.command("sources")
def audit_sources(
    audit_id: str,
    as_json: JsonOpt = False,
    as_user: AsUser = None,
    break_glass: BreakGlass = False,
) -> None:
    """Which data sources produced this answer, and whether they changed since."""
    from steward.audit import view

    rt = _runtime()
    who, auditor = _audit_reader(rt, audit_id, as_user, break_glass)
    rows = view.sources(rt.store, who, audit_id, auditor=auditor, channel="cli")
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
    """Export audit rows (masked, as stored) to a JSON Lines file (the export is audited)."""
    from steward import audit

    rt = _runtime()
    who = _acting(rt, Permission.EXPORT_AUDIT, "audit")
    window = _when(since, "--since"), _when(until, "--until")
    try:
        rep = audit.export_file(rt.store, dest, who.user_id, *window)
    except OSError as exc:  # nothing was exported, so the export is not recorded either
        fail(f"cannot write {dest}: {exc.strerror or exc} (the folder must exist and be writable).")
    out.print(f"Wrote {rep.rows} audit rows to {dest}.")


@audit_app.command("prune")
def audit_prune(
    before: Annotated[str, typer.Option(help="Delete rows older than this date/time (ISO).")],
) -> None:
    """Retention: delete old audit rows; the chain stays verifiable from the newest kept row."""
    from steward import audit

    rt = _runtime()
    who = _acting(rt, Permission.PRUNE_AUDIT, "audit")
    n = audit.prune(rt.store, _when(before, "--before"), actor=who.user_id)
    out.print(f"Deleted {n} audit rows older than {before}.")


@audit_app.command("verify")
def audit_verify(
    as_json: JsonOpt = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="Also check the trail against this checkpoint file (JSON Lines): detects "
            "deleted newest rows and rollback.",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Check every checkpoint in the file, not the latest.")
    ] = False,
) -> None:
    """Check the hash chain; names the first edited, deleted or reordered row, and with
    --checkpoint the rows missing after the signed head."""
    from steward import audit
    from steward.audit import checkpoint as cps

    rt = _runtime()
    _acting(rt, Permission.VERIFY_AUDIT, "audit")
    checks: list[Any] = []
    if checkpoint is not None:
        try:
            found = cps.read_file(checkpoint)
            public = cps.public_key(rt.settings)
        except cps.CheckpointError as exc:
            fail(exc.message)
        checks = [cps.check(rt.store, cp, public) for cp in (found if every else found[-1:])]
    rep = audit.verify(rt.store)
    failed = [c for c in checks if not c.ok]
    if as_json:
        _print_json({**rep.__dict__, "checkpoints": [cps.as_dict(c) for c in checks]})
    elif rep.ok and not failed:
        tail = f"; {len(checks)} checkpoint(s) hold" if checks else ""
        out.print(f"Audit chain intact: {rep.rows} rows{tail}.")
    if not rep.ok:
        fail(f"audit chain broken at seq {rep.seq} (id {rep.audit_id}): {rep.problem}", 1)
    if failed:
        fail("; ".join(str(c.problem) for c in failed), 1)


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: JsonOpt = False) -> None:
    """Sign the chain head now and append it to the checkpoint file (and syslog)."""
    from steward.audit import checkpoint as cps

    rt = _runtime()
    _acting(rt, Permission.VERIFY_AUDIT, "audit")
    cp = cps.write(rt.store, rt.settings)
    if as_json:
        _print_json(cp.__dict__)
        return
    out.print(f"Checkpoint at seq {cp.seq} ({cp.ts}) written to {cps.sink_file(rt.settings)}.")


# ------------------------------------------------------------------ privacy and safety

quarantine_app = typer.Typer(no_args_is_help=True, help="Instruction-like text held back.")


@quarantine_app.command("list")
def quarantine_list(as_json: JsonOpt = False) -> None:
    """Chunks held back from retrieval because they read like instructions to an AI."""
    from steward.knowledge.quarantine import held

    rows = [h.__dict__ for h in held(_runtime())]
    if as_json:
        _print_json(rows)
        return
    table = Table("chunk", "doc", "source", "reason", "text")
    for r in rows:
        text = Text(r["text"][:80])  # document text is data, never Rich markup
        table.add_row(str(r["chunk_id"]), r["doc_id"], r["source_id"], r["reason"], text)
    out.print(table)


@quarantine_app.command("release")
def quarantine_release(chunk_id: int) -> None:
    """Release a held chunk after review (audited)."""
    from steward.knowledge.quarantine import release

    audit_id = release(_runtime(), chunk_id, _local_admin())
    out.print(f"Released chunk {chunk_id} (audit {audit_id}).")


def erase(
    subject: Annotated[
        str,
        typer.Option(
            "--subject", help="The subject's value: customer name, e-mail, phone, card number."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Erase a data subject from every copy Steward holds (records, chunks, vectors, vault,
    conversations, tickets, corrections, cached answers)."""
    from steward.guard.erasure import erase_subject

    rep = erase_subject(_runtime(), subject, _local_admin())
    if as_json:
        _print_json(rep.__dict__)
        return
    out.print(
        f"Erased: {rep.tokens} token(s), {rep.documents} record(s) removed, "
        f"{rep.chunks} chunk(s) redacted, {rep.records} conversation/ticket record(s) "
        f"redacted, {rep.cached} cached answer(s) dropped, {rep.vault_entries} vault "
        f"entr(ies) deleted (audit {rep.audit_id})."
    )


def export_cmd(
    dest: Annotated[Path, typer.Argument(help="A new, empty folder for the copy.")],
    masked: Annotated[bool, typer.Option("--masked", help="Required: the copy is masked.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a masked, non-production copy of the store for development or testing."""
    from steward.guard.sandbox import export_masked

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


def reveal(
    token: str,
    as_user: Annotated[str | None, typer.Option("--as", help="Reveal as this user.")] = None,
) -> None:
    """Show the raw value behind a masking token (owner or allowed role; audited)."""
    from steward.identity.auth import principal_for

    rt = _runtime()
    if rt.vault is None:
        fail("The vault is off: no raw values are kept (set STEWARD_VAULT_KEY_FILE).")
    who = principal_for(rt.store, as_user) if as_user else _local_admin()
    out.print(rt.vault.reveal(token, who, "cli").value, markup=False)


def vault_key(dest: Path) -> None:
    """Create a new random vault key file (mode 0600); point STEWARD_VAULT_KEY_FILE at it."""
    from steward.guard.vault import new_vault_key_file

    try:
        new_vault_key_file(dest)
    except FileExistsError:
        fail(f"{dest} exists; a vault key is never overwritten.")
    out.print(f"Wrote a new vault key to {dest}. Keep it out of database backups.")
