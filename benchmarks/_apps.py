"""App factories the benchmarks serve with uvicorn (settings from the environment)."""

from __future__ import annotations

import os

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.catalog import CATALOG
from gateway.rest.upstack.measures import list_measures_operation, measure_body
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


def gateway_app() -> Starlette:
    """The real gateway, plus the measures route as a stored GraphQL operation at
    /bench/measures-operation so both REST mechanisms are measured in one run."""
    app = create_app(Settings.from_environ(os.environ))
    app.router.routes.append(
        surface.route("GET", "/bench/measures-operation", list_measures_operation))
    return app
