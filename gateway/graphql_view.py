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
    UnsupportedMediaType,
)
from gateway.pages import Pages

__all__ = ["GatewayGraphQL", "graphql_error_response", "transport_error"]

_ALLOWED = ("GET", "POST")


def graphql_error_response(exc: GatewayError) -> Response:
    """An error met before execution (the body refused) as a GraphQL response: `errors`
    with `extensions.code`, no `data` (GraphQL over HTTP: the request was not executed)."""
    body = {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    headers = {"Allow": ", ".join(exc.allowed or _ALLOWED)} if isinstance(
        exc, MethodNotAllowed) else None
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
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return self._pages.graphiql()

    async def get_context(self, request: Request, response: Response | None = None) -> Context:  # type: ignore[override]  # strawberry types the websocket form too; we serve HTTP only
        return await build_context(request, response)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> Any:
        return orjson.loads(data)
