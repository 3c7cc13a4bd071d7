"""Kill switches, overrides and alerts: ``steward switch ...`` and ``steward alerts ...``.

The CLI acts as the local operator (cli/common.py): every change goes through the same
service method, permission check and audit event as the HTTP API.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import JsonOpt, _local_admin, _print_json, _runtime, fail, out

switch_app = typer.Typer(
    no_args_is_help=True,
    help="Kill switches and overrides: in force on every replica within seconds.",
)
alerts_app = typer.Typer(no_args_is_help=True, help="Alert rules, their states and events.")

Reason = Annotated[str, typer.Option("--reason", help="Why (kept, masked, in the audit trail).")]
Center = Annotated[str | None, typer.Option("--center", help="Only this center.")]
Intent = Annotated[str | None, typer.Option("--intent", help="Only this intent (glob).")]


def _set(kind: str, reason: str, as_json: bool = False, **scope: Any) -> None:
    rt = _runtime()
    if not reason.strip():
        fail("A reason is required: --reason TEXT (it is kept in the audit trail).")
    from steward.operations.switches import intent_labels

    intents = intent_labels(rt) if scope.get("intent") is not None else None
    sw = rt.switches.set(_local_admin(), kind, reason=reason, intents=intents, **scope)
    if as_json:
        _print_json(sw.as_dict())
        return
    out.print(f"Switch {sw.id} set: {kind} for {sw.scope()}.", markup=False)


@switch_app.command("list")
def switch_list(as_json: JsonOpt = False) -> None:
    """The switches in force."""
    rt = _runtime()
    rows = rt.switches.active()
    if as_json:
        _print_json([a.as_dict() for a in rows])
        return
    if not rows:
        out.print("No switch is in force.")
        return
    table = Table("id", "kind", "scope", "pattern", "value", "by", "since", "reason")
    for a in rows:
        table.add_row(
            a.id,
            a.kind,
            a.scope(),
            a.pattern or "",
            ", ".join(f"{k}={v}" for k, v in a.value.items() if v and k != "answer"),
            a.actor,
            a.as_dict()["created_at"][:19],
            a.reason,
        )
    out.print(table)


@switch_app.command("stop-answers")
def stop_answers(
    reason: Reason, center: Center = None, intent: Intent = None, as_json: JsonOpt = False
) -> None:
    """Stop auto-answers (everyone, a center or an intent): every question goes to a person."""
    _set("stop-answers", reason, as_json, center=center, intent=intent)


@switch_app.command("resume")
def resume(
    reason: Reason, center: Center = None, intent: Intent = None, as_json: JsonOpt = False
) -> None:
    """Resume auto-answers where stop-answers stopped them (the same --center / --intent)."""
    rt = _runtime()
    if not reason.strip():
        fail("A reason is required: --reason TEXT (it is kept in the audit trail).")
    cleared = rt.switches.resume(_local_admin(), center=center, intent=intent, reason=reason)
    if as_json:
        _print_json([a.as_dict() for a in cleared])
        return
    out.print(f"Auto-answers resume for {cleared[0].scope()}.", markup=False)


@switch_app.command("force-escalation")
def force_escalation(
    reason: Reason,
    pattern: Annotated[
        str | None,
        typer.Option(help="Regular expression over the masked question (case-insensitive)."),
    ] = None,
    intent: Intent = None,
    center: Center = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a topic (a pattern or an intent) to a person."""
    if (pattern is None) == (intent is None):
        fail("Give either --pattern or --intent.")
    _set("force-escalation", reason, as_json, center=center, intent=intent, pattern=pattern)


