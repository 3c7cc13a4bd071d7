"""Assistant profile versions: ``steward profile ...`` (docs/profiles.md).

Who acts: ``STEWARD_ACTOR_KEY``'s user (cli/common.py ``actor``). Every change needs it, so
that an author and a second approver are two named people, each with their own key; reading
works as the local operator too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from steward.cli.common import JsonOpt, _print_json, _runtime, actor, out
from steward.config.yamlfile import load_yaml_data
from steward.identity.authz import Permission

profile_app = typer.Typer(
    no_args_is_help=True,
    help="Assistant profile versions: write, gate, approve, activate, roll back.",
)
ScopeOpt = Annotated[
    str | None, typer.Option("--center", help="Only this center (default: every center).")
]


def _scope(center: str | None) -> str:
    return center if center else "*"


@profile_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """Every version, and which answers where."""
    rt = _runtime()
    who = actor(rt)
    versions = rt.profiles.versions(who)
    scopes = rt.profiles.scopes(who)
    if as_json:
        _print_json({"versions": [v.as_dict() for v in versions], "scopes": scopes})
        return
    table = Table("version", "label", "status", "author", "active in", "canary in", "created")
    for v in versions:
        table.add_row(
            str(v.version), v.label, v.status, v.author, ", ".join(v.active_in),
            ", ".join(v.canary_in), v.created_at.isoformat()[:19],
        )  # fmt: skip
    out.print(table)


@profile_app.command("show")
def show_cmd(version: int, as_json: JsonOpt = False) -> None:
    """One version: its settings, snapshot and any drift since it was made."""
    rt = _runtime()
    data = rt.profiles.show(actor(rt), version)
    if as_json:
        _print_json(data)
        return
    out.print(f"Profile version {data['version']} ({data['status']}): {data['label']}")
    out.print(yaml.safe_dump(data["body"] or {}, sort_keys=True).rstrip() or "{} (configuration)")
    for line in data["drift"]:
        out.print(f"drift: {line}", markup=False)


@profile_app.command("diff")
def diff_cmd(a: int, b: int, as_json: JsonOpt = False) -> None:
    """What changed between versions A and B."""
    rt = _runtime()
    rows = rt.profiles.diff(actor(rt), a, b)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print(f"Versions {a} and {b} shape answers the same way.")
        return
    for r in rows:
        name = r.get("setting") or f"file {r.get('file')}"
        out.print(f"{name}: {r[str(a)]!r} -> {r[str(b)]!r}", markup=False)


@profile_app.command("create")
def create_cmd(
    file: Annotated[Path, typer.Argument(help="A profile YAML file (docs/profiles.md).")],
    parent: Annotated[int | None, typer.Option("--parent", help="Derived from.")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish it at once.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a new draft version from a file."""
    raw = load_yaml_data(file, what="Profile file")
    rt = _runtime()
    who = actor(rt, named=True)
    info = rt.profiles.create(who, raw or {}, parent=parent)
    if publish:
        info = rt.profiles.publish(who, info.version)
    if as_json:
        _print_json(info.as_dict())
        return
    out.print(f"Profile version {info.version} written ({info.status}).")


@profile_app.command("publish")
def publish_cmd(version: int, as_json: JsonOpt = False) -> None:
    """Make a draft immutable, ready for its gate."""
    rt = _runtime()
    info = rt.profiles.publish(actor(rt, named=True), version)
    if as_json:
        _print_json(info.as_dict())
        return
    out.print(f"Profile version {info.version} published.")


@profile_app.command("approve")
def approve_cmd(
    version: int,
    center: ScopeOpt = None,
    note: Annotated[str, typer.Option("--note", help="Why (kept, masked).")] = "",
) -> None:
    """Approve a version (a reviewer other than its author, after a passing gate)."""
    rt = _runtime()
    approval = rt.profiles.approve(actor(rt, named=True), version, scope=_scope(center), note=note)
    out.print(f"Approved version {version} for {_scope(center)} ({approval}).")


