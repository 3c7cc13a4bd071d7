"""SCIM 2.0 provisioning (RFC 7643, 7644): an identity provider keeps the directory in sync.

``/scim/v2/Users`` and ``/scim/v2/Groups``: list (``filter=userName eq "x"`` /
``displayName eq "x"``, ``startIndex``, ``count``), get, create (POST), replace (PUT), PATCH
(``active``, names, access, group membership) and DELETE. Deleting a user deactivates them (the
audit trail still names them; their keys and tokens are refused from the next request); deleting
a group removes it and its memberships. Every change goes through the directory's service
methods (:mod:`steward.identity.directory`), so it is one transaction with its audit event.

**Who may provision.** A bearer credential of a directory user holding
:attr:`~steward.identity.authz.Permission.PROVISION` (granted to ``admin``): in practice an API
key of a dedicated user such as ``scim-bot`` with ``access: admin``. A separate SCIM token
setting was rejected: a key already has everything a provisioning secret needs (hashed at rest,
expiry, rotation with grace, immediate revocation, last use, audit of every act under a named
actor), and a refused caller is an ``access-denied`` event like any other.

Mapping: ``userName`` is the directory user id (and the SCIM ``id``); ``displayName`` (else
``name.formatted``, else given and family names), ``title`` (the job role) and ``active`` are
kept; Steward's own ``center`` and ``access`` travel in the extension
``urn:ietf:params:scim:schemas:extension:steward:2.0:User`` (absent on PUT or POST: no center,
``asker``). Attributes Steward does not keep (e-mails, phone numbers, ``externalId``) are
accepted and ignored, so no personal value beyond the id and name is stored. A group's ``id`` is
its ``displayName`` at creation (letters, digits, ``_ . : -``; other characters become ``-``):
name groups in the identity provider after the groups that documents' access lists use.

Errors on these routes use the SCIM error shape (``urn:ietf:params:scim:api:messages:2.0:
Error``), not Steward's own; requests may be ``application/scim+json`` or ``application/json``,
and responses are ``application/scim+json``. The routes stay out of the OpenAPI document: SCIM
clients read the RFCs' schemas and ``/scim/v2/ServiceProviderConfig``, not OpenAPI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from steward.core.errors import InputError, NotFoundError, StewardError
from steward.identity import directory
from steward.identity.auth import Principal
from steward.identity.authz import Permission
from steward.runtime import Runtime
from steward.store.models import Group, User
from steward.web.deps import principal, runtime

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
STEWARD_USER = "urn:ietf:params:scim:schemas:extension:steward:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_COUNT = 200
_GROUP_ID = re.compile(r"[^A-Za-z0-9_.:-]+")
_FILTER = re.compile(r'^\s*([A-Za-z.]+)\s+eq\s+"((?:[^"\\]|\\.){0,200})"\s*$', re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^members\[\s*value\s+eq\s+"([^"]{1,64})"\s*\]$', re.IGNORECASE)


# ------------------------------------------------------------------ errors


class ScimError(StewardError):
    """A refusal with a SCIM ``scimType`` (invalidFilter, invalidPath, mutability, ...)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, scim_type: str | None = "invalidValue", status: int = 400):
        super().__init__(message)
        self.scim_type = scim_type
        self.status = status


class ScimResponse(JSONResponse):
    media_type = "application/scim+json"


def scim_error(status: int, detail: str, scim_type: str | None = None) -> ScimResponse:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ScimResponse(body, status, headers=headers)


def _as_scim(exc: Exception) -> ScimResponse | None:
    if isinstance(exc, ScimError):
        return scim_error(exc.status, exc.message, exc.scim_type)
    if isinstance(exc, directory.DirectoryConflict):
        return scim_error(409, exc.message, "uniqueness")
    if isinstance(exc, InputError):
        return scim_error(400, exc.message, "invalidValue")
    if isinstance(exc, StewardError):
        return scim_error(exc.status if 400 <= exc.status < 600 else 500, exc.message)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        kind = "invalidSyntax" if first.get("type") == "json_invalid" else "invalidValue"
        return scim_error(
            400, f"{where}: {first.get('msg')}" if where else str(first.get("msg")), kind
        )
    if isinstance(exc, StarletteHTTPException):
        return scim_error(exc.status_code, str(exc.detail))
    return None


