"""`SurfaceRoute.matches` answers as Starlette's `Route.matches` (its static-path shortcut
compares strings instead of running the path's regular expression)."""

from __future__ import annotations

import itertools

from starlette.routing import Route

from gateway.rest import clickstack, upstack
from gateway.rest.base import SurfaceRoute


def test_surface_routes_match_as_starlette_routes_do() -> None:
    routes = [r for r in [*upstack.routes(), *clickstack.routes()]
              if isinstance(r, SurfaceRoute)]
    assert any(r._static for r in routes) and not all(r._static for r in routes)
    paths = [r.path for r in routes] + [r.path + "/" for r in routes] + [
        "/", "/db-mgmt", "/api/v2/alerts/4f1d", "/db-mgmt/api/measures/x", ""]
    for route, path, method, root in itertools.product(
            routes, paths, ["GET", "HEAD", "POST", "PUT", "DELETE"], ["", "/mounted"]):
        scope = {"type": "http", "path": root + path, "root_path": root, "method": method,
                 "path_params": {"outer": "1"}}
        assert route.matches(scope) == Route.matches(route, scope), (route.path, scope)
    websocket = {"type": "websocket", "path": routes[0].path, "root_path": ""}
    assert routes[0].matches(websocket) == Route.matches(routes[0], websocket)
