"""App factories the benchmarks serve with uvicorn (settings from the environment)."""

from __future__ import annotations

import os
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.catalog import CATALOG
from gateway.context import Context
from gateway.errors import GatewayError, InvalidInput
from gateway.rest.upstack.measures import measure_body
from gateway.rest.upstack.surface import surface
from gateway.settings import Settings
from gateway.types.measure import Measure

__all__ = ["bare_catalog_app", "gateway_app"]


def bare_catalog_app() -> Starlette:
    """The baseline: Starlette returning the same catalog JSON bytes, encoded once at start
    (the limit any cache reaches), no auth, no audit, no GraphQL."""
    encoded = orjson.dumps(
        {"measures": [measure_body(Measure.from_definition(d)) for d in CATALOG]})

    async def measures(request: Request) -> Response:
        return Response(encoded, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/health", health), Route("/db-mgmt/api/measures", measures)])


# The measures route as a stored GraphQL operation: the REST mechanism gateway/rest/base.py
# weighed against direct resolver calls and did not take. Kept here, and only here, so
# benchmarks/catalog.py can keep measuring the choice.
MEASURES_OPERATION = """
query UpstackMeasures($category: String, $search: String) {
  measures(category: $category, search: $search) {
    key title description category unit format isAverage isPercentage isAdditive hasPacing
    preferredTrendDirection synonyms formula aggregation
  }
}"""


def _measure_body_from_graphql(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["key"], "key": m["key"], "title": m["title"], "description": m["description"],
        "category": m["category"], "unit": m["unit"], "format": m["format"].title(),
        "isAverage": m["isAverage"], "isPercentage": m["isPercentage"],
        "isAdditive": m["isAdditive"], "hasPacing": m["hasPacing"],
        "preferredTrendDirection": m["preferredTrendDirection"].lower(),
        "synonyms": m["synonyms"], "formula": m["formula"], "aggregation": m["aggregation"],
    }


async def _stored_operation(ctx: Context, request: Request) -> Any:
    result = await ctx.state.schema.execute(
        MEASURES_OPERATION, context_value=ctx,
        variable_values={"category": request.query_params.get("category"),
                         "search": request.query_params.get("search")})
    if result.errors:
        original = result.errors[0].original_error
        raise original if isinstance(original, GatewayError) else InvalidInput(
            result.errors[0].message)
    assert result.data is not None
    return {"measures": [_measure_body_from_graphql(m) for m in result.data["measures"]]}


def gateway_app() -> Starlette:
    """The real gateway, plus the measures route as a stored GraphQL operation at
    /bench/measures-operation so both REST mechanisms are measured in one run."""
    app = create_app(Settings.from_environ(os.environ))
    app.router.routes.append(surface.route("GET", "/bench/measures-operation",
                                           _stored_operation, twin="Query.measures"))
    return app
