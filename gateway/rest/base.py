"""The adapter every REST surface is built from.

A route is `surface.route(method, path, call)` where `call(ctx, request)` turns the request
into arguments, calls a resolver (directly, or as a stored GraphQL operation on the schema)
and returns the product's JSON body. Errors are `GatewayError`s rendered by the surface's one
`render` function with the status from its table, so a surface is a table, not a branch per
handler.

Direct resolver calls are the default: on the measures route they serve ~2x the requests of
executing the equivalent stored operation, with the same resolver, service, checks and errors
(benchmarks/catalog.py measures both; tests/rest/test_mechanism.py proves identical output).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.context import Context, DirectInfo, build_context
from gateway.errors import GatewayError, InvalidInput, PayloadTooLarge

__all__ = ["Call", "JSONBody", "Surface", "operation", "read_json", "resolver_info"]

log = logging.getLogger("gateway.rest")

Call = Callable[[Context, Request], Awaitable[Any]]


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def resolver_info(ctx: Context) -> DirectInfo:
    """The `info` argument for calling a resolver function directly."""
    return DirectInfo(context=ctx)


class Surface:
    """One product's REST dialect: statuses per error code and the error body.

    >>> upstack = Surface("upstack", render=lambda exc, status: {"message": exc.message})
    >>> routes = [upstack.route("GET", "/db-mgmt/api/measures", list_measures)]
    """

    def __init__(self, name: str, *, render: Callable[[GatewayError, int], Any],
                 statuses: Mapping[str, int] | None = None,
                 headers: Callable[[GatewayError], Mapping[str, str]] | None = None) -> None:
        self.name = name
        self._render = render
        self._statuses = dict(statuses or {})
        self._headers = headers

    def status_of(self, exc: GatewayError) -> int:
        return self._statuses.get(exc.code, exc.status)

    def error_response(self, exc: GatewayError) -> Response:
        status = self.status_of(exc)
        headers = dict(self._headers(exc)) if self._headers else {}
        return JSONBody(self._render(exc, status), status_code=status, headers=headers)

    def route(self, method: str, path: str, call: Call, *, status: int = 200) -> Route:
        surface = self

        async def endpoint(request: Request) -> Response:
            ctx: Context | None = None
            try:
                ctx = await build_context(request)
                body = await call(ctx, request)
            except GatewayError as exc:
                if ctx is not None:
                    ctx.note_error(exc)
                return surface.error_response(exc)
            except Exception:
                log.exception("unhandled error on %s %s", method, path)
                return surface.error_response(GatewayError())
            response = body if isinstance(body, Response) else JSONBody(body, status_code=status)
            ctx.apply_cookies(response)
            return response

        endpoint.__name__ = f"{self.name}_{method.lower()}_{path.strip('/').replace('/', '_')}"
        return Route(path, endpoint, methods=[method])


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON; PayloadTooLarge past `max_bytes`, InvalidInput when malformed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise InvalidInput.field("request body is required", "body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _loads_wide(raw, exc)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]}... is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads_wide(raw: bytes, exc: orjson.JSONDecodeError) -> Any:
    """Valid JSON that orjson cannot represent (an integer past 64 bits or a float past
    double range) is still valid JSON: parse it with the standard library, whose integers are
    unbounded, so the one field holding the number is refused by the field's own range check
    and the rest of a batch survives (issue #10). Anything else stays malformed."""
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as wide:
        raise InvalidInput.field(f"malformed JSON: {exc}", "body") from wide


def operation(document: str, variables: Callable[[Request], dict[str, Any]],
              pick: Callable[[dict[str, Any]], Any]) -> Call:
    """A `Call` that executes a stored GraphQL operation on the app's schema.

    Same resolvers and errors as a direct call: the first error's original `GatewayError` is
    re-raised for the surface to render; a GraphQL error without one becomes InvalidInput.
    """

    async def call(ctx: Context, request: Request) -> Any:
        result = await ctx.state.schema.execute(
            document, variable_values=variables(request), context_value=ctx)
        if result.errors:
            original = result.errors[0].original_error
            if isinstance(original, GatewayError):
                raise original
            if original is not None:
                raise original
            raise InvalidInput(result.errors[0].message)
        return pick(result.data)

    return call
