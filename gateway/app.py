"""`create_app(settings)`: the whole gateway as one ASGI application.

Routes, middleware and lifespan are declared here and nowhere else. The lifespan opens the
database, upgrades its schema in place, opens the rate limiter (Redis when
`GATEWAY_REDIS_URL` is set), and publishes an `AppState` on `app.state.gateway`.

Middleware, outermost first: the request id (gateway/request_id.py), the access log and
metrics (gateway/observe.py), CORS (gateway/cors.py), then the body limit. Errors raised
outside a route's own handling (the router's 404 and 405, the body limit, an asset route)
answer in the dialect of the surface the path belongs to (gateway/http_errors.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__
from gateway.audit import AuditLog
from gateway.auth.authenticate import ApiKeyAuthenticator, KeyCache, PixelTargets
from gateway.auth.revocation import RevocationSignal
from gateway.auth.sessions import SessionAuthenticator
from gateway.auth.throttle import LoginThrottle
from gateway.auth.usage import KeyUsage
from gateway.context import AppState
from gateway.cors import CORSMiddleware
from gateway.egress import EgressGuard, Resolver, resolve_system
from gateway.errors import GatewayError
from gateway.graphql_view import GRAPHQL_RATE_LIMIT, GatewayGraphQL, graphql_error_response
from gateway.http_errors import ErrorDialects
from gateway.metrics import Metrics
from gateway.middleware import BodyLimitMiddleware, CancelOnDisconnect
from gateway.observe import ObserveMiddleware, flush_access_log, metrics_endpoint
from gateway.openapi import OpenAPIDocument
from gateway.pages import Pages
from gateway.rate_policy import AuthFailures, RateLimits, Rates
from gateway.ratelimit import Limiter, LocalLimiter, SharedLimiter, micros, open_redis
from gateway.request_id import RequestIdMiddleware
from gateway.rest import clickstack, upstack
from gateway.rest.base import JSONBody, SurfaceRoute
from gateway.schema import build_schema
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.services.webhooks import seal_legacy_secrets, webhook_secret_box
from gateway.settings import Settings, SettingsError
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
    may fold: the write lock makes them take turns."""
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


async def _flush_access_log() -> None:
    flush_access_log()


def _micros(clock: Callable[[], datetime]) -> Callable[[], int]:
    """`clock` in epoch µs for the limiter; the system clock read without building a
    datetime per request (the same time source as `utc_now`)."""
    if clock is utc_now:
        return lambda: time.time_ns() // 1000
    return lambda: micros(clock())


