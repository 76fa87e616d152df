"""CORS for browser frontends on other origins (`GATEWAY_CORS_ORIGINS`; issue #17).

Pure ASGI, outermost, so every answer carries the headers, errors included (a 413 from the
body limit, a 404 for an unknown path): a frontend can read why it was refused.

- A listed origin (exact `scheme://host[:port]`) may send credentials: its preflight
  (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 here with the methods and
  `ALLOWED_HEADERS`, and every answer to it names it in `Access-Control-Allow-Origin` with
  `Access-Control-Allow-Credentials: true` and `EXPOSED_HEADERS`. Its cookie writes also
  pass the CSRF origin check (gateway/auth/csrf.py): listing an origin trusts it.
- `*` in the list lets any other origin read answers, without credentials (no cookies; a
  key in a header still works, as the browser sends what the page sets).
- Any other origin gets no CORS header: its preflight goes on to the app (a 405 in the
  path's dialect) and the browser refuses the call.

With no origins configured (the default) nothing is added. Answers vary by `Origin`, so a
cache in front keeps them apart (`Vary: Origin`).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.csrf import CSRF_HEADER

__all__ = ["ALLOWED_HEADERS", "ANY_ORIGIN", "EXPOSED_HEADERS", "CORSMiddleware"]

ANY_ORIGIN = "*"
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = ("x-api-key", "x-pixel-id", "authorization", "content-type", CSRF_HEADER,
                   "x-request-id", "if-match")
# What a frontend may read of an answer: rate limits (both spellings in use), the retry
# delay, the request id, ClickStack's total count and the views' ETag.
EXPOSED_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                   "RateLimit", "RateLimit-Policy", "RateLimit-Limit", "RateLimit-Remaining",
                   "RateLimit-Reset", "Retry-After", "X-Request-Id", "X-Total-Count", "ETag")
MAX_AGE_SECONDS = 600  # how long a browser may reuse a preflight answer


class CORSMiddleware:
    """>>> Middleware(CORSMiddleware, origins=["https://app.example.com"])"""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        listed = {o.rstrip("/").lower() for o in origins}
        self.any_origin = ANY_ORIGIN in listed
        self.origins = frozenset(listed - {ANY_ORIGIN})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.origins or self.any_origin):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        credentialed = origin is not None and origin.lower() in self.origins
        allowed = credentialed or (origin is not None and self.any_origin)
        if (allowed and scope["method"] == "OPTIONS"
                and "access-control-request-method" in headers):
            await self._preflight(origin or "", credentialed)(scope, receive, send)
            return

        answer_origin = origin if credentialed and origin is not None else "*"

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = answer_origin
                    out["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
                    if credentialed:
                        out["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _preflight(origin: str, credentialed: bool) -> Response:
        headers = {
            "Access-Control-Allow-Origin": origin if credentialed else "*",
            "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
            "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        }
        if credentialed:
            headers["Access-Control-Allow-Credentials"] = "true"
        return Response(status_code=204, headers=headers)
