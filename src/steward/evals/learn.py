"""Learning from reviewers: their verdicts and corrections become training examples for the
learned detectors, which are retrained and offered as a new profile version (docs/profiles.md,
"Learning from corrections").

What becomes an example (masked text only, as the audit trail holds it):

- an answer a reviewer marked **right**: its question is a ``none`` example for the risk
  detector (nobody had to take it over), a ``benign`` one for the injection classifier, and an
  example of the intent it was read as (when an intent model read one);
- a hand-off whose reply a reviewer saved as a correction, handed off for a risk reason
  (fraud, vulnerable, emotional, legal): the question handed off is an example of that reason
  for the risk detector.

Each detector is retrained by its own trainer (the same functions as ``steward intent train``,
``steward guard train-risk`` and ``steward guard train-injection``) on its base examples, the
files under ``HOME/training/<detector>/`` (the ones it was trained with), plus these. A detector
with no base examples, no reviewer example, or too few for its trainer's cross-validation is
skipped, with the reason. Answerability (answering/answerability.py) is rules, with nothing to
fit. The new models are written under ``HOME/models/learned-<timestamp>/`` and a new draft
version (``source: learn``, parent the active version) points at them; it is published, gated
and approved like any other version before it answers anyone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from steward import audit
from steward.core.errors import InputError
from steward.evals.sets import handed_off
from steward.identity.authz import Permission
from steward.profiles.shadow import replayed_question
from steward.store.models import AuditRecord, Correction, ReviewItem, Ticket

if TYPE_CHECKING:
    from steward.identity.auth import Principal
    from steward.runtime import Runtime

log = logging.getLogger(__name__)

DETECTORS = ("intents", "risk", "injection")  # HOME/training/<name>/ and the model's file name
SETTING = {"intents": "intent_model", "risk": "risk_model", "injection": "injection_model"}
SUFFIXES = {
    "intents": (".csv", ".jsonl", ".json"),
    "risk": (".jsonl",),
    "injection": (".csv", ".jsonl"),
}
CHUNK = 500
ANSWERABILITY = "rules (answering/answerability.py): nothing to fit"


@dataclass
class Learned:
    """Reviewers' examples per detector, and how many records they came from."""

    examples: dict[str, tuple[list[str], list[str]]] = field(
        default_factory=lambda: {d: ([], []) for d in DETECTORS}
    )
    counts: dict[str, int] = field(default_factory=lambda: {"right": 0, "corrections": 0})

    def add(self, detector: str, text: str, label: str) -> None:
        texts, labels = self.examples[detector]
        texts.append(text)
        labels.append(label)


def gather(rt: Runtime, since: timedelta) -> Learned:
    """The reviewers' examples of the last ``since`` (module docstring)."""
    from steward.guard.injection import BENIGN
    from steward.models.intents import UNKNOWN
    from steward.models.risk import LABELS, NONE

    start = (datetime.now(UTC) - since).replace(tzinfo=None)
    out = Learned()
    with rt.store.read() as s:
        ids = list(
            s.scalars(
                select(ReviewItem.audit_id).where(
                    ReviewItem.verdict == "right", ReviewItem.reviewed_at >= start
                )
            )
        )
        rows = []
        for i in range(0, len(ids), CHUNK):
            q = select(AuditRecord.question, AuditRecord.settings).where(
                AuditRecord.id.in_(ids[i : i + CHUNK])
            )
            rows += list(s.execute(q))
        saved = list(
            s.execute(
                select(
                    Correction.question,
                    Correction.escalation_reason,
                    Ticket.reason,
                    AuditRecord.question.label("handed_off"),
                )
                .join(Ticket, Ticket.id == Correction.ticket_id)
                .outerjoin(AuditRecord, AuditRecord.id == Ticket.audit_id)
                .where(Correction.created_at >= start)
            )
        )
    for row in rows:
        text = replayed_question(row.question or "")
        if not text.strip():
            continue
        out.counts["right"] += 1
        out.add("risk", text, NONE)
        out.add("injection", text, BENIGN)
        intent = (row.settings or {}).get("intent")
        if isinstance(intent, str) and intent and intent != UNKNOWN:
            out.add("intents", text, intent)
    for first_turn, reason, ticket_reason, logged in saved:
        label = reason or ticket_reason
        text = handed_off(logged, first_turn)
        if label in LABELS and text.strip():
            out.counts["corrections"] += 1
            out.add("risk", text, label)
    return out


def base_examples(detector: str, folder: Path) -> tuple[list[str], list[str]]:
    """Every example file under ``folder`` (sorted by name), read by the detector's own
    loader; InputError for a file that is not one."""
    from steward.models import intents, risk

    load = risk.load_examples if detector == "risk" else intents.load_examples
    texts: list[str] = []
    labels: list[str] = []
    if not folder.is_dir():
        return texts, labels
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in SUFFIXES[detector]:
            t, lab = load(path)
            texts, labels = texts + t, labels + lab
    return texts, labels


def _train_intents(rt: Runtime, texts: list[str], labels: list[str], path: Path) -> dict[str, Any]:
    from steward.models.intents import train

    threshold = rt.intents.threshold if rt.intents is not None else 0.35
    model = train(texts, labels, rt.embedder, threshold=threshold)
    model.save(path)
    return {"labels": len(model.labels), "threshold": threshold}