class ScimRoute(APIRoute):
    """Routes whose errors, authentication and validation included, take the SCIM shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = _as_scim(exc)
                if response is None:
                    raise
                return response

        return scim_handler


Rt = Annotated[Runtime, Depends(runtime)]


async def provisioner(
    request: Request, rt: Rt, who: Annotated[Principal, Depends(principal)]
) -> Principal:
    """The caller, if they hold the provision permission. A denial names the path lowercased
    (``/scim/v2/users``): the audit target keeps lowercase route words and digests the rest."""
    path = request.url.path.lower()
    await run_in_threadpool(rt.authz.authorize, who, Permission.PROVISION, path)
    return who


Provisioner = Annotated[Principal, Depends(provisioner)]
router = APIRouter(
    prefix="/scim/v2",
    route_class=ScimRoute,
    default_response_class=ScimResponse,
    include_in_schema=False,
)


# ------------------------------------------------------------------ request bodies


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class ScimName(_In):
    formatted: str | None = None
    given_name: str | None = None
    family_name: str | None = None


class StewardUserExt(_In):
    center: str | None = None
    access: Literal["asker", "reviewer", "operator", "admin"] | None = None


class ScimUserIn(_In):
    schemas: list[str] = Field(default_factory=list)
    user_name: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)
    name: ScimName | None = None
    title: str | None = Field(default=None, max_length=64)
    active: bool = True
    steward: StewardUserExt | None = Field(default=None, alias=STEWARD_USER)

    def spec(self) -> directory.UserSpec:
        try:
            return directory.UserSpec(
                id=self.user_name,
                display_name=_display_name(self),
                center=self.steward.center if self.steward else None,
                role=self.title,
                access=self.steward.access if self.steward else None,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ScimError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


class ScimMember(_In):
    value: str = Field(min_length=1, max_length=64)


class ScimGroupIn(_In):
    schemas: list[str] = Field(default_factory=list)
    display_name: str = Field(min_length=1, max_length=200)
    members: list[ScimMember] = Field(default_factory=list)


class PatchOperation(_In):
    op: str
    path: str | None = Field(default=None, max_length=300)
    value: Any = None


class PatchRequest(_In):
    schemas: list[str] = Field(default_factory=list)
    operations: list[PatchOperation] = Field(alias="Operations", min_length=1, max_length=100)


def _display_name(body: ScimUserIn) -> str:
    if body.display_name:
        return body.display_name
    name = body.name
    if name is None:
        return ""
    joined = " ".join(p for p in (name.given_name, name.family_name) if p)
    return (name.formatted or joined)[:200]


# ------------------------------------------------------------------ resources


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + router.prefix


def user_resource(user: User, base: str) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA, STEWARD_USER],
        "id": user.id,
        "userName": user.id,
        "displayName": user.display_name,
        "title": user.role,
        "active": user.active,
        "groups": [
            {"value": g.id, "display": g.name, "$ref": f"{base}/Groups/{g.id}"}
            for g in sorted(user.groups, key=lambda g: g.id)
        ],
        STEWARD_USER: {"center": user.center_id, "access": user.access},
        "meta": {"resourceType": "User", "location": f"{base}/Users/{user.id}"},
    }


def group_resource(rt: Runtime, group: Group, base: str, members: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": group.id,
        "displayName": group.name,
        "meta": {"resourceType": "Group", "location": f"{base}/Groups/{group.id}"},
    }
    if members:
        body["members"] = [
            {"value": u.id, "display": u.display_name, "$ref": f"{base}/Users/{u.id}"}
            for u in directory.group_members(rt.store, group.id)
        ]
    return body


def _listing(resources: list[dict[str, Any]], start: int, count: int) -> dict[str, Any]:
    start = max(start, 1)
    count = min(max(count, 0), MAX_COUNT)
    page = resources[start - 1 : start - 1 + count]
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(resources),
        "startIndex": start,
        "itemsPerPage": len(page),
        "Resources": page,
    }


def _filter(text: str | None, attributes: tuple[str, ...]) -> tuple[str, str] | None:
    """``attr eq "value"`` for one of ``attributes`` (case-insensitive names), else 400."""
    if not text:
        return None
    match = _FILTER.match(text)
    names = {a.lower(): a for a in attributes}
    if match is None or match.group(1).lower() not in names:
        raise ScimError(
            f'Only `{" or ".join(attributes)} eq "value"` filters are supported.',
            "invalidFilter",
        )
    return names[match.group(1).lower()], match.group(2).replace('\\"', '"')


def _user(rt: Runtime, user_id: str) -> User:
    user = directory.find_user(rt.store, user_id)
    if user is None:
        raise NotFoundError(f"No user {user_id[:64]!r}.")
    return user


def _group(rt: Runtime, group_id: str) -> Group:
    group = directory.find_group(rt.store, group_id)
    if group is None:
        raise NotFoundError(f"No group {group_id[:64]!r}.")
    return group


# ------------------------------------------------------------------ discovery


@router.get("/ServiceProviderConfig")
def service_provider_config(who: Provisioner) -> dict[str, Any]:
    """What this service provider supports (RFC 7643 section 5)."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer",
                "description": "A Steward API key of a user holding the provision permission.",
            }
        ],
    }