def _open_limiter(settings: Settings, clock: Callable[[], int]) -> Limiter:
    """The in-process limiter, or the Redis one (with it as the fallback) when configured.
    Redis is not contacted here: the first request does, and an unreachable Redis only
    means per-process limits until it answers (gateway/ratelimit.py)."""
    local = LocalLimiter(clock)
    if settings.redis_url is None:
        return local
    try:
        redis = open_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    except ImportError:
        raise SettingsError("GATEWAY_REDIS_URL needs the redis client: "
                            "pip install 'gateway[redis]'") from None
    except ValueError as exc:  # redis-py's word for a URL it cannot read
        raise SettingsError(f"GATEWAY_REDIS_URL: {exc}") from None
    where = f"Redis at {settings.redis_url.rpartition('@')[2]}"  # no password in the log
    return SharedLimiter(redis, local, prefix=settings.redis_key_prefix,
                         retry_seconds=settings.redis_retry_seconds, where=where)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now,
               resolver: Resolver = resolve_system) -> Starlette:
    """Build the app. `clock` is the time source for expiry and defaults, `resolver` the host
    name resolver of the egress guard (gateway/egress.py); tests pass their own."""
    settings = settings.with_secret()
    metrics = (Metrics(multiprocess_dir=settings.metrics_multiprocess_dir)
               if settings.metrics else None)
    egress = EgressGuard.for_settings(settings, resolver=resolver)
    webhook_secrets = webhook_secret_box(settings.secret)
    schema = build_schema(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url,
                      busy_timeout_seconds=settings.sqlite_busy_timeout_seconds, metrics=metrics,
                      heavy=settings.heavy_limits)
        await db.migrate()
        await seal_legacy_secrets(db, webhook_secrets)  # rows written before sealing
        signal = RevocationSignal.for_settings(settings)
        cache = KeyCache(settings.key_cache_seconds, signal=signal)
        pixels = PixelTargets(db)
        usage = KeyUsage(db)
        audit = AuditLog(db, interval=settings.audit_flush_seconds)
        limiter_clock = _micros(clock)
        limiter = _open_limiter(settings, limiter_clock)
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
            rates=Rates(limiter, limits),
            auth_failures=AuthFailures(limiter, limit=settings.auth_failure_limit,
                                       period=settings.auth_failure_seconds,
                                       clock=limiter_clock),
            schema=schema,
            audit=audit,
            key_usage=usage,
            metrics=metrics,
        )
        audit_task = asyncio.create_task(audit.run(), name="audit-log")
        usage_task = asyncio.create_task(
            _every(settings.usage_flush_seconds, usage.flush, "lastUsedAt"), name="key-usage")
        # Access lines are written in batches (gateway/observe.py), at most half a second late.
        access_task = asyncio.create_task(
            _every(0.5, _flush_access_log, "access log"), name="access-log")
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
            access_task.cancel()
            with suppress(asyncio.CancelledError):
                await access_task
            flush_access_log()
            usage_task.cancel()
            with suppress(asyncio.CancelledError):
                await usage_task
            await audit_task
            try:  # what the requests of this process recorded is written before exit
                await audit.flush()
                await usage.flush()
            finally:
                if signal is not None:
                    signal.close()
                await limiter.close()
                await db.dispose()

    pages = Pages()
    graphql = GatewayGraphQL(schema, graphql_ide="graphiql" if settings.graphiql else None,
                             pages=pages)
    surfaces = [*upstack.routes(), *clickstack.routes()]
    openapi = OpenAPIDocument(surfaces)
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/openapi.json", openapi.endpoint, methods=["GET"]),
        Route("/docs", pages.docs, methods=["GET"]),
        Route("/static/{digest}/{name}", pages.asset, methods=["GET"]),
        *surfaces,
    ]
    # Every policy a route declares has numbers, or the gateway does not start.
    limits = RateLimits(settings)
    limits.require([GRAPHQL_RATE_LIMIT.name, *(r.rate_limit.name for r in routes
                                               if isinstance(r, SurfaceRoute))])
    if metrics is not None:
        routes.append(Route("/metrics", metrics_endpoint(metrics, settings.metrics_token),
                            methods=["GET"]))
    errors = ErrorDialects(routes, graphql=graphql, graphql_response=graphql_error_response)
    # Outermost first. The request id is set before anything logs: every response, a refused
    # body's and a CORS preflight's included, carries X-Request-Id, and an exception escaping
    # the app is answered in the addressed surface's dialect and logged once with the id. The
    # access log and metrics see every answer, the body limit's 413s included.
    middleware = [Middleware(RequestIdMiddleware, respond=errors.respond)]
    if metrics is not None or settings.access_log:
        middleware.append(Middleware(ObserveMiddleware, metrics=metrics,
                                     access_log=settings.access_log,
                                     key_prefix=settings.key_prefix))
    if settings.cors_origins:  # without configured origins, not even a pass-through layer
        middleware.append(Middleware(CORSMiddleware, origins=settings.cors_origins))
    middleware.append(Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                                 respond=errors.respond))
    # Inside the body limit: it listens for a disconnect only once the body is read.
    middleware.append(Middleware(CancelOnDisconnect))
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: errors.http_exception,
                                         GatewayError: errors.gateway_error},
                     lifespan=lifespan)
