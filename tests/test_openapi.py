"""`GET /openapi.json` (issue #17): OpenAPI 3.1 for every REST route of every surface, made
from the route table, with each route's scope and its surface's error body.

The document is fuzzed against the live gateway in tests/test_openapi_fuzz.py; here: it
covers the app's routes (a route the app serves but the document lacks fails), the scopes
it declares are the ones the authorization matrix proves, and each surface's errors are
documented in that surface's body.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from starlette.routing import BaseRoute, Route

from gateway.app import create_app
from gateway.auth.scopes import ROLES
from gateway.openapi import build_openapi
from gateway.rest.base import ANY_CREDENTIAL, SurfaceRoute
from gateway.rest.upstack.users import Role
from gateway.settings import Settings
from tests.support import Harness
from tests.test_authorization_matrix import ANY, PUBLIC, ROWS

# Served routes that are not REST operations: the GraphQL endpoint (its contract is the
# SDL), the document and the pages themselves.
# Not REST surface routes: the health check, GraphQL, the documents and pages themselves,
# and /metrics (Prometheus' text format for scrapers, not a JSON API).
NOT_REST = {"/health", "/graphql", "/openapi.json", "/docs", "/static/{digest}/{name}",
            "/metrics"}


def _app_routes() -> list[BaseRoute]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret="x" * 32))
    return list(app.routes)


def missing_operations(document: dict[str, Any], routes: list[BaseRoute]) -> list[str]:
    """`METHOD /path` of every REST route in `routes` that `document` does not describe."""
    missing = []
    for route in routes:
        assert isinstance(route, Route), route
        if route.path in NOT_REST:
            continue
        described = document["paths"].get(route.path, {})
        missing.extend(f"{m} {route.path}" for m in sorted((route.methods or set()) - {"HEAD"})
                       if m.lower() not in described)
    return missing


async def test_served_document_is_openapi_31(harness: Harness) -> None:
    response = await harness.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert {t["name"] for t in document["tags"]} == {"Upstack Data", "ClickStack (HyperDX v2)"}
    assert not missing_operations(document, _app_routes())


def test_every_served_route_is_in_the_document() -> None:
    """Every REST route the app serves, whatever its surface, is an operation."""
    routes = _app_routes()
    assert len([r for r in routes if isinstance(r, SurfaceRoute)]) >= 33
    assert missing_operations(build_openapi(routes), routes) == []


def test_a_route_outside_the_route_table_is_caught() -> None:
    """The check can fail: a route served without the surface adapter (so without a
    contract) is reported missing."""
    routes = _app_routes()

    async def bare(request: Any) -> Any:
        raise NotImplementedError

    routes.append(Route("/db-mgmt/api/bare", bare, methods=["GET"]))
    assert missing_operations(build_openapi(routes), routes) == ["GET /db-mgmt/api/bare"]


def _surface_routes() -> list[SurfaceRoute]:
    return [r for r in _app_routes() if isinstance(r, SurfaceRoute)]


@pytest.mark.parametrize("route", _surface_routes(), ids=lambda r: f"{r.methods} {r.path}")
def test_declared_scope_is_the_proven_guard(route: SurfaceRoute) -> None:
    """The scope a route documents is the one tests/test_authorization_matrix.py proves its
    guard refuses without (or PUBLIC / ANY), so the document cannot drift from the code."""
    declared = route.contract.scope
    expected = PUBLIC if declared is None else ANY if declared == ANY_CREDENTIAL else declared
    for method in (route.methods or set()) - {"HEAD"}:
        assert ROWS[f"{method} {route.path}"].scope == expected


def test_operations_carry_scope_security_and_the_surface_error_body() -> None:
    document = build_openapi(_app_routes())
    query = document["paths"]["/db-mgmt/api/query"]["post"]
    assert query["x-scope"] == "analytics:read"
    assert {"apiKey": ["analytics:read"], "pixelId": []} in query["security"]
    assert query["x-graphql-twin"] == "Query.analytics"
    assert query["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QueryRequest"}
    login = document["paths"]["/accounts/api/auth/login"]["post"]
    assert login["security"] == [] and login["x-scope"] is None
    responses = document["components"]["responses"]
    for path, surface, body in (("/db-mgmt/api/query", "upstack", "UpstackError"),
                                ("/api/v2/alerts", "clickstack", "ClickStackError")):
        operation = next(iter(document["paths"][path].values()))
        for status in ("400", "401", "403", "404", "429", "500"):
            ref = operation["responses"][status]["$ref"]
            assert ref == f"#/components/responses/{surface}_{status}"
            schema = responses[ref.rsplit("/", 1)[1]]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{body}"}
    assert "`INSUFFICIENT_SCOPE`" in responses["upstack_403"]["description"]
    assert "Retry-After" in responses["clickstack_429"]["headers"]
    upstack_error = document["components"]["schemas"]["UpstackError"]
    assert upstack_error["required"] == ["message"]
    assert set(upstack_error["properties"]) == {"message", "errors"}


def test_created_routes_document_201() -> None:
    document = build_openapi(_app_routes())
    assert "201" in document["paths"]["/accounts/api/api-keys"]["post"]["responses"]
    assert "200" not in document["paths"]["/accounts/api/api-keys"]["post"]["responses"]


def test_user_roles_are_the_scope_tables_roles() -> None:
    assert set(typing.get_args(Role)) == set(ROLES)