@profile_app.command("activate")
def activate_cmd(
    version: int,
    center: ScopeOpt = None,
    override: Annotated[
        str | None,
        typer.Option("--override", help="Admins: activate without gate and approval, because."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a version answer (in a center, or everywhere), on every replica within seconds."""
    rt = _runtime()
    scope = rt.profiles.activate(
        actor(rt, named=True), version, scope=_scope(center), override=override
    )
    if as_json:
        _print_json(scope.__dict__)
        return
    out.print(f"Version {scope.version} answers in {_scope(center)} (was {scope.previous}).")


@profile_app.command("rollback")
def rollback_cmd(
    reason: Annotated[str, typer.Option("--reason", help="Why (kept, masked).")],
    center: ScopeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put back the version that answered before the current one."""
    rt = _runtime()
    scope = rt.profiles.rollback(actor(rt, named=True), scope=_scope(center), reason=reason)
    if as_json:
        _print_json(scope.__dict__)
        return
    out.print(f"Rolled back: version {scope.version} answers in {_scope(center)} again.")


@profile_app.command("canary")
def canary_cmd(
    version: int,
    percent: Annotated[
        int, typer.Option("--percent", help="Share of conversations, 1-50; 0 ends it.")
    ],
    center: ScopeOpt = None,
    override: Annotated[
        str | None,
        typer.Option("--override", help="Admins: without a passing gate, because."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a share of a scope's conversations to a version (sticky per conversation)."""
    rt = _runtime()
    scope = rt.profiles.set_canary(
        actor(rt, named=True), version, scope=_scope(center), percent=percent, override=override
    )
    if as_json:
        _print_json(scope.__dict__)
        return
    if scope.canary_version is None:
        out.print(f"No canary in {_scope(center)}; version {scope.version} answers all of it.")
        return
    out.print(
        f"Version {scope.canary_version} answers {scope.canary_percent}% of {_scope(center)}'s "
        f"conversations; version {scope.version} the rest."
    )


@profile_app.command("canary-status")
def canary_status_cmd(as_json: JsonOpt = False) -> None:
    """Every running canary's live figures beside the active version's."""
    from steward.profiles import canary

    rt = _runtime()
    rows = canary.side_by_side(rt, actor(rt))
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("No canary is running.")
        return
    for f in rows:
        table = Table("", f"active v{f['active']['version']}", f"canary v{f['canary']['version']}")
        for k in f["active"]:
            if k != "version":
                table.add_row(k, str(f["active"][k]), str(f["canary"][k]))
        out.print(f"{f['scope']}: {f['percent']}% since {f['since'][:19]}")
        out.print(table)


@profile_app.command("canary-check")
def canary_check_cmd(as_json: JsonOpt = False) -> None:
    """End every canary whose candidate crossed a limit (the server does it on a schedule)."""
    from steward.profiles import canary

    rt = _runtime()
    rt.authz.authorize(actor(rt), Permission.MANAGE_PROFILES, "canaries")
    ended = canary.guard(rt)
    if as_json:
        _print_json(ended)
        return
    for e in ended:
        out.print(f"Canary of version {e['version']} in {e['scope']} ended: {e}", markup=False)
    if not ended:
        out.print("Every running canary is within its limits.")


def shadow_cmd(
    candidate: Annotated[int, typer.Option("--candidate", help="The profile version to try.")],
    since: Annotated[
        str, typer.Option("--since", help="Window of logged questions, e.g. 7d.")
    ] = "7d",
    center: Annotated[str | None, typer.Option("--center", help="Only this center.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Replay logged masked questions against a candidate version, shown to no one, and say
    what would have changed (docs/profiles.md)."""
    from steward.operations.report import parse_since
    from steward.profiles.shadow import shadow

    window = parse_since(since)
    rt = _runtime()
    rt.warm()
    result = shadow(rt, actor(rt, named=True), candidate, window, center=center, limit=limit)
    if as_json:
        _print_json(result)
        return
    table = Table("figure", "value")
    for k, v in result.items():
        table.add_row(k, str(v))
    out.print(table)
