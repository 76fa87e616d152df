"""The `/graphql` endpoint: Strawberry's ASGI view with our context and orjson.

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
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from gateway.context import Context, build_context
from gateway.errors import GatewayError, RateLimited
from gateway.rate_policy import X_RATELIMIT, RatePolicy

__all__ = ["GRAPHQL_RATE_LIMIT", "GatewayGraphQL", "graphql_error_response"]

GRAPHQL_RATE_LIMIT = RatePolicy("graphql", X_RATELIMIT)


def graphql_error_response(exc: GatewayError) -> Response:
    """An error met before execution (the body refused) as a GraphQL response: `errors`
    with `extensions.code`, no `data` (GraphQL over HTTP: the request was not executed)."""
    body = {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return Response(orjson.dumps(body), status_code=exc.status, media_type="application/json",
                    headers=headers)


class _Answered(Exception):  # not an error: the answer, decided early (N818 is off)
    """A request answered while its context is built (refused by the limiter)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered before execution")
        self.response = response


class GatewayGraphQL(GraphQL[Context, None]):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Strawberry's own HTTP branch, plus the answer of a refused request.
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as e:
            response = PlainTextResponse(e.reason, status_code=e.status_code)
        except _Answered as answered:
            response = answered.response
        await response(scope, receive, send)

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
