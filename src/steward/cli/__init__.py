"""The ``steward`` command line. Errors print one line on stderr and exit with status 2."""

from __future__ import annotations

import os
import sys

import typer

from steward.cli import (
    actions,
    budgets,
    conversations,
    core,
    evals,
    governance,
    learn,
    operations,
    profiles,
    readiness,
    records,
    rollout,
    sources,
    switches,
    usecases,
)
from steward.cli.common import err
from steward.core.errors import StewardError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Steward: governed, cited, audited answers from your own knowledge.",
)

# Commands, then groups, each in the order ``steward --help`` lists them.
app.command()(core.ingest)
app.command()(core.runs)
app.command()(core.ask)
app.command()(governance.erase)
app.command("export")(governance.export_cmd)
app.command()(governance.reveal)
app.command("vault-key")(governance.vault_key)
app.command()(core.search)
app.add_typer(evals.eval_app, name="eval")
app.command()(core.serve)
app.command()(core.demo)
app.command()(operations.report)
app.command("shadow")(profiles.shadow_cmd)
app.command("learn")(learn.learn_cmd)
evals.eval_app.add_typer(learn.set_app, name="set")
app.add_typer(core.directory_app, name="directory")
app.add_typer(core.keys_app, name="keys")
app.add_typer(governance.audit_app, name="audit")
app.add_typer(governance.quarantine_app, name="quarantine")
app.add_typer(sources.sources_app, name="sources")
app.add_typer(conversations.intent_app, name="intent")
app.add_typer(conversations.tickets_app, name="tickets")
app.add_typer(operations.review_app, name="review")
app.add_typer(conversations.cache_app, name="cache")
app.add_typer(conversations.policy_app, name="policy")
app.add_typer(conversations.guard_app, name="guard")
app.add_typer(switches.switch_app, name="switch")
app.add_typer(switches.alerts_app, name="alerts")
app.add_typer(budgets.budget_app, name="budget")
app.add_typer(profiles.profile_app, name="profile")
app.add_typer(actions.tools_app, name="tools")
app.add_typer(actions.actions_app, name="actions")
app.add_typer(rollout.rollout_app, name="rollout")
app.add_typer(records.records_app, name="records")
app.add_typer(usecases.usecases_app, name="usecases")
app.command("roi")(usecases.roi)
app.add_typer(readiness.readiness_app, name="readiness")


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
    except UnicodeDecodeError as exc:
        if debug:
            raise
        # A file given on the command line that is not UTF-8 text (a spreadsheet's export in
        # another encoding, a binary file): the readers that know the file name say so first.
        err.print(
            f"error: a file given is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8.",
            markup=False,
        )
        sys.exit(2)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        if debug:
            raise
        # A path given on the command line that cannot be used as given.
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"error: {where}{exc.strerror or exc}.", markup=False)
        sys.exit(2)
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
