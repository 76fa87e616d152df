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

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.context import Context, DirectInfo, build_context
from gateway.errors import GatewayError, InvalidInput, PayloadTooLarge
from gateway.limits import parse_int

__all__ = ["Call", "JSONBody", "Surface", "operation", "query_int", "read_json",
           "resolver_info"]

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


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """The query parameter `name` as an integer in [low, high], `default` when absent.

    Every REST paging parameter goes through here: ASCII digits only (`int()` and
    `str.isdigit` take '²' and other Unicode digits), bounded before it reaches SQL, a
    negative refused rather than clamped; InvalidInput at `name` otherwise."""
    raw = request.query_params.get(name)
    return default if raw is None else parse_int(raw, name, low=low, high=high)


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
        raise InvalidInput.field(f"malformed JSON: {exc}", "body") from exc


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
