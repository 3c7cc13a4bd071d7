"""Dependencies: the runtime, the authenticated principal, and the permission a route needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal, authenticate
from steward.identity.authz import Permission
from steward.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def principal(
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    return await run_in_threadpool(
        authenticate, rt.store, authorization, rt.verifier, rt.settings.identity.anonymous_group
    )


def allowed(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets the request through only if its principal holds ``permission``
    (authenticated first, so no credentials is a 401 before any 403); the resource a denial
    names is the requested path."""

    async def check(
        request: Request,
        rt: Annotated[Runtime, Depends(runtime)],
        who: Annotated[Principal, Depends(principal)],
    ) -> Principal:
        # In a worker thread: a denial writes its audit event to the store.
        await run_in_threadpool(rt.authz.authorize, who, permission, request.url.path)
        return who

    return check