@switch_app.command("pin-answer")
def pin_answer(
    reason: Reason,
    pattern: Annotated[str, typer.Option(help="Regular expression over the masked question.")],
    answer: Annotated[str, typer.Option(help="The approved answer, given as written.")],
    cite: Annotated[
        str | None, typer.Option(help="A document id to cite (shown to askers who may read it).")
    ] = None,
    center: Center = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer questions matching a pattern with an approved answer."""
    value = {"answer": answer, **({"cite": cite} if cite else {})}
    _set("pin-answer", reason, as_json, center=center, pattern=pattern, value=value)


@switch_app.command("exclude")
def exclude(
    reason: Reason,
    source: Annotated[str | None, typer.Option(help="A source id.")] = None,
    document: Annotated[str | None, typer.Option(help="A document id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a source or a document out of retrieval (and out of the answer cache)."""
    if (source is None) == (document is None):
        fail("Give either --source or --document.")
    if source is not None:
        _set("exclude-source", reason, as_json, value={"source": source})
    else:
        _set("exclude-document", reason, as_json, value={"document": document})


@switch_app.command("fallback")
def fallback(
    reason: Reason,
    provider: Annotated[str, typer.Option(help="A model of the providers file, or `extractive`.")],
    as_json: JsonOpt = False,
) -> None:
    """Write answers with a fallback provider instead of the configured one."""
    _set("provider-fallback", reason, as_json, value={"provider": provider})


@switch_app.command("clear")
def clear(
    switch_id: Annotated[str, typer.Argument(help="The switch's id (`steward switch list`).")],
    reason: Reason,
    as_json: JsonOpt = False,
) -> None:
    """Turn a switch off."""
    rt = _runtime()
    if not reason.strip():
        fail("A reason is required: --reason TEXT (it is kept in the audit trail).")
    sw = rt.switches.clear(_local_admin(), switch_id, reason=reason)
    if as_json:
        _print_json(sw.as_dict())
        return
    out.print(f"Switch {sw.id} cleared ({sw.kind} for {sw.scope()}).", markup=False)


# ------------------------------------------------------------------ alerts


def _alerts_runtime() -> Any:
    """The runtime, once the local operator may see alerts (the same check as the API)."""
    from steward.identity.authz import Permission

    rt = _runtime()
    rt.authz.authorize(_local_admin(), Permission.VIEW_ALERTS, "alerts")
    return rt


@alerts_app.command("list")
def alerts_list(as_json: JsonOpt = False) -> None:
    """The rules with their states, and the latest events."""
    rt = _alerts_runtime()
    data = rt.alerts.overview()
    if as_json:
        _print_json(data)
        return
    if not data["rules"]:
        out.print(f"No alert rules ({rt.alerts.path} does not exist or lists none).")
        return
    table = Table("rule", "metric", "condition", "window", "for", "severity", "state", "value")
    for r in data["rules"]:
        table.add_row(
            r["name"],
            r["metric"] + (f" ({r['center']})" if r["center"] else ""),
            f"{r['comparison']} {r['threshold']:g}",
            r["window"],
            r["for"],
            r["severity"],
            r["state"],
            "" if r["value"] is None else f"{r['value']:.4g}",
        )
    out.print(table)


@alerts_app.command("evaluate")
def alerts_evaluate(as_json: JsonOpt = False) -> None:
    """Evaluate every rule once now (states stored; firing and resolved events delivered)."""
    rt = _alerts_runtime()
    events = rt.alerts.evaluate()
    data = rt.alerts.overview(limit=len(events) or 1)
    if as_json:
        _print_json({"events": data["events"][: len(events)], "rules": data["rules"]})
        return
    for r in data["rules"]:
        shown = "no data" if r["value"] is None else f"{r['value']:.4g}"
        out.print(f"{r['name']}: {r['state']} ({r['metric']} = {shown})", markup=False)
    for e in events:
        note = "delivered" if e.delivered else (e.last_error or "logged")
        out.print(f"{e.state}: {e.rule} - {e.message} [{note}]", markup=False)


@alerts_app.command("export-prometheus")
def alerts_export_prometheus() -> None:
    """Print the rules as a Prometheus alerting-rules file (PromQL over Steward's /metrics)."""
    from steward.operations.alerts import export_prometheus

    rt = _alerts_runtime()
    typer.echo(export_prometheus(rt.alerts.rules()), nl=False)
