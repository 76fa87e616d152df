"""App factories the benchmarks serve with uvicorn (settings from the environment)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.asgi import app_factory, freeze_heap
from gateway.audit import AuditEntry, AuditLog
from gateway.auth.keys import KeyHasher
from gateway.catalog import CATALOG
from gateway.context import Context
from gateway.errors import GatewayError, InvalidInput
from gateway.rest.base import ANY_CREDENTIAL
from gateway.rest.upstack.measures import MeasuresBody, measure_body
from gateway.rest.upstack.surface import surface
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.keys import find_key_by_hash
from gateway.types.measure import Measure

__all__ = ["bare_catalog_app", "floor_catalog_app", "gateway_app"]


def _catalog_bytes() -> bytes:
    return orjson.dumps(
        {"measures": [measure_body(Measure.from_definition(d)) for d in CATALOG]})


async def _health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def bare_catalog_app() -> Starlette:
    """The baseline: Starlette returning the same catalog JSON bytes, encoded once at start
    (the limit any cache reaches), no auth, no audit, no GraphQL. Its heap is frozen after
    start-up like the gateway's (`freeze_heap`), so all three servers run alike."""
    encoded = _catalog_bytes()
    freeze_heap()

    async def measures(request: Request) -> Response:
        return Response(encoded, media_type="application/json")

    return Starlette(routes=[Route("/health", _health),
                             Route("/db-mgmt/api/measures", measures)])


def floor_catalog_app() -> Starlette:
    """The second reference: the least a handler that authenticates and audits each request
    must add to the baseline. Bare Starlette serving the same bytes, plus the key's HMAC, one
    dict look-up of the hash (keys read once), and one `auth.success` entry for the real
    `AuditLog`, written by its writer task to the same table as the gateway's. No request
    context, principal, scope, pixel, expiry or revocation check, no lastUsedAt, no
    middleware: what the gateway adds beyond this is the price of those."""
    settings = Settings.from_environ(os.environ)
    encoded = _catalog_bytes()
    hash_key = KeyHasher(settings.secret)
    keys: dict[str, tuple[str, str, str]] = {}  # key hash -> (key id, organization, label)
    live: dict[str, Any] = {}
    freeze_heap()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        await db.migrate()
        audit = live["audit"] = AuditLog(db, interval=settings.audit_flush_seconds)
        live["db"] = db
        task = asyncio.create_task(audit.run())
        try:
            yield
        finally:
            audit.stop()
            await task
            await audit.flush()
            await db.dispose()

    async def measures(request: Request) -> Response:
        token = request.headers.get("x-api-key")
        key_hash = hash_key(token) if token else ""
        found = keys.get(key_hash)
        if found is None:
            async with live["db"].session() as session:
                row = await find_key_by_hash(session, key_hash)
            if row is None:
                return Response(status_code=401)
            found = keys[key_hash] = (row.id, row.organization_id, row.prefix + row.start)
        client = request.scope.get("client")
        live["audit"].record(AuditEntry(
            datetime.now(UTC), found[1], "auth.success", "success", "api_key", found[0],
            found[2], None, None, client[0] if client else None,
            request.headers.get("user-agent"), os.urandom(12).hex()))
        return Response(encoded, media_type="application/json")

    return Starlette(routes=[Route("/health", _health),
                             Route("/db-mgmt/api/measures", measures)], lifespan=lifespan)


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
    """The real gateway as servers run it (`gateway.asgi.app_factory`), plus the measures
    route as a stored GraphQL operation at /bench/measures-operation so both REST mechanisms
    are measured in one run."""
    app = app_factory()
    app.router.routes.append(surface.route("GET", "/bench/measures-operation",
                                           _stored_operation, twin="Query.measures",
                                           scope=ANY_CREDENTIAL, response=MeasuresBody))
    return app
