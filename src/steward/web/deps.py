"""Dependencies: the runtime, the authenticated principal, and the permission a route needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.identity.limits import RateLimiter
from steward.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# Declares the bearer scheme in the OpenAPI document; auto_error off, so the credentials are
# still checked (and a missing or bad one answered 401 in our error shape) by authenticate.
BEARER = HTTPBearer(auto_error=False, description="An API key (`stw_...`) or an OIDC JWT.")


async def principal(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    # Read raw (authenticate also refuses schemes other than Bearer in our error shape); the
    # bearer scheme above is what the OpenAPI document declares, so not a header parameter too.
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    # Counted: failed logins per client address (429 past the threshold), requests per key,
    # user and center (identity/limits.py); the counters are in the store, shared by replicas.
    limiter: RateLimiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    return await run_in_threadpool(
        limiter.authenticate,
        authorization,
        client,
        rt.verifier,
        rt.settings.identity.anonymous_group,
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
