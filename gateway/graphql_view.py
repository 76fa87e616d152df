"""The `/graphql` endpoint: Strawberry's ASGI view with our context and orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL

from gateway.context import Context, build_context
from gateway.errors import GatewayError

__all__ = ["GatewayGraphQL", "graphql_error_response"]


def graphql_error_response(exc: GatewayError) -> Response:
    """An error met before execution (the body refused) as a GraphQL response: `errors`
    with `extensions.code`, no `data` (GraphQL over HTTP: the request was not executed)."""
    body = {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    return Response(orjson.dumps(body), status_code=exc.status, media_type="application/json")


class GatewayGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Request, response: Response | None = None) -> Context:  # type: ignore[override]  # strawberry types the websocket form too; we serve HTTP only
        return await build_context(request, response)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> Any:
        return orjson.loads(data)
