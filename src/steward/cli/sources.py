"""``steward sources``: the registered sources, and taking a mistaken one out of the store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _local_admin, _print_json, _runtime, fail, out

sources_app = typer.Typer(no_args_is_help=True, help="Registered sources.")


@sources_app.command("list")
def sources_list(as_json: JsonOpt = False) -> None:
    """Every registered source: connector, documents, latest sync."""
    from steward.knowledge.registry import registered

    rows = [r.as_dict() for r in registered(_runtime())]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("No sources registered yet: `steward ingest --config FILE` registers them.")
        return
    table = Table("source", "connector", "documents", "last sync", "status")
    for r in rows:
        table.add_row(
            r["id"],
            r["connector"],
            str(r["documents"]),
            r["last_sync"] or "never",
            r["last_status"] or "-",
        )
    out.print(table)


@sources_app.command("remove")
def sources_remove(
    source_id: Annotated[str, typer.Argument(help="The source's id (`steward sources list`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: its documents leave the store.")
    ] = False,
) -> None:
    """Unregister a source: its documents, chunks and vault values leave the store (audited).
    A source still listed in your sources file comes back on the next sync."""
    from steward.knowledge.registry import registered, remove

    rt = _runtime()
    if not reason.strip():
        fail("Say why with --reason TEXT (it is kept in the audit trail).")
    if not yes:
        known = {r.id: r.documents for r in registered(rt)}
        if source_id not in known:
            fail(f"No source {source_id[:64]!r}; registered sources: {', '.join(known) or 'none'}.")
        fail(
            f"This removes source {source_id} and its {known[source_id]} documents from the "
            "store; run again with --yes to confirm."
        )
    removed, audit_id = remove(rt, source_id, _local_admin(), reason=reason)
    out.print(
        f"Removed source {source_id}: {removed} documents (audit {audit_id}). If it is still in "
        "your sources file, the next sync registers it again: take it out there too."
    )
