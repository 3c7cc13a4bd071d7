"""The request body limit, enforced before the body is read and before any credential check.

Pure ASGI, so nothing is buffered on the way: a declared ``Content-Length`` over the limit is
answered with 413 at once; a chunked (or under-declared) body is counted as it arrives and the
request is answered with 413 as soon as the count passes the limit. The 413 closes the
connection, so the server stops receiving the rest.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.core.strictjson import RepeatedKeyError, each_key_once
from steward.web.errors import error_body


class BodyTooLarge(Exception):
    """Raised from ``receive`` inside the app once the body passes the limit."""


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 in the one error shape."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        state = _Counted(self.max_bytes, receive)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if state.over:
                # The app turned BodyTooLarge into some response of its own (FastAPI makes a
                # body-read failure a 400): send the 413 instead, once.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(scope, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, state.receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        rid = str(scope.get("state", {}).get("request_id", ""))
        message = f"The request body is over the limit of {self.max_bytes:,} bytes."
        body = json.dumps(error_body("payload_too_large", message, rid)).encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            # Closing stops the rest of the upload from being received at all.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Counted:
    """A ``receive`` that counts body bytes and raises once they pass the limit."""

    def __init__(self, max_bytes: int, receive: Receive) -> None:
        self.max_bytes = max_bytes
        self.seen = 0
        self.over = False
        self._receive = receive

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.max_bytes:
                self.over = True
                raise BodyTooLarge
        return message


_KEY_SHOWN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


class RepeatedKeys:
    """Refuses a JSON body that repeats a key in one object (``{"question": "a", "question":
    "b"}``) with 422 in the one error shape: a parser keeps the last value silently, so what a
    proxy or an audit reviewer reads as the request may not be what was answered. Inside
    :class:`BodyLimit`, so it reads at most the body limit. SCIM routes keep their own shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("POST", "PUT", "PATCH")
            or "json" not in Headers(scope=scope).get("content-type", "")
            or str(scope.get("path", "")).startswith("/scim/")
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            json.loads(body, object_pairs_hook=each_key_once)
        except RepeatedKeyError as repeated:
            shown = repeated.key if _KEY_SHOWN.fullmatch(repeated.key) else "a key"
            rid = str(scope.get("state", {}).get("request_id", ""))
            message_text = f"The request body repeats {shown!r} in one object; send each key once."
            out = json.dumps(error_body("invalid_request", message_text, rid)).encode("utf-8")
            await send(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(out)).encode("ascii")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": out})
            return
        except (ValueError, RecursionError):
            pass  # not JSON: the route says where it stops being JSON
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
