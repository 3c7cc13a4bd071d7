"""The rollout page: each use case's waves (open or not, since when, why), its success gates
with the live figures, its guard metrics, and whether its next wave may open; the forms that
open a wave (with an override and its reason when the gates do not pass) and close one.

Viewing needs ``VIEW_SPONSOR`` (operators, and the sponsor group: figures only); opening and
closing need ``MANAGE_ROLLOUT``. Each change is the Rollout service's own method, which
authorizes it and audits it with who and why; a forged or unknown use case or wave is a 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.identity.authz import Permission
from steward.operations.report import shown
from steward.web.console.render import act, back, form, page, rt_of, viewer

router = APIRouter(include_in_schema=False)
PAGE = "/console/rollout"


@router.get(PAGE)
async def rollout_page(request: Request) -> Response:
    seen = await viewer(request, Permission.VIEW_SPONSOR)
    rt = rt_of(request)
    data = await act(seen, rt.rollout.status, seen.who)
    manage = rt.authz.permits(seen.who, Permission.MANAGE_ROLLOUT)
    return page("rollout.html", seen, data=data, manage=manage, shown=shown)


@router.post(PAGE + "/{usecase}/waves/{wave}/open")
async def open_wave(request: Request, usecase: str, wave: str) -> Response:
    seen = await viewer(request, Permission.MANAGE_ROLLOUT)
    fields = await form(request)
    rt = rt_of(request)
    override = fields.get("override", "").strip() if fields.get("with_override") else None
    await act(seen, rt.rollout.open, seen.who, usecase, wave, override=override)
    return back(PAGE)


@router.post(PAGE + "/{usecase}/waves/{wave}/close")
async def close_wave(request: Request, usecase: str, wave: str) -> Response:
    seen = await viewer(request, Permission.MANAGE_ROLLOUT)
    fields = await form(request)
    rt = rt_of(request)
    await act(seen, rt.rollout.close, seen.who, usecase, wave, reason=fields.get("reason", ""))
    return back(PAGE)
