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

`CancelOnDisconnect` stops the work of a client that went away: a request still running
`WATCH_AFTER_SECONDS` after it arrived, whose body the app has read (or that has none),
listens for the client's disconnect, and on it cancels the request's task: its analytics
statements stop in the database (gateway/storage/heavy.py) and free their slots, instead of
running to the time limit for nobody. It sits inside `BodyLimitMiddleware` and reads the
server's `receive` only once the body is read, so it never competes with the app (or the
drain) for body chunks; from then on the app's own `receive` calls get what it read. Short
requests never start a listener (one sweep a process finds the old ones). The cancellation is
the middleware's own (`Task.uncancel`), so the server sees an app that returned without
answering a client that is gone, and logs nothing; the middleware logs one line (info).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError, PayloadTooLarge

__all__ = ["DRAIN_FACTOR", "WATCH_AFTER_SECONDS", "BodyLimitMiddleware",
           "CancelOnDisconnect", "plain_error_response"]

log = logging.getLogger("gateway.http")

Respond = Callable[[Scope, GatewayError], Response]
# A request running longer than this starts listening for its client's disconnect: long
# enough that light requests (most answer in a millisecond) never pay for a listener task,
# short enough that an abandoned analytics query stops almost at once.
WATCH_AFTER_SECONDS = 0.05

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


class CancelOnDisconnect:
    """Cancel a request's work when its client disconnects (module docstring).

    One sweep, every `after_seconds` while requests are in flight, starts the listeners of
    those older than that: a request costs two dict operations, not a timer of its own.

    >>> Middleware(CancelOnDisconnect)  # inside BodyLimitMiddleware
    """

    def __init__(self, app: ASGIApp, *, after_seconds: float = WATCH_AFTER_SECONDS) -> None:
        self.app = app
        self.after_seconds = after_seconds
        self._active: dict[_Watch, None] = {}  # in flight, oldest first
        self._sweep: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await self.app(scope, receive, send)
            return
        loop = task.get_loop()
        watch = _Watch(scope, receive, send, task, loop.time())
        self._active[watch] = None
        if self._sweep is None or self._loop is not loop:
            self._loop = loop
            self._sweep = loop.call_later(self.after_seconds, self._sweep_now)
        try:
            await self.app(scope, watch.receive, watch.send)
        except asyncio.CancelledError:
            if not watch.cancelled:
                raise
            task.uncancel()
            log.info("client disconnected: stopped %s %s after %.2f s", scope.get("method"),
                     scope.get("path"), loop.time() - watch.started)
        finally:
            del self._active[watch]
            watch.stop()
            if watch.cancelled and task.cancelling():
                # The app swallowed the cancellation and returned: it is still ours.
                task.uncancel()

    def _sweep_now(self) -> None:
        self._sweep = None
        if self._loop is None or not self._active:
            return
        cutoff = self._loop.time() - self.after_seconds
        for watch in self._active:
            if watch.started > cutoff:
                break
            watch.want()
        self._sweep = self._loop.call_later(self.after_seconds, self._sweep_now)


class _Watch:
    """One request's disconnect listener: started once wanted (the timer) and once the body
    is read; it owns the server's `receive` from then on. Built for every request, so what
    only a listener needs is made when one starts."""

    __slots__ = ("_body_read", "_done", "_gone", "_listener", "_reading", "_receive", "_send",
                 "_task", "_unread", "_wanted", "cancelled", "started")

    def __init__(self, scope: Scope, receive: Receive, send: Send,
                 task: asyncio.Task[object], started: float) -> None:
        self.started = started
        self._receive = receive
        self._send = send
        self._task = task
        self._body_read = not _has_body(scope)
        self._reading = False  # the app is inside the server's receive
        self._wanted = False
        self._done = False  # the response is complete, or the app has returned
        self._listener: asyncio.Task[None] | None = None
        self._unread: deque[Message] = deque()  # read by the listener, not yet by the app
        self._gone: asyncio.Event | None = None
        self.cancelled = False

    def want(self) -> None:
        if not self._wanted:
            self._wanted = True
            self._start()

    def _start(self) -> None:
        if (self._listener is None and self._wanted and self._body_read and not self._reading
                and not self._done):
            self._gone = asyncio.Event()
            self._listener = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            self._unread.append(message)  # a body-less request's empty body, say
        if self._gone is not None:  # always: made with the listener
            self._gone.set()
        if not self._done:  # the server also says "disconnect" once the response is sent
            self.cancelled = True
            self._task.cancel()

    async def receive(self) -> Message:
        if self._listener is None:
            self._reading = True
            try:
                message = await self._receive()
            finally:
                self._reading = False
            if message["type"] != "http.request" or not message.get("more_body", False):
                self._body_read = True
            self._start()
            return message
        if self._unread:
            return self._unread.popleft()
        if self._gone is not None:  # always: made with the listener
            await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._done = True
        await self._send(message)

    def stop(self) -> None:
        self._done = True
        if self._listener is not None:
            self._listener.cancel()


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value != b"0")
        if name == b"transfer-encoding":
            return True
    return False
