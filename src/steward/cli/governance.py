"""Governance commands: the audit trail, quarantine, erasure, masked export, the vault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _acting, _local_admin, _print_json, _runtime, fail, out
from steward.identity.authz import Permission

# steward/cli/__init__.py adds these groups to the root app and registers this module's
# top-level commands there, in the order `steward --help` lists them.
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")


# ------------------------------------------------------------------ audit


@audit_app.command("show")
def audit_show(audit_id: str, as_json: JsonOpt = False) -> None:
    """Print one audit record: who asked what, what was decided and why, from which sources."""
    from steward import audit

    rt = _runtime()
    _acting(rt, Permission.READ_AUDIT, f"audit:{audit_id}")
    row = audit.as_dict(audit.get(rt.store, audit_id))
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

    rt = _runtime()
    _acting(rt, Permission.READ_AUDIT, f"audit:{audit_id}")
    rows = audit.sources(rt.store, audit_id)
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
    rep = audit.export_file(
        rt.store, dest, who.user_id, _when(since, "--since"), _when(until, "--until")
    )
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
def audit_verify(as_json: JsonOpt = False) -> None:
    """Check the hash chain; names the first edited, deleted or reordered row."""
    from steward import audit

    rt = _runtime()
    _acting(rt, Permission.VERIFY_AUDIT, "audit")
    rep = audit.verify(rt.store)
    if as_json:
        _print_json(rep.__dict__)
    elif rep.ok:
        out.print(f"Audit chain intact: {rep.rows} rows.")
    if not rep.ok:
        fail(f"audit chain broken at seq {rep.seq} (id {rep.audit_id}): {rep.problem}", 1)


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
        table.add_row(str(r["chunk_id"]), r["doc_id"], r["source_id"], r["reason"], r["text"][:80])
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
