"""Federated records: ``steward records show|conflicts|resolve|merge|summary``.

Reading commands take ``--as USER`` to see what that directory user may see; without it the
local operator (cli/common.py) looks. ``resolve`` acts as ``STEWARD_ACTOR_KEY``'s user when set
(a data owner resolving their own task), else as the local operator; both go through the same
service method, permission check and audit event as the console.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import (
    AsUser,
    JsonOpt,
    _print_json,
    _runtime,
    actor,
    fail,
    out,
    printable,
)

records_app = typer.Typer(
    no_args_is_help=True,
    help="Federated records: merged fields with their confidence, and conflict tasks.",
)


def _who(rt: Any, as_user: str | None) -> Any:
    """Who reads: ``STEWARD_ACTOR_KEY``'s user, else the local operator; ``--as USER`` shows
    that user's view, which only a records manager may ask for another person."""
    acting = actor(rt)
    if not as_user or as_user == acting.user_id:
        return acting
    from steward.identity.auth import principal_for
    from steward.identity.authz import Permission

    rt.authz.authorize(acting, Permission.MANAGE_RECORDS, "records")
    return principal_for(rt.store, as_user)


@records_app.command("show")
def show(
    entity: Annotated[str, typer.Argument(help="The entity type, e.g. customer.")],
    key: Annotated[str, typer.Argument(help="The record's key, e.g. C-1001.")],
    as_user: AsUser = None,
    as_json: JsonOpt = False,
) -> None:
    """One merged record as a user sees it: each field's value, confidence and sources."""
    if not as_user:
        fail("Say whose view: --as USER (a record shows only the sources that user may read).")
    rt = _runtime()
    view = rt.records.show(_who(rt, as_user), entity, key)
    if as_json:
        _print_json(view.as_dict(rt.records.tuning))
        return
    out.print(f"{printable(view.entity)} {printable(view.key)}", markup=False)
    table = Table("field", "value", "confidence", "sources", "as an answer states it")
    for f in view.fields:
        table.add_row(
            printable(f.field),
            printable(f.value),
            f"{f.confidence:.2f}",
            printable(", ".join(f.winner.labels)),
            printable(f.statement(rt.records.tuning)),
        )
    out.print(table)


@records_app.command("conflicts")
def conflicts(
    status: Annotated[
        str, typer.Option("--status", help="open, resolved, closed or all.")
    ] = "open",
    as_user: AsUser = None,
    as_json: JsonOpt = False,
) -> None:
    """Conflict tasks between sources (all for operators; a data owner's own with --as)."""
    if status not in ("open", "resolved", "closed", "all"):
        fail(f"Unknown status {status!r}: use open, resolved, closed or all.")
    rt = _runtime()
    tasks = rt.records.conflicts(_who(rt, as_user), None if status == "all" else status)
    if as_json:
        _print_json([t.as_dict() for t in tasks])
        return
    if not tasks:
        out.print(f"No {'' if status == 'all' else status + ' '}conflict task.")
        return
    table = Table("task", "status", "record", "field", "owners", "what each source says")
    for t in tasks:
        said = "; ".join(
            f"{s['label']}: {s['value'] if s['value'] is not None else '(hidden)'} ({s['updated']})"
            for s in t.sources
        )
        table.add_row(
            t.id,
            t.status,
            printable(f"{t.entity} {t.key}"),
            printable(t.field),
            printable(", ".join(t.owners) or "-"),
            printable(said),
        )
    out.print(table)


@records_app.command("resolve")
def resolve(
    task_id: Annotated[str, typer.Argument(help="The task id (steward records conflicts).")],
    source: Annotated[
        str | None, typer.Option("--source", help="The source whose value is right.")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why, or what was done (masked).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Resolve a conflict task with the right source's value and/or a note (audited)."""
    rt = _runtime()
    task = rt.records.resolve(actor(rt), task_id, source=source, note=note)
    if as_json:
        _print_json(task.as_dict())
        return
    chosen = f": {task.chosen_source}'s value counts" if task.chosen_source else ""
    out.print(f"Task {task.id} resolved{chosen}.", markup=False)


@records_app.command("merge")
def merge(as_json: JsonOpt = False) -> None:
    """Merge every entity source again (a sync does this by itself)."""
    rt = _runtime()
    reports = rt.records.merge_all(actor(rt))
    if as_json:
        _print_json([r.as_dict() for r in reports])
        return
    if not reports:
        out.print("No source declares an entity (docs/records.md).")
        return
    table = Table("source", "records", "values", "skipped", "opened", "reopened", "closed")
    for r in reports:
        table.add_row(
            r.source_id,
            *(str(x) for x in (r.records, r.values, r.skipped, r.opened, r.reopened, r.closed)),
        )
    out.print(table)


@records_app.command("summary")
def summary(as_user: AsUser = None, as_json: JsonOpt = False) -> None:
    """Counts and confidence figures per entity type and source (no keys, no values)."""
    rt = _runtime()
    figures = rt.records.summary(_who(rt, as_user))
    if as_json:
        _print_json(figures.as_dict())
        return
    table = Table("entity", "records", "fields", "mean confidence", "below threshold", "open tasks")
    for e in figures.entities:
        table.add_row(
            e["entity"],
            str(e["records"]),
            str(e["fields"]),
            f"{e['mean_confidence']:.2f}",
            str(e["below_threshold"]),
            str(e["tasks"]["open"]),
        )
    out.print(table)
