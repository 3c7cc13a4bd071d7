"""POST /v1/search: permitted passages for a query, best first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal
from steward.retrieval.service import MAX_K, search
from steward.runtime import Runtime
from steward.web.deps import principal, runtime
from steward.web.errors import AUTHED, NOT_BLANK


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("k must be a whole number, not true or false")
    return value


class SearchRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str
    # JSON Schema's integer: 5.0 is one, true is not (pydantic's lax mode would read it as 1).
    k: Annotated[int, BeforeValidator(_not_a_bool)] = Field(default=10, ge=1, le=MAX_K)


def request_model(max_chars: int) -> type[SearchRequestBase]:
    """The request body, with the configured length limit written into the OpenAPI spec."""
    return create_model(
        "SearchRequest",
        __base__=SearchRequestBase,
        query=(str, Field(min_length=1, max_length=max_chars, pattern=NOT_BLANK)),
    )


class SearchHitOut(BaseModel):
    doc_id: str
    chunk_id: int
    title: str
    heading: str
    score: float
    text: str


class SearchResponse(BaseModel):
    hits: list[SearchHitOut]


def make_router(max_chars: int) -> APIRouter:
    router = APIRouter(tags=["search"])

    async def search_endpoint(
        body: SearchRequestBase,
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
    ) -> SearchResponse:
        """Passages the asker may read that match the query (the permission filter runs
        inside the rankers, so nothing else is ever scored)."""
        hits = await run_in_threadpool(search, rt, who, body.query, body.k)
        return SearchResponse(hits=[SearchHitOut.model_validate(h.as_dict()) for h in hits])

    # The body model carries this deployment's length limit into validation and the spec.
    search_endpoint.__annotations__["body"] = request_model(max_chars)
    router.post("/v1/search", response_model=SearchResponse, responses=AUTHED)(search_endpoint)
    return router