def _train_risk(
    rt: Runtime, texts: list[str], labels: list[str], path: Path, n_base: int
) -> dict[str, Any]:
    from steward.models import risk
    from steward.models.embeddings import vector_space

    # As `steward guard train-risk` reads the operator's own files: every example is hard
    # (its `none` lines are near misses), with the sentence embedding of this deployment.
    vectors, space = rt.embedder.embed(texts), vector_space(rt.embedder)
    sources = {"base": n_base, "reviewers": len(texts) - n_base}
    model, figures = risk.train(
        texts, labels, vectors, space, sources=sources, hard=[True] * len(texts)
    )
    model.save(path)
    return {"threshold": figures["threshold"], "cv_recall": figures["cv_recall"]}


def _train_injection(
    rt: Runtime, texts: list[str], labels: list[str], path: Path
) -> dict[str, Any]:
    from steward.guard.injection import train_injection_model

    model = train_injection_model(texts, labels)
    model.save(path)
    return {"threshold": round(model.threshold, 4), "cross_validation": model.cv}


def _train(
    rt: Runtime, name: str, texts: list[str], labels: list[str], path: Path, n_base: int
) -> dict[str, Any]:
    """Fit detector ``name`` with its own trainer, save it at ``path``; its figures."""
    if name == "intents":
        return _train_intents(rt, texts, labels, path)
    if name == "risk":
        return _train_risk(rt, texts, labels, path, n_base)
    return _train_injection(rt, texts, labels, path)


def _folder(home: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = home / "models" / f"learned-{stamp}"
    n = 2
    while folder.exists():
        folder, n = home / "models" / f"learned-{stamp}-{n}", n + 1
    return folder


def learn(
    rt: Runtime, who: Principal, since: timedelta, *, base: Path | None = None
) -> dict[str, Any]:
    """Retrain each detector on its base examples plus the reviewers' of the last ``since``,
    and make a draft profile version that uses the new models (operators and up). Returns
    what was done: the version (None when no detector could be retrained), each detector's
    outcome or the reason it was skipped."""
    rt.authz.authorize(who, Permission.MANAGE_PROFILES, "profiles")
    if since <= timedelta(0):
        raise InputError("The period must be more than 0.")
    home = rt.settings.home
    base = base or home / "training"
    learned = gather(rt, since)
    folder = _folder(home)
    detectors: dict[str, dict[str, Any]] = {
        "answerability": {"status": "skipped", "reason": ANSWERABILITY},
    }
    paths: dict[str, str] = {}
    for name in DETECTORS:
        more_texts, more_labels = learned.examples[name]
        texts, labels = base_examples(name, base / name)
        n_base = len(texts)
        if not more_texts:
            detectors[name] = {"status": "skipped", "reason": "no reviewer example for it"}
            continue
        if not texts:
            detectors[name] = {
                "status": "skipped",
                "reason": f"no base examples in {base / name} (put the files it was trained "
                "with there)",
            }
            continue
        try:
            figures = _train(
                rt, name, texts + more_texts, labels + more_labels, folder / name, n_base
            )
        except InputError as exc:
            detectors[name] = {"status": "skipped", "reason": f"too few examples: {exc.message}"}
            continue
        paths[name] = str(folder / name)
        detectors[name] = {
            "status": "retrained",
            "base": n_base,
            "reviewers": len(more_texts),
            "path": paths[name],
            **figures,
        }
    result: dict[str, Any] = {
        "version": None,
        "parent": None,
        "path": None,
        "since_hours": since / timedelta(hours=1),
        "records": learned.counts,
        "detectors": detectors,
    }
    if not paths:
        return result
    parent = rt.profiles.active_version(None)
    body = dict(rt.profiles.show(who, parent)["body"])
    body["policy"] = {**body.get("policy", {}), **{SETTING[d]: p for d, p in paths.items()}}
    retrained = ", ".join(sorted(paths))
    raw = {
        **body,
        "label": f"learned from reviewers ({retrained})",
        "note": f"steward learn: {learned.counts['right']} right verdicts, "
        f"{learned.counts['corrections']} saved corrections",
    }
    info = rt.profiles.create(who, raw, parent=parent, source="learn")
    result |= {"version": info.version, "parent": parent, "path": str(folder)}
    counts = {
        d: {k: v for k, v in o.items() if k in ("status", "base", "reviewers")}
        for d, o in detectors.items()
    }
    event = audit.AuditEvent(
        audit.Kind.DETECTORS_RETRAINED,
        actor=who.user_id,
        target=f"profile:{info.version}",
        payload={
            "version": info.version,
            "parent": parent,
            "detectors": counts,
            "records": learned.counts,
            "folder": folder.name,
        },
        channel="cli" if who.via == "cli" else "service",
        groups=tuple(sorted(who.groups)),
        center=who.center,
    )
    with rt.store.write() as (s, _):
        audit.record(rt.store, event, session=s)
    log.info("detectors retrained", extra={"version": info.version, "detectors": retrained})
    return result
