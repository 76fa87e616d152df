"""`create_app(settings)`: the whole gateway as one ASGI application.

Routes, middleware and lifespan are declared here and nowhere else. The lifespan opens the
database, upgrades its schema in place, and publishes an `AppState` on `app.state.gateway`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from gateway import __version__
from gateway.audit import AuditLog
from gateway.auth.authenticate import ApiKeyAuthenticator, KeyCache, PixelTargets
from gateway.auth.revocation import key_signal_for
from gateway.auth.sessions import SessionAuthenticator
from gateway.auth.throttle import LoginThrottle
from gateway.auth.usage import KeyUsage
from gateway.context import AppState
from gateway.egress import EgressGuard, Resolver, resolve_system
from gateway.errors import GatewayError
from gateway.graphql_view import GatewayGraphQL, graphql_error_response
from gateway.middleware import BodyLimitMiddleware, plain_error_response
from gateway.rest import clickstack, upstack
from gateway.rest.base import JSONBody, SurfaceRoute
from gateway.schema import build_schema
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.services.webhooks import seal_legacy_secrets, webhook_secret_box
from gateway.settings import Settings
from gateway.storage import Database

__all__ = ["create_app", "utc_now"]

log = logging.getLogger("gateway")


def utc_now() -> datetime:
    return datetime.now(UTC)


async def health(request: Request) -> Response:
    return JSONBody({"status": "ok", "version": __version__})


async def _every(seconds: float, flush: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `flush` every `seconds` until cancelled; a failure is logged and retried. A flush
    in progress finishes before the cancellation goes through (shutdown flushes once more)."""
    while True:
        await asyncio.sleep(seconds)
        running = asyncio.ensure_future(flush())
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            with suppress(Exception):
                await running
            raise
        except Exception:
            log.exception("background %s flush failed; will retry", what)


async def _fold_rollups(db: Database, *, idle: float = 1.0, batch: int = 2_000,
                        share: float = 0.25) -> None:
    """Keep the rollups close behind the events (gateway/storage/rollups.py). Folds in
    batches of `batch` events, so a writer waits for the lock at most one short fold; while
    this process is ingesting, folding takes at most `share` of the time (ingestion comes
    first; queries fold what little is left or scan raw events); when ingestion is quiet it
    folds flat out; with nothing to fold it looks again every `idle` seconds. Any process
    may fold: they take turns (SQLite's write lock; on PostgreSQL a folder finding another
    at work skips its turn)."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            folded = await db.fold_rollups(batch)
        except Exception:
            log.exception("folding events into rollups failed; will retry")
            folded = 0
        if not folded:
            await asyncio.sleep(idle)
            continue
        busy = db.event_writer.seconds_since_write() < 1.0
        await asyncio.sleep((loop.time() - started) * (1 - share) / share if busy else 0)


def _error_responder(routes: Sequence[BaseRoute],
                     graphql: GatewayGraphQL) -> Callable[[Scope, GatewayError], Response]:
    """An error raised before routing (a body the middleware refuses), answered in the
    dialect of the route the request addressed: its REST surface's body, GraphQL's
    `{"errors": [...]}`, else `{"message", "code"}`."""

    def respond(scope: Scope, exc: GatewayError) -> Response:
        for route in routes:
            if route.matches(scope)[0] is Match.NONE:
                continue
            if isinstance(route, SurfaceRoute):
                return route.surface.error_response(exc)
            if isinstance(route, Route) and route.endpoint is graphql:
                return graphql_error_response(exc)
            break
        return plain_error_response(scope, exc)

    return respond


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now,
               resolver: Resolver = resolve_system) -> Starlette:
    """Build the app. `clock` is the time source for expiry and defaults, `resolver` the host
    name resolver of the egress guard (gateway/egress.py); tests pass their own."""
    settings = settings.with_secret()
    egress = EgressGuard.for_settings(settings, resolver=resolver)
    webhook_secrets = webhook_secret_box(settings.secret)
    schema = build_schema(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database.for_settings(settings)
        await db.migrate()
        await seal_legacy_secrets(db, webhook_secrets)  # rows written before sealing
        signal = key_signal_for(settings, db)
        if signal is not None:
            await signal.start()
        cache = KeyCache(settings.key_cache_seconds, signal=signal)
        pixels = PixelTargets(db)
        usage = KeyUsage(db)
        audit = AuditLog(db, interval=settings.audit_flush_seconds)
        app.state.gateway = AppState(
            settings=settings,
            db=db,
            authenticators=[
                ApiKeyAuthenticator(db, server_secret=settings.secret,
                                    prefix=settings.key_prefix, cache=cache, clock=clock,
                                    pixels=pixels, usage=usage),
                SessionAuthenticator(db, secret=settings.secret, clock=clock, pixels=pixels),
            ],
            key_cache=cache,
            clock=clock,
            login_throttle=LoginThrottle(
                account_burst=settings.login_account_burst,
                account_interval=settings.login_account_interval_seconds,
                address_burst=settings.login_address_burst,
                address_interval=settings.login_address_interval_seconds,
                concurrency=settings.login_concurrency,
                queue_seconds=settings.login_queue_seconds),
            egress=egress,
            webhook_secrets=webhook_secrets,
            schema=schema,
            audit=audit,
            key_usage=usage,
        )
        audit_task = asyncio.create_task(audit.run(), name="audit-log")
        usage_task = asyncio.create_task(
            _every(settings.usage_flush_seconds, usage.flush, "lastUsedAt"), name="key-usage")
        # The alert evaluator runs in every process; leases in the database keep processes
        # from evaluating the same window twice.
        evaluator = (AlertEvaluator(db, settings, egress=egress)
                     if settings.alerts_enabled else None)
        alert_task = None if evaluator is None else asyncio.create_task(evaluator.run(clock))
        rollup_task = asyncio.create_task(_fold_rollups(db), name="rollups")
        try:
            yield
        finally:
            rollup_task.cancel()
            with suppress(asyncio.CancelledError):
                await rollup_task
            if alert_task is not None:
                alert_task.cancel()
                with suppress(asyncio.CancelledError):
                    await alert_task
            audit.stop()
            usage_task.cancel()
            with suppress(asyncio.CancelledError):
                await usage_task
            await audit_task
            try:  # what the requests of this process recorded is written before exit
                await audit.flush()
                await usage.flush()
            finally:
                if signal is not None:
                    await signal.close()
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
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                               respond=_error_responder(routes, graphql))],
        lifespan=lifespan,
    )
