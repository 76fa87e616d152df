"""The request id: computed once per request, echoed on every response (issue #17).

`request_id_of(headers)` is the one rule: the client's `x-request-id` when it sent a printable
one (cut to 64 characters, what the audit log stores), else 24 random hex digits.
`RequestIdMiddleware` (pure ASGI, outermost) applies it once, keeps the id in the scope under
`SCOPE_KEY` and adds `x-request-id` to the response; the audit trail (gateway/context.py), the
access log and the metrics (gateway/observe.py) read it from there, so all three name the
same request with the same id. An unhandled exception before the response started is
answered here as a JSON 500 carrying the id (then re-raised, so the server still logs the
traceback): the id is what a caller quotes when reporting it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADER", "SCOPE_KEY", "RequestIdMiddleware", "request_id_of", "scope_request_id"]

HEADER = "x-request-id"
SCOPE_KEY = "gateway.request_id"
MAX_LENGTH = 64
_HEADER_BYTES = HEADER.encode()
_INTERNAL_ERROR = b'{"message":"Internal error","code":"INTERNAL"}'


def request_id_of(headers: Mapping[str, str]) -> str:
    """The id of a request with these (lower-case) headers: the one sent, or a new one."""
    sent = headers.get(HEADER, "")
    return sent[:MAX_LENGTH] if sent.isprintable() and sent else os.urandom(12).hex()


def _from_raw(raw_headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in raw_headers:
        if name == _HEADER_BYTES:
            return request_id_of({HEADER: value.decode("latin-1")})
    return os.urandom(12).hex()


def scope_request_id(scope: Scope) -> str:
    """The request's id: the one the middleware set, else computed now (an app built
    without the middleware) and kept, so later readers agree."""
    found = scope.get(SCOPE_KEY)
    if found is None:
        found = scope[SCOPE_KEY] = _from_raw(scope.get("headers", []))
    return str(found)


class RequestIdMiddleware:
    """Set the request id in the scope and echo it as `x-request-id` on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = scope_request_id(scope)
        header = (_HEADER_BYTES, rid.encode("latin-1"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not started:
                await send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_INTERNAL_ERROR)).encode()), header]})
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
            raise
