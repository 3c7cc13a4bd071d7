"""The request body limit, enforced before the body is read and before any credential check.

Pure ASGI, so nothing is buffered on the way: a declared ``Content-Length`` over the limit is
answered with 413 at once; a chunked (or under-declared) body is counted as it arrives and the
request is answered with 413 as soon as the count passes the limit. The 413 closes the
connection, so the server stops receiving the rest.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
