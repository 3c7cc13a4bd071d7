"""Evaluation runs, kept: a question set run through one profile version, its figures and each
question's masked outcome stored, so that runs compare with each other and a gate
(:mod:`steward.evals.gate`) can compare a candidate with a baseline question by question.

A run asks every question through the same path as the API (:func:`~steward.evals.runner.
run_eval`, channel ``eval``), so each question also writes its own audit row; the stored result
keeps only what that row already holds in masked form, or ids: the action, the scoring, the
confidence, the cited document ids, the audit id, tokens and cost. Never the question or the
answer text, which may carry what the file's author pasted in.

Figures are those of ``steward eval`` plus groundedness, citation precision, tokens, cost and,
when a judge model is configured, the share of its verdicts that agree with the question file
(docs/evaluation.md defines each).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from ulid import ULID

from steward import audit
from steward.audit.events import Kind
from steward.core.errors import ForbiddenError, InputError, NotFoundError
from steward.evals.runner import ANSWER_KINDS, Question, Scored, doc_key, run_eval
from steward.identity.auth import Principal, principal_for
from steward.identity.authz import Permission
from steward.operations.budgets import cost_of
from steward.operations.rollup import prices
from steward.store.models import AuditRecord, Document, EvalResult, EvalRun

if TYPE_CHECKING:
    from steward.evals.gate import Tolerances
    from steward.runtime import Runtime

# The grounding check drops a sentence with less than this share of its content words in the
# passage it cites (answering/answer.py ``supported``): an answer whose weakest sentence holds
# at least this much has every sentence supported.
GROUNDED_AT = 0.6
MAX_LIST = 500
QID_CHARS = 120
RUN_KINDS = ("run", "gate", "shadow")
Progress = Callable[[Scored], None]


def set_digest(questions: Sequence[Question]) -> str:
    """sha256 of the questions as run, in id order: two runs compare only on the same set."""
    rows = sorted((q.model_dump(mode="json") for q in questions), key=lambda r: str(r["id"]))
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def check_ids(questions: Sequence[Question]) -> None:
    """Results are stored and compared by question id: each must be unique and fit the column."""
    if not questions:
        raise InputError("The question set is empty.")
    seen: set[str] = set()
    for q in questions:
        if not q.id.strip() or len(q.id) > QID_CHARS:
            raise InputError(f"A question id must be 1-{QID_CHARS} characters ({q.id[:40]!r}).")
        if q.id in seen:
            raise InputError(f"Question id {q.id[:40]!r} appears twice; ids must be unique.")
        seen.add(q.id)


@dataclass(frozen=True)
class Executed:
    """A question set run through one runtime, not yet stored."""

    figures: dict[str, Any]
    outcomes: list[EvalResult]  # run_id filled in when stored
    profile_version: int | None


def _cost(row: Any, settings: dict[str, Any], table: dict[str, tuple[float, float]]) -> Any:
    """USD for one answer: what its audit row recorded (None: a model with no price), else
    priced from its tokens as the metrics price it."""
    if "cost_usd" in settings:
        return settings["cost_usd"]
    return cost_of(table, row.provider, row.model, settings.get("route"), settings.get("tokens"))


def _citation_precision(sc: Scored) -> float | None:
    """Of the documents an answer cites, the share the question file names as gold."""
    q, r = sc.question, sc.response
    if q.kind not in ANSWER_KINDS or r.action != "answer" or not q.gold_docs:
        return None
    cited = {doc_key(c.doc_id) for c in r.citations}
    if not cited:
        return None
    return round(len(cited & {doc_key(d) for d in q.gold_docs}) / len(cited), 4)


def detail(sc: Scored, row: Any, table: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """One question's stored outcome: masked fields and ids only (never question or answer)."""
    r = sc.response
    settings: dict[str, Any] = dict(row.settings or {}) if row is not None else {}
    tokens = (int(r.tokens[0] or 0), int(r.tokens[1] or 0))
    grounding = settings.get("grounding")
    judge = settings.get("judge") or {}
    cost = _cost(row, settings, table) if row is not None else 0.0
    return {
        "action": r.action,
        "correct": sc.correct,
        "leak": sc.leak,
        "confidence": r.confidence,
        "escalation_reason": r.escalation_reason,
        "citations": list(dict.fromkeys(c.doc_id for c in r.citations)),
        "audit_id": r.audit_id,
        "tokens": list(tokens),
        "cost_usd": round(float(cost), 8) if isinstance(cost, int | float) else None,
        "grounding": grounding if isinstance(grounding, int | float) else None,
        "grounded": r.action == "answer"
        and isinstance(grounding, int | float)
        and grounding >= GROUNDED_AT,
        "recall_at_5": sc.recall_at_5,
        "citation_recall": sc.citation_recall,
        "citation_precision": _citation_precision(sc),
        "latency_ms": round(r.latency_ms, 2),
        "judge": judge.get("answers") if isinstance(judge, dict) else None,
        "profile": settings.get("profile"),
    }


