"""Conversation commands: the injection guard, intents, hand-off tickets, cache, policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from steward.cli.common import (
    AsUser,
    JsonOpt,
    _local_admin,
    _print_json,
    _progress,
    _runtime,
    fail,
    out,
)

# ------------------------------------------------------------------ conversations and hand-off

intent_app = typer.Typer(no_args_is_help=True, help="The intent classifier you train.")
tickets_app = typer.Typer(no_args_is_help=True, help="The hand-off queue.")
cache_app = typer.Typer(no_args_is_help=True, help="The answer cache.")
policy_app = typer.Typer(no_args_is_help=True, help="Per-center policies.")
guard_app = typer.Typer(
    no_args_is_help=True, help="Prompt-injection and risk detection (the trained detectors)."
)


@guard_app.command("train-injection")
def guard_train_injection(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV or JSONL files with `text` and `label` (1 = injection)."),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.05,
            max=0.99,
            help="Probability at which a sentence is flagged (default: chosen by 5-fold "
            "cross-validation, see --max-false-positives).",
        ),
    ] = None,
    max_false_positives: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.5, help="Share of your benign examples the chosen threshold may flag."
        ),
    ] = 0.05,
    as_json: JsonOpt = False,
) -> None:
    """Train the injection classifier from your labelled examples (rules always run too).

    Pass several files to train on all of them, e.g. your attacks and a set of benign texts
    that mention "ignore" or "jailbreak" innocently."""
    from steward.guard.injection import INJECTION, train_injection_model
    from steward.models.intents import load_examples

    rt = _runtime()
    texts: list[str] = []
    labels: list[str] = []
    for file in files:
        t, lab = load_examples(file)
        texts += t
        labels += lab
    model = train_injection_model(texts, labels, threshold, max_false_positives=max_false_positives)
    path = rt.settings.policy.injection_model or rt.settings.home / "guard" / "injection"
    model.save(path)
    n_inj = sum(lab.lower() in ("1", "true", INJECTION) for lab in labels)
    summary = {
        "examples": len(texts),
        "injections": n_inj,
        "path": str(path),
        "threshold": round(model.threshold, 4),
        "cross_validation": model.cv,
    }
    if as_json:
        _print_json(summary)
        return
    out.print(f"Trained on {len(texts)} examples ({n_inj} injections); saved to {path}.")
    if model.cv is not None:
        out.print(
            f"Threshold {model.threshold:.3f}, chosen by {model.cv['folds']:.0f}-fold "
            f"cross-validation: it flags "
            f"{model.cv['detection']:.1%} of your injections and "
            f"{model.cv['false_positive_rate']:.1%} of your benign examples out of fold."
        )


@guard_app.command("train-risk")
def guard_train_risk(
    examples: Annotated[
        list[Path],
        typer.Argument(
            help="JSONL files of {text, label}: label none, fraud, vulnerable, emotional or legal."
        ),
    ],
    banking77: Annotated[
        Path | None, typer.Option(help="Banking77 folder (train.csv) to add to the examples.")
    ] = None,
    clinc150: Annotated[
        Path | None, typer.Option(help="CLINC150 folder (data_full.json) to add to the examples.")
    ] = None,
    budget: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.2,
            help="Share of the `none` examples the threshold may hand off out of fold.",
        ),
    ] = 0.01,
    hard_budget: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.5,
            help="Share of the `none` lines of your example files the threshold may hand off "
            "out of fold (they are the near misses).",
        ),
    ] = 0.05,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to save (default: STEWARD_RISK_MODEL or HOME/guard/risk)."
        ),
    ] = None,
    text_only: Annotated[
        bool, typer.Option(help="Word and character n-grams only, no sentence embedding.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train the risk detector (who must be handed to a person) from labelled examples.

    The threshold is chosen by 5-fold cross-validation: the lowest one that hands off at most
    --budget of the `none` examples out of fold. The figures printed are out of fold."""
    from steward.models import risk
    from steward.models.embeddings import vector_space

    rt = _runtime()
    texts: list[str] = []
    labels: list[str] = []
    sources: dict[str, int] = {}
    for file in examples:
        t, lab = risk.load_examples(file)
        texts, labels, sources[file.name] = texts + t, labels + lab, len(t)
    hard = [True] * len(texts)  # your own examples: their `none` lines are near misses
    for name, folder, reader in (
        ("banking77", banking77, risk.banking77),
        ("clinc150", clinc150, risk.clinc150),
    ):
        if folder is not None:
            t, lab = reader(folder)
            texts, labels, sources[name] = texts + t, labels + lab, len(t)
            hard += [False] * len(t)
    vectors, embedder_id = None, ""
    if not text_only:
        vectors, embedder_id = rt.embedder.embed(texts), vector_space(rt.embedder)
    model, figures = risk.train(
        texts,
        labels,
        vectors,
        embedder_id,
        budget=budget,
        sources=sources,
        hard=hard,
        hard_budget=hard_budget,
    )
    path = out_path or rt.settings.policy.risk_model or rt.settings.home / "guard" / "risk"
    model.save(path)
    summary = {"path": str(path), "embedder": embedder_id, **figures}
    if as_json:
        _print_json(summary)
        return
    recall = ", ".join(f"{k} {v:.1%}" for k, v in dict(figures["cv_recall"]).items())  # type: ignore[call-overload]
    out.print(
        f"Trained on {len(texts)} examples; saved to {path}. Threshold {model.threshold:.3f} "
        f"(5-fold cross-validation): out of fold it hands off {recall} and "
        f"{figures['cv_false_escalation_rate']:.1%} of the `none` examples."
    )


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
    from steward.models.intents import load_examples, train

    rt = _runtime()
    texts, labels = load_examples(file)
    with _progress() as bar:
        bar.add_task(f"training on {len(texts)} examples", total=None)
        model = train(texts, labels, rt.embedder, threshold=threshold)
    path = rt.settings.policy.intent_model or rt.settings.home / "intents" / "model"
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
    from steward.models.intents import evaluate, load_examples

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
    from steward.identity.auth import principal_for

    return principal_for(rt.store, as_user) if as_user else _local_admin()


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
def cache_stats(
    hours: Annotated[float, typer.Option(min=0.001, max=24 * 366, help="Window, in hours.")] = 24.0,
    as_json: JsonOpt = False,
) -> None:
    """Hit rate and time saved over the last hours, across every replica (from the audit
    trail), and the entries cached now."""
    from datetime import UTC, datetime, timedelta

    from steward.pipeline.cache import report

    data = report(_runtime().store, datetime.now(UTC) - timedelta(hours=hours))
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
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="A directory group whose team file applies (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The policy in force for a center and groups (default file, center file, team files)."""
    rt = _runtime()
    known = rt.policies.centers()
    if center is not None and center not in known:
        # Not the default's rules under another name: a typo must not look like a policy.
        listed = ", ".join(known) or "none (import the directory first)"
        fail(f"Unknown center {center[:64]!r}; the directory's centers: {listed}.")
    groups = rt.policies.groups()
    for g in group or []:
        if g not in groups:
            listed = ", ".join(groups) or "none (import the directory first)"
            fail(f"Unknown group {g[:64]!r}; the directory's groups: {listed}.")
    p = rt.policies.for_center(center, groups=group or [])
    data = {
        k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
        for k, v in p.__dict__.items()
    }
    data["errors"] = rt.policies.errors
    if as_json:
        _print_json(data)
        return
    for k, v in data.items():
        out.print(f"{k:>22}  {_plain(v)}", markup=False)


def _plain(value: object) -> str:
    """A policy value as an operator reads it: lists comma-separated, ``none`` for nothing
    (not Python's ``('fraud', ...)``, ``()`` or ``None``)."""
    if value is None or value in ((), [], {}):
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)
