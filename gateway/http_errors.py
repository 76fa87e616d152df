"""One error shape everywhere: which dialect answers an error, wherever it is raised.

An error is answered in the dialect of the surface the request addressed (issue #17):

1. the route the path and method match, or failing that the route the path matches with
   another method (a 405): a REST route's surface body, GraphQL's `{"errors": [...]}` for
   `/graphql`;
2. else the surface whose path prefix the path falls under (`Surface.prefixes`: Upstack
   `/db-mgmt/`, `/accounts/`, `/tr/`; ClickStack `/api/v2/`), so `GET /db-mgmt/api/nope`
   answers an Upstack 404;
3. else the gateway's own `{"message", "code"}`.

`ErrorDialects` is built by `create_app` from the route table, so a new surface's routes and
prefixes are covered without a line here. It answers the errors raised outside a route's own
handling: the body limit (gateway/middleware.py), the router's 404 and 405 (Starlette's
`HTTPException`, turned into `NotFound` and `MethodNotAllowed` with an `Allow` header), a
`GatewayError` escaping a plain route (the static assets), and, through
gateway/request_id.py's middleware, any other exception that escapes the app (500, masked
like every surface masks it, logged once with the request id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from gateway.errors import GatewayError, InvalidInput, MethodNotAllowed, NotFound
from gateway.middleware import plain_error_response
from gateway.rest.base import Surface, SurfaceRoute

__all__ = ["ErrorDialects"]


def _from_http(exc: HTTPException) -> GatewayError:
    if exc.status_code == 404:
        return NotFound("No route serves this path")
    if exc.status_code == 405:  # `respond` names every method of the path
        allowed = (exc.headers or {}).get("Allow", "")
        return MethodNotAllowed(allowed=[m.strip() for m in allowed.split(",") if m.strip()])
    # The router raises only those two; a 4xx from request parsing reads as bad input.
    return InvalidInput(exc.detail) if exc.status_code < 500 else GatewayError()


class ErrorDialects:
    """Answers a `GatewayError` in the dialect of the surface `scope` addresses (module
    docstring). `graphql` is the `/graphql` endpoint and `graphql_response` its renderer."""

    def __init__(self, routes: Sequence[BaseRoute], *, graphql: object,
                 graphql_response: Callable[[GatewayError], Response]) -> None:
        self._routes = list(routes)
        self._graphql = graphql
        self._graphql_response = graphql_response
        surfaces: dict[str, Surface] = {}
        for route in self._routes:
            if isinstance(route, SurfaceRoute):
                surfaces.setdefault(route.surface.name, route.surface)
        self._prefixes = sorted(((p, s) for s in surfaces.values() for p in s.prefixes),
                                key=lambda item: -len(item[0]))

    def _dialect(self, scope: Scope) -> Callable[[GatewayError], Response] | None:
        partial: BaseRoute | None = None
        for route in self._routes:
            match = route.matches(scope)[0]
            if match is Match.FULL:
                partial = route
                break
            if match is Match.PARTIAL and partial is None:
                partial = route
        if isinstance(partial, SurfaceRoute):
            return partial.surface.error_response
        if isinstance(partial, Route) and partial.endpoint is self._graphql:
            return self._graphql_response
        path = scope.get("path", "")
        for prefix, surface in self._prefixes:
            if path.startswith(prefix):
                return surface.error_response
        return None

    def _allowed(self, scope: Scope) -> list[str]:
        """Every method some route serves this path with (Starlette's 405 names only the
        methods of the first route of the path: GET, when POST is a second route)."""
        methods: set[str] = set()
        for route in self._routes:
            if isinstance(route, Route) and route.matches(scope)[0] is not Match.NONE:
                methods.update(route.methods or ())
        return sorted(methods)

    def respond(self, scope: Scope, exc: GatewayError) -> Response:
        if isinstance(exc, MethodNotAllowed):
            allowed = self._allowed(scope) or list(exc.allowed)
            exc = MethodNotAllowed(f"{scope.get('method')} is not allowed here (allowed: "
                                   f"{', '.join(allowed)})", allowed=allowed)
        dialect = self._dialect(scope)
        response = plain_error_response(scope, exc) if dialect is None else dialect(exc)
        if isinstance(exc, MethodNotAllowed) and exc.allowed:
            response.headers["Allow"] = ", ".join(exc.allowed)
        return response

    # Starlette exception handlers (create_app registers them).

    async def http_exception(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # registered for HTTPException only
            raise exc
        return self.respond(request.scope, _from_http(exc))

    async def gateway_error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, GatewayError):  # registered for GatewayError only
            raise exc
        return self.respond(request.scope, exc)