def _mean(values: Iterable[float | None]) -> float | None:
    have = [float(v) for v in values if v is not None]
    return round(sum(have) / len(have), 4) if have else None


def judge_reference(q: Question, d: dict[str, Any]) -> bool:
    """What the judge's verdict ("the draft answers the question") should be by the question
    file: for an answer shown, whether it holds the expected facts; otherwise whether the
    question should have been answered at all."""
    if d["action"] == "answer":
        return bool(d["correct"]) and q.expected_action == "answer"
    return q.expected_action == "answer"


def extra_figures(
    questions: Sequence[Question], details: Sequence[dict[str, Any]], judged: bool
) -> dict[str, Any]:
    """The figures a stored run adds to ``steward eval``'s."""
    answered = [d for d in details if d["action"] == "answer"]
    costs = [d["cost_usd"] for d in details]
    out: dict[str, Any] = {
        "groundedness": round(sum(bool(d["grounded"]) for d in answered) / len(answered), 4)
        if answered
        else None,
        "citation_precision": _mean(d["citation_precision"] for d in details),
        "tokens_in": sum(int(d["tokens"][0]) for d in details),
        "tokens_out": sum(int(d["tokens"][1]) for d in details),
        "cost_usd": round(sum(c for c in costs if c is not None), 6),
        "unpriced": sum(c is None for c in costs),
    }
    if judged:
        pairs = [
            (d["judge"], judge_reference(q, d))
            for q, d in zip(questions, details, strict=True)
            if d["judge"] is not None
        ]
        out["judge_agreement"] = (
            round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None
        )
    return out


