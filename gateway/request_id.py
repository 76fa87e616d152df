"""The request id: one per request, on every response as `X-Request-Id` (issue #12).

- Taken from the client's `X-Request-Id` when it sends a printable one (cut to 64
  characters), so a proxy's or a client's own id lines up with ours; else 24 random hex
  digits.
- Kept in the ASGI scope (`scope["state"]`), read with `request_id_of(scope)`: the audit
  trail (`build_context`), the REST adapter's log of an unhandled error, and GraphQL's log
  of an unexpected one (gateway/graphql_errors.py) all name the same id the client got.
- `RequestIdMiddleware` (outermost of ours) sets it, adds the header to every response
  (REST, GraphQL, /health, 404s, the body-limit refusals), and answers an exception that
  escapes the app before its response started with the addressed surface's INTERNAL error,
  logged as ONE record naming the id. Without it Starlette's ServerErrorMiddleware answers
  a plain-text 500 and it and uvicorn log the traceback without any id. An exception after
  the response started cannot be answered: it is logged the same way and re-raised, so the
  server drops the connection as usual.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError

__all__ = ["HEADER", "RequestIdMiddleware", "request_id_of"]

log = logging.getLogger("gateway.http")

HEADER = "x-request-id"
MAX_LENGTH = 64
_STATE_KEY = "gateway.request_id"

Respond = Callable[[Scope, GatewayError], Response]

# Request ids are correlation ids, not secrets: they must not repeat, nobody needs them
# unguessable. So 96 bits from a generator seeded from the OS once (and again in a forked
# child), not an `os.urandom` system call per request: that call releases the interpreter
# lock, and on a loaded process the audit writer's thread took it and the request waited
# (issue #11, docs/benchmarks.md).
_ids = random.Random()  # noqa: S311  # correlation ids; see above
os.register_at_fork(after_in_child=_ids.seed)


def _from_headers(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            sent: str = value.decode("latin-1")[:MAX_LENGTH]
            if sent and sent.isprintable():
                return sent
            break
    return _ids.randbytes(12).hex()


def request_id_of(scope: Scope) -> str:
    """The request's id (set by the middleware; made and kept here when it did not run)."""
    state = scope.setdefault("state", {})
    found = state.get(_STATE_KEY)
    if isinstance(found, str):
        return found
    made = state[_STATE_KEY] = _from_headers(scope)
    return made


class RequestIdMiddleware:
    """Give each request an id, echo it on the response, answer what escapes the app.

    >>> Middleware(RequestIdMiddleware, respond=plain_error_response)
    """

    def __init__(self, app: ASGIApp, *, respond: Respond) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        header = (HEADER.encode(), request_id.encode("latin-1"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s %s (request %s)", scope.get("method"),
                          scope.get("path"), request_id, extra={"request_id": request_id})
            if started:
                raise
            await self.respond(scope, GatewayError())(scope, receive, send_with_id)
