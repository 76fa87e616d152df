"""ASGI middleware (pure ASGI: BaseHTTPMiddleware would add a task per request).

`BodyLimitMiddleware` bounds the request body and makes its refusal readable:

- a `Content-Length` past the limit is refused before the app runs, with the error response
  of the route the request addressed (`respond`, built by `create_app` from the route table,
  so Upstack, ClickStack and GraphQL each answer in their own body);
- a chunked body is counted as the app reads it; past the limit `receive` raises
  `PayloadTooLarge`, a `GatewayError`, so a REST route renders it as its own 413 (never a
  500), and one that escapes the app (GraphQL reads the body itself) is answered here;
- lingering close: a response sent while the client is still sending its body is written
  out (status, headers and body), then the rest of the request body is read and discarded
  before the response is completed, as nginx's lingering close does. A server that closes a
  connection with unread input makes the kernel reset it, and a client still sending loses
  the 413 it was sent: `urllib` (which sends `Connection: close`, so uvicorn closes after the
  response) saw ConnectionResetError or BrokenPipeError for any body past the budget. The
  answer goes first so a client that reads while it sends (curl, browsers) sees it at once
  and can stop; one that reads only after sending (urllib, httpx) finds it waiting. After a
  full drain the connection may even be kept alive. Bounded: at most `drain_bytes` (default
  4x the limit, 20 MiB for the default 5 MiB: a body a few times too large is a mistake of
  degree, answered; past that it is not read) and `drain_seconds` (5 s in all; a client
  trickling its body is cut off). Not drained: a body the client was never invited to send
  (`Expect: 100-continue`, nothing read yet), and a declared body longer than the budget
  (it would be cut off anyway: the answer is sent and the connection closed, so that
  client sees a reset);
- a client that disconnects while sending its body is logged on one line (info), not as an
  unhandled error with a traceback;
- a request without a body (no `Content-Length`, not chunked) passes straight through: there
  is nothing to count or drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError, PayloadTooLarge

__all__ = ["DRAIN_FACTOR", "BodyLimitMiddleware", "plain_error_response"]

log = logging.getLogger("gateway.http")

Respond = Callable[[Scope, GatewayError], Response]

DRAIN_FACTOR = 4  # the drain budget, in multiples of the body limit


def plain_error_response(scope: Scope, exc: GatewayError) -> Response:
    """`{"message", "code"}`: the answer where no surface's dialect applies."""
    return Response(orjson.dumps({"message": exc.message, "code": exc.code}),
                    status_code=exc.status, media_type="application/json")


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, readable by the client (module docstring).

    >>> Middleware(BodyLimitMiddleware, max_bytes=5 << 20, respond=plain_error_response)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, *, respond: Respond = plain_error_response,
                 drain_bytes: int | None = None, drain_seconds: float = 5.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.respond = respond
        # Four times the limit: a client sending a 10 or 16 MB body to a 5 MiB limit still
        # reads its 413 (twice the limit, the old budget, reset 11 MB urllib uploads).
        self.drain_bytes = DRAIN_FACTOR * max_bytes if drain_bytes is None else drain_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(scope, receive, self.max_bytes)
        if not body.pending:
            # No body coming (no length, not chunked: most GETs): nothing to count or drain,
            # so the app gets the server's own receive and send (two wrappers less on every
            # such request).
            try:
                await self.app(scope, receive, send)
            except ClientDisconnect:
                log.info("client disconnected during %s %s", scope.get("method"),
                         scope.get("path"))
            return
        started = False

        async def send_after_drain(message: Message) -> None:
            """Pass the response on; hold back its completion until the unread body is
            drained (the answer is already on the wire, module docstring)."""
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            elif (message["type"] == "http.response.body" and not message.get("more_body")
                  and body.should_drain(self.drain_bytes)):
                if message.get("body"):
                    await send({**message, "more_body": True})
                await body.drain(self.drain_bytes, self.drain_seconds)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        if body.declared is not None and body.declared > self.max_bytes:
            await self._refuse(scope, body, send_after_drain)
            return
        try:
            await self.app(scope, body.receive, send_after_drain)
        except PayloadTooLarge:
            if started:
                raise
            await self._refuse(scope, body, send_after_drain)
        except ClientDisconnect:
            log.info("client disconnected while sending the body of %s %s (%d bytes read)",
                     scope.get("method"), scope.get("path"), body.seen)

    async def _refuse(self, scope: Scope, body: _Body, send: Send) -> None:
        exc = PayloadTooLarge(f"Request body exceeds {self.max_bytes} bytes")
        await self.respond(scope, exc)(scope, body.receive, send)


class _Body:
    """The request body as the app reads it: counted, limited, and drained on demand."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.declared: int | None = None
        chunked = expects_continue = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                self.declared = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"expect" and value.lower() == b"100-continue":
                expects_continue = True
        self.expects_continue = expects_continue
        self.pending = chunked or bool(self.declared)  # the client has body left to send
        self.asked = False  # the app (or a drain) called receive: any 100 Continue was sent
        self.seen = 0

    def _note(self, message: Message) -> int:
        if message["type"] != "http.request":  # http.disconnect
            self.pending = False
            return 0
        if not message.get("more_body", False):
            self.pending = False
        return len(message.get("body", b""))

    async def receive(self) -> Message:
        self.asked = True
        message = await self._receive()
        self.seen += self._note(message)
        if self.seen > self.limit:
            raise PayloadTooLarge(f"Request body exceeds {self.limit} bytes")
        return message

    def should_drain(self, budget: int) -> bool:
        """Whether the client is still sending a body it was invited to send, and the rest
        fits `budget` (a longer declared rest would be cut off anyway)."""
        if not self.pending or (self.expects_continue and not self.asked):
            return False
        return self.declared is None or self.declared - self.seen <= budget

    async def drain(self, budget: int, seconds: float) -> None:
        """Read and discard what the client still sends: at most `budget` bytes, `seconds`."""
        drained = 0
        try:
            async with asyncio.timeout(seconds):
                while self.pending and drained <= budget:
                    drained += self._note(await self._receive())
        except TimeoutError:
            log.info("stopped draining an unread request body after %.0f s (%d bytes)",
                     seconds, drained)
        self.seen += drained