def _rows(rt: Runtime, ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with rt.store.read() as s:
        for start in range(0, len(ids), 500):
            q = select(
                AuditRecord.id, AuditRecord.provider, AuditRecord.model, AuditRecord.settings
            ).where(AuditRecord.id.in_(ids[start : start + 500]))
            out.update({row.id: row for row in s.execute(q)})
    return out


def _profile(version: int | None, details: Sequence[dict[str, Any]], target: Runtime) -> int | None:
    """The version that answered: the one asked for, else the one every audit row names."""
    if version is not None:
        return version
    named = {d["profile"] for d in details}
    if len(named) == 1 and isinstance(next(iter(named)), int):
        return int(next(iter(named)))
    found: int | None = target.profile_version
    return found


class EvalService:
    """Stored evaluation runs: run a set, list runs, show one; gates build on it."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # -- running

    def runtime_for(self, version: int | None) -> Runtime:
        """The runtime that answers as ``version`` (the profile registry's; NotFoundError for
        an unknown one), or with no version this one, which picks each asker's active one."""
        return self.rt if version is None else self.rt.profiles.runtime_for(version)

    def may_ask_as(self, who: Principal, questions: Sequence[Question]) -> None:
        """Refuse a set that asks as someone who may read documents ``who`` may not, unless
        ``who`` holds the auditor grant: a run's figures (accuracy, leaks) would otherwise tell
        them, one chosen answer fact at a time, what those documents say."""
        from steward.audit.view import readable

        if self.rt.authz.permits(who, Permission.AUDITOR):
            return
        with self.rt.store.read() as s:
            every = {str(d) for d in s.scalars(select(Document.doc_id).distinct())}
        mine = readable(self.rt.store, who, every)
        for user in sorted({q.user for q in questions}):
            beyond = readable(self.rt.store, principal_for(self.rt.store, user), every) - mine
            if beyond:
                self.rt.authz.deny(
                    who,
                    "evaluate-as-a-reader-of-more",
                    f"user:{user[:64]}",
                    ForbiddenError(
                        f"Evaluating as {user[:64]} would show you answers from "
                        f"{len(beyond)} document(s) you may not read; an admin or a member of "
                        "the auditor group may run this set."
                    ),
                )

    def execute(
        self, questions: Sequence[Question], version: int | None, progress: Progress | None = None
    ) -> Executed:
        """Ask every question as ``version`` answers; score it; nothing stored yet."""
        check_ids(questions)
        for user in sorted({q.user for q in questions}):
            principal_for(self.rt.store, user)  # an unknown asker stops the run before it starts
        target = self.runtime_for(version)
        target.warm()  # the first question's latency is the pipeline's, not the model loading
        summary, scored = run_eval(target, list(questions), progress)
        rows = _rows(self.rt, [sc.response.audit_id for sc in scored])
        table = prices(self.rt.settings.operations)
        details = [detail(sc, rows.get(sc.response.audit_id), table) for sc in scored]
        figures = {**summary, **extra_figures(questions, details, target.judge is not None)}
        outcomes = [
            EvalResult(
                run_id="",
                qid=sc.question.id,
                kind=sc.question.kind,
                expected=sc.question.expected_action,
                action=sc.response.action,
                correct=sc.correct,
                leak=sc.leak,
                audit_id=sc.response.audit_id,
                detail=d,
            )
            for sc, d in zip(scored, details, strict=True)
        ]
        return Executed(figures, outcomes, _profile(version, details, target))

    def run(
        self,
        who: Principal,
        questions: Sequence[Question],
        *,
        profile_version: int | None = None,
        set_name: str,
        kind: str = "run",
        progress: Progress | None = None,
    ) -> EvalRun:
        """Run a question set (as ``profile_version``, else as configured) and store the run."""
        self.rt.authz.authorize(who, Permission.MANAGE_PROFILES, "eval-runs")
        if kind not in RUN_KINDS:
            raise InputError(f"Unknown run kind {kind[:20]!r}; use one of {', '.join(RUN_KINDS)}.")
        self.may_ask_as(who, questions)
        done = self.execute(questions, profile_version, progress)
        return self.save(who, done, set_name=set_name, digest=set_digest(questions), kind=kind)

    def save(
        self,
        who: Principal,
        done: Executed,
        *,
        set_name: str,
        digest: str,
        kind: str,
        baseline_run_id: str | None = None,
        verdict: str | None = None,
        comparison: dict[str, Any] | None = None,
    ) -> EvalRun:
        """Store a run, its results and its ``eval-run`` audit event in one transaction
        (callers have authorized ``who``)."""
        run = EvalRun(
            id=str(ULID()),
            kind=kind,
            profile_version=done.profile_version,
            set_name=self.rt.masker.mask(set_name).text[:200] or "questions",
            set_digest=digest,
            questions=len(done.outcomes),
            figures=done.figures,
            baseline_run_id=baseline_run_id,
            verdict=verdict,
            comparison=comparison,
            author=who.user_id,
            created_at=datetime.now(UTC),
        )
        with self.rt.store.write() as (s, _):
            s.add(run)
            for o in done.outcomes:
                o.run_id = run.id
                s.add(o)
            s.flush()
            audit.record(self.rt.store, self._event(who, run), session=s)
        return run

    def _event(self, who: Principal, run: EvalRun) -> audit.AuditEvent:
        f = run.figures
        return audit.AuditEvent(
            Kind.EVAL_RUN,
            actor=who.user_id,
            target=f"eval-run:{run.id}",
            decision=run.verdict or "done",
            payload={
                "kind": run.kind,
                "profile_version": run.profile_version,
                "set_name": run.set_name,
                "set_digest": run.set_digest,
                "questions": run.questions,
                "baseline_run_id": run.baseline_run_id,
                "accuracy": f.get("accuracy"),
                "leaks": f.get("leaks"),
            },
            channel="cli" if who.via == "cli" else "service",
            groups=tuple(sorted(who.groups)),
            center=who.center,
        )

    def gate(
        self,
        who: Principal,
        baseline_run_id: str,
        candidate_version: int,
        questions: Sequence[Question],
        tolerances: Tolerances | None = None,
        *,
        set_name: str = "questions",
        progress: Progress | None = None,
    ) -> EvalRun:
        """:func:`steward.evals.gate.gate` on this service."""
        from steward.evals.gate import gate

        return gate(
            self,
            who,
            baseline_run_id,
            candidate_version,
            questions,
            tolerances,
            set_name=set_name,
            progress=progress,
        )

    # -- reading

    def runs(self, who: Principal, limit: int = 20) -> list[EvalRun]:
        """The newest runs first (reviewers and up)."""
        self.rt.authz.authorize(who, Permission.READ_PROFILES, "eval-runs")
        with self.rt.store.read() as s:
            q = select(EvalRun).order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
            return list(s.scalars(q.limit(max(1, min(limit, MAX_LIST)))))

    def show(self, who: Principal, run_id: str) -> tuple[EvalRun, list[EvalResult]]:
        """One run with its per-question results (reviewers and up)."""
        self.rt.authz.authorize(who, Permission.READ_PROFILES, f"eval-run:{run_id[:40]}")
        return self.get(run_id), self._shown(who, self.results(run_id))

    def _shown(self, who: Principal, results: list[EvalResult]) -> list[EvalResult]:
        """Results as ``who`` may see them: a question whose answer cited documents they may
        not read shows no outcome (an operator could otherwise learn a restricted answer by
        asking it as its reader with chosen answer facts and reading "correct")."""
        from steward.audit.view import readable

        cited = {str(d) for r in results for d in (r.detail or {}).get("citations", [])}
        may = readable(self.rt.store, who, cited)
        for r in results:
            if set((r.detail or {}).get("citations", [])) - may:
                r.correct = None  # type: ignore[assignment]  # shown as withheld, never stored
                r.action = "withheld"
                r.detail = {"withheld": "cites documents you may not read"}
        return results

    def get(self, run_id: str) -> EvalRun:
        with self.rt.store.read() as s:
            run = s.get(EvalRun, run_id)
        if run is None:
            raise NotFoundError(f"No evaluation run {run_id[:40]!r}; see `steward eval runs`.")
        return run

    def results(self, run_id: str) -> list[EvalResult]:
        with self.rt.store.read() as s:
            q = select(EvalResult).where(EvalResult.run_id == run_id).order_by(EvalResult.qid)
            return list(s.scalars(q))

    def passing_gate(self, version: int) -> EvalRun | None:
        """The newest gate run of ``version`` that passed (promotion requires one)."""
        with self.rt.store.read() as s:
            q = (
                select(EvalRun)
                .where(
                    EvalRun.kind == "gate",
                    EvalRun.profile_version == version,
                    EvalRun.verdict == "pass",
                )
                .order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
            )
            return s.scalars(q.limit(1)).first()


def run_dict(run: EvalRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind,
        "profile_version": run.profile_version,
        "set_name": run.set_name,
        "set_digest": run.set_digest,
        "questions": run.questions,
        "figures": run.figures,
        "baseline_run_id": run.baseline_run_id,
        "verdict": run.verdict,
        "comparison": run.comparison,
        "author": run.author,
        "created_at": run.created_at.isoformat(),
    }


def result_dict(r: EvalResult) -> dict[str, Any]:
    return {
        "qid": r.qid,
        "kind": r.kind,
        "expected": r.expected,
        "action": r.action,
        "correct": r.correct,
        "leak": r.leak,
        "audit_id": r.audit_id,
        "detail": r.detail,
    }
