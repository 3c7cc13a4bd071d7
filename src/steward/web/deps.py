"""Dependencies: the runtime and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal, authenticate
from steward.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def principal(
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    return await run_in_threadpool(
        authenticate, rt.store, authorization, rt.verifier, rt.settings.anonymous_group
    )


async def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
    who.require("operator")
    return who
