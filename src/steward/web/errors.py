"""The one JSON error shape: ``{"error": {"code", "message", "request_id"}}``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from steward.core.errors import RateLimited, StewardError
from steward.observability.context import request_id
from steward.web import security

log = logging.getLogger(__name__)


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}|\d{1,6}")  # a name the API itself uses


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message", "request_id"}}``."""

    error: ErrorDetail


# "Has a character that is not blank", written out so that the server's regex dialect (Python,
# whose \s also counts \x1c-\x1f and \x85) and the OpenAPI document's (ECMAScript) agree: with a
# plain \S a client could send "\x85", valid by the spec, and be refused.
NOT_BLANK = (
    r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    # and what prints as nothing: zero-width spaces and joiners, the BOM, the Hangul fillers
    r"\u180e\u200b-\u200d\u2060\ufeff\u115f\u1160\u3164\uffa0\u2800]"
)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a route's error statuses, all with the one error shape."""
    text = {
        400: "Bad request",
        401: "No or invalid credentials",
        403: "Not allowed",
        404: "Not found",
        409: "The target's state does not allow it (e.g. a resolved ticket)",
        413: "The request or its messages are over a size limit",
        422: "Invalid input",
        429: "Too many requests or failed logins; see Retry-After",
        503: "A dependency is unavailable",
    }
    # Every authenticated route counts against the rate limits (identity/limits.py).
    listed = (*statuses, 429) if 401 in statuses and 429 not in statuses else statuses
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in listed}


AUTHED = responses(400, 401, 403, 404, 422, 500)


def error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def _rid(request: Request) -> str:
    """The request's id, as the request-context middleware set it (and logs and audit carry)."""
    return str(getattr(request.state, "request_id", "") or request_id() or "")


async def _json_problem(request: Request, error: Any) -> str:
    """Where a body stops being JSON, as a line and column (the parser reports an offset)."""
    loc = error.get("loc", ())
    pos = loc[-1] if loc and isinstance(loc[-1], int) else None
    try:
        body = await request.body()  # already read, and kept, by the route that parsed it
    except RuntimeError:
        body = None
    if pos is None or body is None:
        return "The request body is not valid JSON."
    pos = min(pos, len(body))
    line = body.count(b"\n", 0, pos) + 1
    column = pos - (body.rfind(b"\n", 0, pos) + 1) + 1
    return f"The request body is not valid JSON (line {line}, column {column})."


def _allowed(request: Request) -> str:
    """Every method some route serves at this path: Starlette's own 405 names only the first
    route's, wrong where one path has a route per method (``/v1/session``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


_UNPARSABLE = "There was an error parsing the body"


def install(app: FastAPI) -> None:
    @app.exception_handler(StewardError)
    async def steward_error(request: Request, exc: StewardError) -> JSONResponse:
        status = exc.status if 400 <= exc.status < 600 else 500
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            error_body(exc.code, exc.message, _rid(request)), status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            return JSONResponse(
                error_body("invalid_request", await _json_problem(request, first), _rid(request)),
                422,
            )
        # A location may hold a key the client chose, which may be personal data (an e-mail
        # address or a card number sent as a field name): only names that look like the API's
        # own are echoed.
        loc = [p for p in first.get("loc", ()) if p != "body"]
        msg = str(first.get("msg"))
        if first.get("type") == "extra_forbidden" and loc:
            loc, msg = loc[:-1], "a field this request does not take"
        where = ".".join(str(p) if _FIELD.fullmatch(str(p)) else "(a field)" for p in loc)[:64]
        message = f"{where}: {msg}" if where else msg
        return JSONResponse(error_body("invalid_request", message, _rid(request)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE:
            # FastAPI's answer to a body it cannot read at all (bytes that are not UTF-8, JSON
            # nested past the parser's depth): the same 422 as any other body that is not JSON.
            message = "The request body is not valid JSON (not UTF-8 text, or nested too deep)."
            return JSONResponse(error_body("invalid_request", message, _rid(request)), 422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)  # e.g. Allow on 405
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return JSONResponse(
            error_body(code, str(exc.detail), _rid(request)), exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = _rid(request)
        if not getattr(exc, "steward_logged", False):  # the stage runner logged its own
            log.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": rid, "path": request.url.path},
            )
        # Never echo internals: the message could carry text from a request.
        return JSONResponse(
            error_body(
                "internal_error",
                "Something went wrong; the request id is in the logs.",
                rid,
            ),
            500,
            # Sent from outside every middleware: neither adds its headers here.
            headers={
                **security.headers_for(request.url.path),
                **({"X-Request-ID": rid} if rid else {}),
            },
        )
