"""Tools and actions: ``steward tools ...`` and ``steward actions ...`` (docs/actions.md).

Who acts: ``STEWARD_ACTOR_KEY``'s user (cli/common.py ``actor``). Approving and rejecting
need it, so that the four-eyes rule sees a named person, never the local operator; reading and
resuming work as the local operator too.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, fail, out, printable

tools_app = typer.Typer(no_args_is_help=True, help="The tools the assistant may call.")
actions_app = typer.Typer(
    no_args_is_help=True,
    help="Tool calls on behalf of askers: list, show, approve, reject, resume.",
)

ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
CALL_HASH = re.compile(r"[0-9a-f]{64}")
ActionArg = Annotated[str, typer.Argument(help="The action's id (a ULID).")]


def _action_id(value: str) -> str:
    if not ULID.fullmatch(value):
        fail(f"{value[:40]!r} is not an action id (26 characters, a ULID): see `steward actions "
             "list`.")  # fmt: skip
    return value


def _when(ts: str | None) -> str:
    return ts[:19].replace("T", " ") if ts else ""


@tools_app.command("list")
def tools_list(as_json: JsonOpt = False) -> None:
    """Every tool in force, with its risk class and mode per center."""
    rt = _runtime()
    tools = rt.actions.tools(actor(rt))
    if as_json:
        _print_json({"tools": tools})
        return
    if not tools:
        out.print("No tools: set STEWARD_TOOLS_FILE (docs/actions.md).")
        return
    table = Table("tool", "risk", "executor", "modes", "description")
    for t in tools:
        modes = ", ".join(f"{c}: {m}" for c, m in t["modes"].items())
        executor = t["executor"] + (f" ({t['system']})" if t["system"] else "")
        table.add_row(t["name"], t["risk"], executor, modes, Text(t["description"]))
    out.print(table)


@actions_app.command("list")
def list_cmd(
    status: Annotated[
        str | None, typer.Option("--status", help="Only actions in this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="The most actions to list.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Actions you may see, newest first."""
    rt = _runtime()
    views = rt.actions.list(actor(rt), status, limit)
    if as_json:
        _print_json({"actions": [v.as_dict() for v in views]})
        return
    if not views:
        out.print("No actions.")
        return
    table = Table("id", "tool", "status", "asker", "approvals", "call hash", "created", "summary")
    for v in views:
        given = sum(1 for a in v.approvals if a["verdict"] == "approve")
        table.add_row(
            v.id, v.tool, v.status, printable(v.requested_by), f"{given}/{v.approvals_needed}",
            v.call_hash[:12], _when(v.created_at.isoformat()), Text(printable(v.summary)),
        )  # fmt: skip
    out.print(table)


def _print_action(view: Any) -> None:
    d = view.as_dict()
    for k in ("id", "tool", "status", "risk", "mode", "requested_by", "subject", "center",
              "source", "call_hash", "summary", "rule", "created_at", "expires_at",
              "executed_at"):  # fmt: skip
        if d[k] is not None:
            out.print(f"{k}: {printable(d[k])}", markup=False)
    out.print(f"arguments (masked): {printable(d['arguments'])}", markup=False)
    out.print(f"approvals: {len(d['approvals'])} of {d['approvals_needed']} needed", markup=False)
    for a in d["approvals"]:
        note = printable(a.get("note", ""))
        by = printable(a.get("approver", "a reviewer"))
        out.print(f"  {a['verdict']} by {by} at {_when(a['at'])} {note}", markup=False)
    if d["result"] is not None:
        out.print(f"result: {printable(d['result'])}", markup=False)


@actions_app.command("show")
def show_cmd(action_id: ActionArg, as_json: JsonOpt = False) -> None:
    """One action: what it does, who decided what, and its outcome."""
    _action_id(action_id)
    rt = _runtime()
    view = rt.actions.get(actor(rt), action_id)
    if as_json:
        _print_json(view.as_dict())
        return
    _print_action(view)


@actions_app.command("approve")
def approve_cmd(
    action_id: ActionArg,
    call_hash: Annotated[
        str, typer.Option("--call-hash", help="The action's call hash (`steward actions show`).")
    ],
    note: Annotated[str, typer.Option("--note", help="Why (kept, masked).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Approve someone else's action, bound to its exact call (needs STEWARD_ACTOR_KEY)."""
    _action_id(action_id)
    if not CALL_HASH.fullmatch(call_hash):
        fail("--call-hash must be the action's 64-character call hash: see `steward actions "
             f"show {action_id}`.")  # fmt: skip
    if len(note) > 2000:
        fail("--note is limited to 2,000 characters.")
    rt = _runtime()
    view = rt.actions.approve(actor(rt, named=True), action_id, call_hash, note, "cli")
    if as_json:
        _print_json(view.as_dict())
        return
    given = sum(1 for a in view.approvals if a["verdict"] == "approve")
    out.print(f"Approved action {view.id} ({given} of {view.approvals_needed}): {view.status}.")


@actions_app.command("reject")
def reject_cmd(
    action_id: ActionArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept, masked).")],
    as_json: JsonOpt = False,
) -> None:
    """Reject an action awaiting approval, or withdraw your own (needs STEWARD_ACTOR_KEY)."""
    _action_id(action_id)
    if not reason.strip() or len(reason) > 500:
        fail("--reason must say why, in at most 500 characters.")
    rt = _runtime()
    view = rt.actions.reject(actor(rt, named=True), action_id, reason, "cli")
    if as_json:
        _print_json(view.as_dict())
        return
    out.print(f"Action {view.id} is {view.status}.")


@actions_app.command("resume")
def resume_cmd(as_json: JsonOpt = False) -> None:
    """Run ready calls and finish interrupted ones, never twice (the server does it too)."""
    rt = _runtime()
    counts = rt.actions.resume(actor(rt))
    if as_json:
        _print_json(counts)
        return
    out.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))