# ------------------------------------------------------------------ users


@router.get("/Users")
def list_users(
    request: Request,
    rt: Rt,
    who: Provisioner,
    filter: str | None = None,  # the RFC's parameter name
) -> dict[str, Any]:
    match = _filter(filter, ("userName", "id"))
    start, count = _page(request)
    users = directory.list_users(rt.store)
    if match is not None:
        users = [u for u in users if u.id == match[1]]
    base = _base(request)
    return _listing([user_resource(u, base) for u in users], start, count)


@router.get("/Users/{user_id}")
def get_user(request: Request, rt: Rt, who: Provisioner, user_id: str) -> dict[str, Any]:
    return user_resource(_user(rt, user_id), _base(request))


@router.post("/Users", status_code=201)
def create_user(request: Request, rt: Rt, who: Provisioner, body: ScimUserIn) -> ScimResponse:
    user = directory.create_user(
        rt.store, body.spec(), actor=who.user_id, channel="api", active=body.active
    )
    resource = user_resource(user, _base(request))
    return ScimResponse(resource, 201, headers={"Location": resource["meta"]["location"]})


@router.put("/Users/{user_id}")
def replace_user(
    request: Request, rt: Rt, who: Provisioner, user_id: str, body: ScimUserIn
) -> dict[str, Any]:
    _user(rt, user_id)
    if body.user_name != user_id:
        raise ScimError("userName cannot change: it is the user's id.", "mutability")
    spec = body.spec()
    changes = {
        "display_name": spec.display_name,
        "role": spec.role,
        "center": spec.center,
        "access": spec.access,
        "active": body.active,
    }
    user = directory.update_user(rt.store, user_id, changes, actor=who.user_id, channel="api")
    return user_resource(user, _base(request))


@router.patch("/Users/{user_id}")
def patch_user(
    request: Request, rt: Rt, who: Provisioner, user_id: str, body: PatchRequest
) -> dict[str, Any]:
    _user(rt, user_id)
    changes: dict[str, Any] = {}
    for operation in body.operations:
        changes.update(_user_changes(user_id, operation))
    user = directory.update_user(rt.store, user_id, changes, actor=who.user_id, channel="api")
    return user_resource(user, _base(request))


_USER_PATHS = {
    "active": "active",
    "displayname": "display_name",
    "title": "role",
    "name.formatted": "display_name",
    f"{STEWARD_USER.lower()}:center": "center",
    f"{STEWARD_USER.lower()}:access": "access",
}


def _op(operation: PatchOperation) -> str:
    op = operation.op.lower()
    if op not in ("add", "replace", "remove"):
        raise ScimError(f"Unknown PATCH op {operation.op[:20]!r}: add, replace or remove.")
    return op


def _flatten(value: Any) -> dict[str, Any]:
    """A path-less operation's value as ``{path: value}`` (the extension's keys nested)."""
    if not isinstance(value, dict):
        raise ScimError("A PATCH operation without a path needs an object value.")
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if key.lower() == STEWARD_USER.lower() and isinstance(item, dict):
            flat.update({f"{STEWARD_USER}:{k}": v for k, v in item.items()})
        else:
            flat[key] = item
    return flat


def _user_changes(user_id: str, operation: PatchOperation) -> dict[str, Any]:
    op = _op(operation)
    pairs = {operation.path: operation.value} if operation.path else _flatten(operation.value)
    changes: dict[str, Any] = {}
    for path, value in pairs.items():
        key = path.lower()
        if key == "username":
            if value != user_id:
                raise ScimError("userName cannot change: it is the user's id.", "mutability")
            continue
        field = _USER_PATHS.get(key)
        if field is None:
            continue  # an attribute Steward does not keep (emails, externalId, ...): ignored
        if op == "remove":
            if field == "active":
                raise ScimError("`active` cannot be removed; replace it with false.", "mutability")
            value = None
        if field == "active":
            value = _boolean(value)
        elif value is not None and not isinstance(value, str):
            raise ScimError(f"{path[:60]} must be a string.")
        changes[field] = value
    return changes


def _boolean(value: Any) -> bool:
    # Some identity providers send "False" as a string.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError("`active` must be true or false.")


