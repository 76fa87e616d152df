"""The `/graphql` endpoint: Strawberry's ASGI view with our context, orjson, JSON errors
for the transport, and GraphiQL from the package (gateway/pages.py).

Transport errors (issue #17): whatever Strawberry refuses before execution (a body that is
not JSON, a content type it does not take, no query, a mutation over GET, a method other
than GET and POST) answers `{"errors": [{"message", "extensions": {"code"}}]}` with the same
status, never plain text:

    400  INVALID_INPUT           malformed JSON, no query, a query that is not a string, ...
    404  NOT_FOUND               GET from a browser with GraphiQL turned off
    405  METHOD_NOT_ALLOWED      (+ Allow: GET, POST)
    415  UNSUPPORTED_MEDIA_TYPE  a POST body neither JSON nor multipart (GraphQL over HTTP
                                 recommends 415; REST routes answer the same code)

Rate limits: GraphQL pays into the `graphql` row of `Settings.rate_limits` and answers
`X-RateLimit-*` headers (gateway/rate_policy.py). A request the limiter refuses is not
executed, so it is answered as any request refused before execution is (a body past its
size, `graphql_error_response`): HTTP 429 with `Retry-After`, and `{"errors": [...]}` whose
`extensions` carry `code: RATE_LIMITED`, `retryAfter`, `limit`, `remaining` and `reset`, for
clients that read only the body (Apollo's `extensions.code`). A RATE_LIMITED error of one
field of an executed operation (a throttled `login`) stays a field error: HTTP 200 and the
error in `errors`, as for every field.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from gateway.context import Context, build_context
from gateway.errors import (
    GatewayError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    UnsupportedMediaType,
)
from gateway.pages import Pages
from gateway.rate_policy import X_RATELIMIT, RatePolicy

__all__ = ["GRAPHQL_RATE_LIMIT", "GatewayGraphQL", "graphql_error_response", "transport_error"]

_ALLOWED = ("GET", "POST")
GRAPHQL_RATE_LIMIT = RatePolicy("graphql", X_RATELIMIT)


def graphql_error_response(exc: GatewayError) -> Response:
    """An error met before execution (the body refused) as a GraphQL response: `errors`
    with `extensions.code`, no `data` (GraphQL over HTTP: the request was not executed)."""
    body = {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed or _ALLOWED)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return Response(orjson.dumps(body), status_code=exc.status, media_type="application/json",
                    headers=headers)


def transport_error(status: int, reason: str) -> GatewayError:
    """Strawberry's refusal (`HTTPException(status, reason)`) as our error with its code."""
    if status == 405:
        return MethodNotAllowed(reason, allowed=_ALLOWED)
    if status == 404:
        return NotFound(reason)
    if reason == "Unsupported content type":
        return UnsupportedMediaType(
            "Content-Type must be application/json (or multipart/form-data)")
    return InvalidInput(reason)


class _Answered(Exception):  # not an error: the answer, decided early (N818 is off)
    """A request answered while its context is built (refused by the limiter)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered before execution")
        self.response = response


class GatewayGraphQL(GraphQL[Context, None]):
    def __init__(self, *args: Any, pages: Pages | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages = pages or Pages()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = graphql_error_response(transport_error(exc.status_code, exc.reason))
        except _Answered as answered:  # refused by the limiter while the context was built
            response = answered.response
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return self._pages.graphiql()

    async def get_context(self, request: Request, response: Response | None = None) -> Context:  # type: ignore[override]  # strawberry types the websocket form too; we serve HTTP only
        ctx = await build_context(request, response)
        try:
            await ctx.enter(GRAPHQL_RATE_LIMIT)
        except RateLimited as exc:
            ctx.note_error(exc)
            answer = graphql_error_response(exc)
            ctx.apply_rate_headers(answer)
            raise _Answered(answer) from None
        return ctx

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> Any:
        return orjson.loads(data)
