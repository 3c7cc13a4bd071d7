"""Spend against the monthly budgets, and the cost per model (operators; operations/budgets.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.operations.budgets import MONTH
from steward.runtime import Runtime
from steward.web.deps import allowed, runtime
from steward.web.errors import responses

router = APIRouter(tags=["operations"])
ERRORS = responses(400, 401, 403, 422, 500)


class BudgetOut(BaseModel):
    budget: str  # center:NAME | usecase:NAME
    kind: Literal["center", "use_case"]
    name: str
    intents: list[str]
    monthly_usd: float
    spent_usd: float
    percent: float
    level: int  # the highest threshold of alert_at reached this month (0: none)
    hard_stop: bool
    degrade_to: str
    degrading: bool  # answers in its scope are written by degrade_to now
    unpriced: int  # its requests whose model has no price (the spend is at least this)


class ModelCostOut(BaseModel):
    model: str
    cost_usd: float


class CostsOut(BaseModel):
    """One month's spend (USD): each budget's standing and the cost per model."""

    month: str
    currency: Literal["USD"]
    total_usd: float
    unpriced: int
    alert_at: list[int]
    budgets: list[BudgetOut]
    models: list[ModelCostOut]


@router.get("/v1/costs", response_model=CostsOut, responses=ERRORS)
async def get_costs(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(allowed(Permission.VIEW_COSTS))],
    month: Annotated[
        str | None, Query(pattern=MONTH.pattern, description="YYYY-MM (default: this month).")
    ] = None,
) -> CostsOut:
    """Spend, budget, percent and level of each monthly budget, and the cost per model
    (operators). This month's figures are read afresh, and a threshold crossed is recorded."""
    data = await run_in_threadpool(rt.budgets.status, who, month)
    return CostsOut.model_validate(data)