@router.delete("/Users/{user_id}", status_code=204)
def delete_user(rt: Rt, who: Provisioner, user_id: str) -> Response:
    directory.deactivate_user(rt.store, user_id, actor=who.user_id, channel="api")
    return Response(status_code=204)


# ------------------------------------------------------------------ groups


@router.get("/Groups")
def list_groups(
    request: Request,
    rt: Rt,
    who: Provisioner,
    filter: str | None = None,  # the RFC's parameter name
) -> dict[str, Any]:
    match = _filter(filter, ("displayName", "id"))
    start, count = _page(request)
    excluded = (request.query_params.get("excludedAttributes") or "").lower()
    groups = directory.list_groups(rt.store)
    if match is not None:
        groups = [
            g for g in groups if match[1] in ((g.name, g.id) if match[0] != "id" else (g.id,))
        ]
    base = _base(request)
    members = "members" not in excluded
    return _listing([group_resource(rt, g, base, members) for g in groups], start, count)


def _page(request: Request) -> tuple[int, int]:
    """``startIndex`` (1-based) and ``count`` as RFC 7644 reads them (lenient on range)."""
    try:
        start = int(request.query_params.get("startIndex") or 1)
        count = int(request.query_params.get("count") or 100)
    except ValueError:
        raise ScimError("startIndex and count must be integers.") from None
    return start, count


@router.get("/Groups/{group_id}")
def get_group(request: Request, rt: Rt, who: Provisioner, group_id: str) -> dict[str, Any]:
    return group_resource(rt, _group(rt, group_id), _base(request))


@router.post("/Groups", status_code=201)
def create_group(request: Request, rt: Rt, who: Provisioner, body: ScimGroupIn) -> ScimResponse:
    group_id = _GROUP_ID.sub("-", body.display_name).strip("-")[:64]
    if not group_id:
        raise ScimError("displayName needs at least one letter or digit.")
    change = directory.GroupChange(
        name=body.display_name, members=tuple(m.value for m in body.members)
    )
    group = directory.save_group(
        rt.store, group_id, change, actor=who.user_id, channel="api", create=True
    )
    resource = group_resource(rt, group, _base(request))
    return ScimResponse(resource, 201, headers={"Location": resource["meta"]["location"]})


@router.put("/Groups/{group_id}")
def replace_group(
    request: Request, rt: Rt, who: Provisioner, group_id: str, body: ScimGroupIn
) -> dict[str, Any]:
    change = directory.GroupChange(
        name=body.display_name, members=tuple(m.value for m in body.members)
    )
    group = directory.save_group(rt.store, group_id, change, actor=who.user_id, channel="api")
    return group_resource(rt, group, _base(request))


@router.patch("/Groups/{group_id}")
def patch_group(
    request: Request, rt: Rt, who: Provisioner, group_id: str, body: PatchRequest
) -> dict[str, Any]:
    _group(rt, group_id)
    name: str | None = None
    members: set[str] | None = None
    add: set[str] = set()
    remove: set[str] = set()
    for operation in body.operations:
        op = _op(operation)
        pairs = {operation.path: operation.value} if operation.path else _flatten(operation.value)
        for path, value in pairs.items():
            one = _MEMBER_PATH.match(path)
            if one is not None and op == "remove":
                remove.add(one.group(1))
                add.discard(one.group(1))
            elif path.lower() == "members":
                ids = _member_ids(value) if value is not None else set()
                if op == "replace" or (op == "remove" and value is None):
                    members, add, remove = (ids if op == "replace" else set()), set(), set()
                elif op == "add":
                    add |= ids
                    remove -= ids
                else:
                    remove |= ids
                    add -= ids
            elif path.lower() == "displayname" and op != "remove" and isinstance(value, str):
                name = value[:200]
            else:
                raise ScimError(f"Unsupported PATCH path {path[:60]!r}.", "invalidPath")
    change = directory.GroupChange(
        name=name,
        members=tuple(sorted(members)) if members is not None else None,
        add=tuple(sorted(add)),
        remove=tuple(sorted(remove)),
    )
    group = directory.save_group(rt.store, group_id, change, actor=who.user_id, channel="api")
    return group_resource(rt, group, _base(request))


def _member_ids(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    try:
        return {ScimMember.model_validate(item).value for item in items}
    except ValidationError as exc:
        raise ScimError('members must be a list of {"value": user id}.') from exc


@router.delete("/Groups/{group_id}", status_code=204)
def delete_group(rt: Rt, who: Provisioner, group_id: str) -> Response:
    directory.delete_group(rt.store, group_id, actor=who.user_id, channel="api")
    return Response(status_code=204)
