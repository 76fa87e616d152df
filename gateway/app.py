"""`create_app(settings)`: the whole gateway as one ASGI application.

Routes, middleware and lifespan are declared here and nowhere else. The lifespan opens the
database, upgrades its schema in place, and publishes an `AppState` on `app.state.gateway`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__
from gateway.auth.authenticate import ApiKeyAuthenticator, KeyCache
from gateway.context import AppState
from gateway.graphql_view import GatewayGraphQL
from gateway.middleware import BodyLimitMiddleware
from gateway.rest import clickstack, upstack
from gateway.rest.base import JSONBody
from gateway.schema import build_schema
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.settings import Settings
from gateway.storage import Database

__all__ = ["create_app", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def health(request: Request) -> Response:
    return JSONBody({"status": "ok", "version": __version__})


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Starlette:
    """Build the app. `clock` is the time source for expiry and defaults; tests pass their own."""
    settings = settings.with_secret()
    schema = build_schema(result_cache=settings.graphql_result_cache)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        await db.migrate()
        cache = KeyCache(settings.key_cache_seconds)
        app.state.gateway = AppState(
            settings=settings,
            db=db,
            authenticators=[
                ApiKeyAuthenticator(db, server_secret=settings.secret,
                                    prefix=settings.key_prefix, cache=cache, clock=clock),
            ],
            key_cache=cache,
            clock=clock,
            schema=schema,
        )
        # The alert evaluator runs in every process; leases in the database keep processes
        # from evaluating the same window twice.
        evaluator = AlertEvaluator(db, settings) if settings.alerts_enabled else None
        task = None if evaluator is None else asyncio.create_task(evaluator.run(clock))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await db.dispose()

    graphql = GatewayGraphQL(schema, graphql_ide="graphiql" if settings.graphiql else None)
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        *upstack.routes(),
        *clickstack.routes(),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)],
        lifespan=lifespan,
    )
