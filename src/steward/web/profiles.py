"""Assistant profile versions over HTTP (profiles/registry.py): list, show, diff, write,
publish, approve, activate and roll back. Reviewers read and approve; operators write and
activate; askers see none of it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.profiles.registry import EVERYWHERE, Info, Scope
from steward.runtime import Runtime
from steward.web.deps import allowed, runtime
from steward.web.errors import NOT_BLANK, responses

router = APIRouter(tags=["assistant profiles"])
ERRORS = responses(400, 401, 403, 404, 409, 422)
reads = allowed(Permission.READ_PROFILES)
approves = allowed(Permission.APPROVE_PROFILES)
manages = allowed(Permission.MANAGE_PROFILES)
Version = Annotated[int, Path(ge=1, le=1_000_000, description="A profile version.")]
ScopeName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=NOT_BLANK,
        description="A center id, or `*` for every center without its own version.",
    ),
]


class VersionOut(BaseModel):
    version: int
    label: str
    status: str = Field(description="draft or published.")
    source: str = Field(description="configuration, file or learn.")
    author: str
    digest: str = Field(description="sha256 of the version's settings.")
    created_at: str
    published_at: str | None
    active_in: list[str] = Field(description="Scopes where it answers.")
    canary_in: list[str] = Field(description="Scopes where it answers a canary share.")


class ScopeOut(BaseModel):
    version: int
    previous: int | None
    canary_version: int | None
    canary_percent: int


class ProfilesOut(BaseModel):
    versions: list[VersionOut]
    scopes: dict[str, ScopeOut] = Field(description="Scope -> what answers there.")


class ProfileIn(BaseModel):
    """A profile: overrides of the settings that shape answers (docs/profiles.md)."""

    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=120)
    note: str = Field(default="", max_length=2000)
    answering: dict[str, Any] | None = None
    retrieval: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    parent: int | None = Field(
        default=None, ge=1, le=1_000_000, description="The version it derives from."
    )


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: ScopeName = EVERYWHERE
    note: str = Field(default="", max_length=2000)


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: ScopeName = EVERYWHERE
    override: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=NOT_BLANK,
        description="Admins only: activate without a gate and approval, for this reason.",
    )


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: ScopeName = EVERYWHERE
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


class ApprovalOut(BaseModel):
    approval_id: str


def _v(info: Info) -> VersionOut:
    return VersionOut.model_validate(info.as_dict())


def _s(scope: Scope) -> ScopeOut:
    return ScopeOut.model_validate(scope.__dict__)


@router.get("/v1/profiles", response_model=ProfilesOut, responses=ERRORS)
async def list_profiles(
    rt: Annotated[Runtime, Depends(runtime)], who: Annotated[Principal, Depends(reads)]
) -> ProfilesOut:
    """Every version, and what answers in each scope (reviewers and above)."""

    def go() -> ProfilesOut:
        versions = [_v(i) for i in rt.profiles.versions(who)]
        scopes = {k: ScopeOut.model_validate(v) for k, v in rt.profiles.scopes(who).items()}
        return ProfilesOut(versions=versions, scopes=scopes)

    return await run_in_threadpool(go)


@router.get("/v1/profiles/{version}", responses=ERRORS)
async def show_profile(
    version: Version,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads)],
) -> dict[str, Any]:
    """One version: its settings, its snapshot when made, and any drift since."""
    return await run_in_threadpool(rt.profiles.show, who, version)


@router.get("/v1/profiles/{a}/diff/{b}", responses=ERRORS)
async def diff_profiles(
    a: Version,
    b: Version,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(reads)],
) -> list[dict[str, Any]]:
    """Each setting and file that differs between two versions."""
    return await run_in_threadpool(rt.profiles.diff, who, a, b)


@router.post("/v1/profiles", response_model=VersionOut, status_code=201, responses=ERRORS)
async def create_profile(
    body: ProfileIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> VersionOut:
    """A new draft version (operators)."""
    raw = body.model_dump(exclude={"parent"}, exclude_none=True)
    return _v(await run_in_threadpool(lambda: rt.profiles.create(who, raw, parent=body.parent)))


@router.post("/v1/profiles/{version}/publish", response_model=VersionOut, responses=ERRORS)
async def publish_profile(
    version: Version,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> VersionOut:
    """Make a draft immutable, ready for its gate."""
    return _v(await run_in_threadpool(rt.profiles.publish, who, version))


@router.post(
    "/v1/profiles/{version}/approve",
    response_model=ApprovalOut,
    status_code=201,
    responses=ERRORS,
)
async def approve_profile(
    version: Version,
    body: ApproveIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(approves)],
) -> ApprovalOut:
    """Approve a version for a scope (a reviewer other than its author, after a passing
    gate)."""

    def go() -> str:
        return rt.profiles.approve(who, version, scope=body.scope, note=body.note)

    return ApprovalOut(approval_id=await run_in_threadpool(go))


@router.post("/v1/profiles/{version}/activate", response_model=ScopeOut, responses=ERRORS)
async def activate_profile(
    version: Version,
    body: ActivateIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> ScopeOut:
    """Make a version answer in a scope (every replica within seconds)."""

    def go() -> Scope:
        return rt.profiles.activate(who, version, scope=body.scope, override=body.override)

    return _s(await run_in_threadpool(go))


@router.post("/v1/profiles/rollback", response_model=ScopeOut, responses=ERRORS)
async def rollback_profile(
    body: RollbackIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> ScopeOut:
    """Put back the version that answered in a scope before the current one."""

    def go() -> Scope:
        return rt.profiles.rollback(who, scope=body.scope, reason=body.reason)

    return _s(await run_in_threadpool(go))


class CanaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: ScopeName = EVERYWHERE
    percent: int = Field(ge=0, le=50, description="Share of conversations; 0 ends the canary.")
    override: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=NOT_BLANK,
        description="Admins only: without a passing gate, for this reason.",
    )


class ShadowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate: int = Field(ge=1, le=1_000_000, description="The profile version to try.")
    since: str = Field(default="7d", max_length=8, description="Window, e.g. `7d`, `24h`.")
    center: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    limit: int = Field(default=1000, ge=1, le=10_000)


@router.post("/v1/profiles/{version}/canary", response_model=ScopeOut, responses=ERRORS)
async def canary_profile(
    version: Version,
    body: CanaryIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> ScopeOut:
    """Send a share of a scope's conversations to a version, sticky per conversation (needs a
    passing gate); 0 ends it. The server ends it by itself when a guard metric crosses."""

    def go() -> Scope:
        return rt.profiles.set_canary(
            who, version, scope=body.scope, percent=body.percent, override=body.override
        )

    return _s(await run_in_threadpool(go))


@router.get("/v1/canaries", responses=ERRORS)
async def list_canaries(
    rt: Annotated[Runtime, Depends(runtime)], who: Annotated[Principal, Depends(reads)]
) -> list[dict[str, Any]]:
    """Every running canary's live figures beside the active version's."""
    from steward.profiles import canary

    return await run_in_threadpool(canary.side_by_side, rt, who)


@router.post("/v1/shadow", status_code=201, responses=ERRORS)
async def shadow_replay(
    body: ShadowIn,
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Principal, Depends(manages)],
) -> dict[str, Any]:
    """Replay logged masked questions of a window against a candidate, shown to no one; the
    run is stored (kind `shadow`) and its figures returned."""
    from steward.operations.report import parse_since
    from steward.profiles.shadow import shadow

    window = parse_since(body.since)

    def go() -> dict[str, Any]:
        return shadow(rt, who, body.candidate, window, center=body.center, limit=body.limit)

    return await run_in_threadpool(go)
