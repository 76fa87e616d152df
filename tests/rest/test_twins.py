"""Every REST route names its GraphQL twin, and every REST write has one (issue #11).

The live route table is enumerated (the app's routes, not a list kept by hand): each route of a
REST surface names, as `twin`, the GraphQL field whose resolver it calls. A read (GET, or a
POST that only queries) names a Query field; a write names a Mutation field. A new write route
without a GraphQL mutation fails here."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.rest.base import SurfaceRoute
from gateway.schema import build_schema
from gateway.settings import Settings

SETTINGS = Settings(database_url="sqlite+aiosqlite:///:memory:", secret="x" * 32)
# POST routes that read: Upstack sends queries as bodies.
POST_READS = {"/db-mgmt/api/query", "/db-mgmt/api/query-attribution",
              "/db-mgmt/api/query-cohort-analysis"}


def _rest_routes() -> list[SurfaceRoute]:
    routes = [r for r in create_app(SETTINGS).router.routes if isinstance(r, SurfaceRoute)]
    assert len(routes) > 30, "the REST surfaces' routes"
    return routes


def _fields() -> dict[str, set[str]]:
    schema = build_schema(SETTINGS)._schema
    return {root: set(getattr(schema, f"{root.lower()}_type").fields)
            for root in ("Query", "Mutation")}


ROUTES = _rest_routes()


def _method(route: SurfaceRoute) -> str:
    [method] = (route.methods or set()) - {"HEAD"}
    return method


@pytest.mark.parametrize("route", ROUTES,
                         ids=lambda r: f"{_method(r)} {r.path}")
def test_route_names_its_graphql_twin(route: SurfaceRoute) -> None:
    """Rule (issue #11): a REST route adapts one GraphQL field; a write adapts a mutation."""
    method = _method(route)
    assert route.twin, f"{method} {route.path} names no GraphQL twin"
    root, _, name = route.twin.partition(".")
    reads = method == "GET" or (method == "POST" and route.path in POST_READS)
    assert root == ("Query" if reads else "Mutation"), (
        f"{method} {route.path} is a {'read' if reads else 'write'}; twin {route.twin}")
    assert name in _fields()[root], f"{route.twin} is not in the schema"


def test_every_rest_write_maps_to_a_distinct_mutation() -> None:
    """Each mutation is the twin of at most one REST write of a surface, so the mapping is a
    table, and PUT /api/v2/webhooks/{id} is updateWebhook (it had no twin before)."""
    writes = {(_method(r), r.path): r.twin for r in ROUTES
              if r.twin and r.twin.startswith("Mutation.")}
    per_surface: dict[tuple[str, str | None], list[tuple[str, str]]] = {}
    for r in ROUTES:
        if r.twin and r.twin.startswith("Mutation."):
            per_surface.setdefault((r.surface.name, r.twin), []).append(
                (_method(r), r.path))
    assert all(len(v) == 1 for v in per_surface.values()), per_surface
    assert writes[("PUT", "/api/v2/webhooks/{id}")] == "Mutation.updateWebhook"
