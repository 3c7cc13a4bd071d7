"""Shared pieces of the ``steward`` command line: consoles, option types, errors, the runtime."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Piped or redirected, tables are as wide as their content: an id is never cut to "01M…"
# (a terminal keeps its own width).
PIPED_WIDTH = 1000
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AsUser = Annotated[str | None, typer.Option("--as", help="Act as this directory user.")]


def printable(value: object) -> str:
    """``value`` as one terminal line: hidden characters, newlines and tabs as escapes
    (core/visible.py), so stored text cannot drive the terminal or forge a line."""
    from steward.core.visible import escape

    return escape(str(value))


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def _runtime() -> Any:
    from steward.observability import logs
    from steward.runtime import Runtime

    rt = Runtime()
    logs.configure(rt.settings.log_level)
    return rt


def _local_admin() -> Any:
    """Whoever runs the CLI on the data home already controls it: they act as a local admin,
    recorded in the audit trail under their operating-system user name."""
    import getpass

    from steward.identity.auth import Principal

    return Principal(
        f"cli:{getpass.getuser()}", "local operator", frozenset(), None, "admin", False, "cli"
    )


ACTOR_KEY = "STEWARD_ACTOR_KEY"


def actor(rt: Any, *, named: bool = False) -> Any:
    """Who acts: with ``STEWARD_ACTOR_KEY`` set to an API key, its user; otherwise the local
    operator, unless ``named`` (a change another person must be able to tell apart from their
    own, such as writing or approving a profile version), which then needs the key."""
    key = os.environ.get(ACTOR_KEY, "").strip()
    if not key:
        if named:
            fail(
                f"Set {ACTOR_KEY} to your API key: this change is recorded under a named "
                "person (four eyes), not the local operator."
            )
        return _local_admin()
    from steward.core.errors import AuthError
    from steward.identity.auth import authenticate

    try:
        return authenticate(rt.store, f"Bearer {key}", None, None)
    except AuthError as exc:
        fail(f"{ACTOR_KEY}: {exc.message}")


def _acting(rt: Any, permission: str, resource: str) -> Any:
    """The local admin, once :meth:`Authorizer.authorize` has let them do ``permission``: the
    CLI goes through the same check (and the same role table) as every other caller."""
    who = _local_admin()
    rt.authz.authorize(who, permission, resource)
    return who


def _print_json(obj: Any) -> None:
    from steward.core.visible import json_escape

    # Readable UTF-8, with the characters json leaves raw that could drive a terminal escaped.
    sys.stdout.write(json_escape(json.dumps(obj, ensure_ascii=False, default=str)) + "\n")


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
