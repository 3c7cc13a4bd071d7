"""Stored evaluation runs and release gates over HTTP (evals/runs.py, evals/gate.py).

Reviewers and up read runs; operators and up run them and gate candidates. A run asks every
question through the answer path, so it runs synchronously in a worker thread and is capped at
:data:`MAX_QUESTIONS` questions per request (larger sets: ``steward eval run``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.evals.gate import load_tolerances
from steward.evals.runner import Question
from steward.evals.runs import MAX_LIST, result_dict, run_dict
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.store.models import EvalRun
from steward.web.deps import allowed, runtime
from steward.web.errors import NOT_BLANK, responses

router = APIRouter(tags=["evaluation"])
ERRORS = responses(400, 401, 403, 404, 413, 422, 500)
MAX_QUESTIONS = 500
MAX_VERSION = 2**31 - 1  # the store's integer column
reads = allowed(Permission.READ_PROFILES)
# Checked before the body is read: a caller without the grant is refused (and the refusal
# audited) whatever they sent; the service checks again (deny by default, every path).
manages = allowed(Permission.MANAGE_PROFILES)

SetName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=rf"^{NOT_BLANK}",
        description="A label for the question set (kept, masked).",
    ),
]
Questions = Annotated[
    list[Question],
    Field(
        min_length=1,
        max_length=MAX_QUESTIONS,
        description="Questions in the Meridian format (docs/evaluation.md).",
    ),
]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questions: Questions
    profile_version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Answer as this version (default: each asker's active).",
    )
    set_name: SetName = "http"


class GateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baseline_run_id: str = Field(min_length=1, max_length=26, pattern=r"^[0-9A-Za-z]+$")
    candidate_version: int = Field(ge=1, le=MAX_VERSION)
    questions: Questions
    set_name: SetName = "http"


class RunOut(BaseModel):
    id: str
    kind: str = Field(description="run | gate | shadow")
    profile_version: int | None
    set_name: str
    set_digest: str
    questions: int
    figures: dict[str, Any] = Field(description="The run's figures (docs/evaluation.md).")
    baseline_run_id: str | None
    verdict: str | None = Field(description="A gate's: pass | fail.")
    comparison: dict[str, Any] | None = Field(
        description="A gate's: changed questions, the paired test, each tolerance's result."
    )
    author: str
    created_at: str


class ResultOut(BaseModel):
    qid: str
    kind: str
    expected: str
    action: str
    correct: bool | None = Field(description="null where the answer is withheld from you.")
    leak: bool
    audit_id: str | None
    detail: dict[str, Any] = Field(description="Masked outcome: ids, scores, tokens, cost.")


class RunDetailOut(RunOut):
    results: list[ResultOut]


def _out(run: EvalRun) -> RunOut:
    return RunOut.model_validate(run_dict(run))


@router.get("/v1/eval/runs", response_model=list[RunOut], responses=ERRORS)
async def list_runs(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 20,
) -> list[RunOut]:
    """Stored evaluation runs, newest first (reviewers and up)."""
    rows = await run_in_threadpool(rt.evals.runs, who, limit)
    return [_out(r) for r in rows]


@router.get("/v1/eval/runs/{run_id}", response_model=RunDetailOut, responses=ERRORS)
async def show_run(
    run_id: str,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads)],
) -> RunDetailOut:
    """One run with each question's masked outcome (reviewers and up)."""
    run, results = await run_in_threadpool(rt.evals.show, who, run_id)
    return RunDetailOut.model_validate(
        {**run_dict(run), "results": [result_dict(r) for r in results]}
    )


@router.post("/v1/eval/runs", response_model=RunOut, status_code=201, responses=ERRORS)
async def create_run(
    body: RunIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> RunOut:
    """Run a question set and store the run (operators and up); answers before it returns."""

    def go() -> EvalRun:
        return rt.evals.run(
            who, body.questions, profile_version=body.profile_version, set_name=body.set_name
        )

    return _out(await run_in_threadpool(go))


@router.post("/v1/eval/gate", response_model=RunOut, status_code=201, responses=ERRORS)
async def create_gate(
    body: GateIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> RunOut:
    """Gate a candidate version on a baseline run's questions (operators and up): the stored
    gate run, its verdict and comparison (the tolerances: STEWARD_EVAL_TOLERANCES)."""

    def go() -> EvalRun:
        tol = load_tolerances(rt.settings.control.eval_tolerances)
        return rt.evals.gate(
            who,
            body.baseline_run_id,
            body.candidate_version,
            body.questions,
            tol,
            set_name=body.set_name,
        )

    return _out(await run_in_threadpool(go))
