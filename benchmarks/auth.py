"""What key verification adds to a request (issue #3): the same request on an unauthenticated
route and with an API key (cache-hit path), measured in one run.

    .venv/bin/python benchmarks/auth.py [--requests 3000] [--rounds 5]

Both variants run the same REST handler through the same `Surface.route` machinery; the
unauthenticated one is a route added here that hands the handler a fixed operator principal
instead of authenticating. The keyed variant pays everything a real request pays: header
parsing, checksum, HMAC, cache look-up with the cross-process revocation check, pixel
targeting, the audit entry and the lastUsedAt note, and the writes of both: each timed block
ends with the flushes its requests caused (the background task's work, done inline here
because a request loop that never idles would not let it run).
Requests go straight into the ASGI app (no HTTP client or socket), so the ratio is the app's
own cost; rounds alternate the variants to spread machine noise. Goal: < 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from starlette.requests import Request
from starlette.responses import Response

from gateway.app import create_app
from gateway.asgi import freeze_heap
from gateway.auth.principal import system_principal
from gateway.context import Context
from gateway.rest.base import ANY_CREDENTIAL, resolver_info
from gateway.rest.upstack import measures, surface
from gateway.services import keys as key_service
from gateway.services import tenancy
from gateway.settings import Settings
from resolvers.measures import resolve_measures


async def _call(app: Any, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
             "root_path": "", "headers": [(b"host", b"bench"), *headers],
             "client": ("127.0.0.1", 5000), "server": ("bench", 80)}
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _run(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Limits no run reaches: the limiter runs on every request, always admitting.
        rows = {**Settings().rate_limits, "upstack": (1_000_000, 1.0),
                "anonymous": (1_000_000, 1.0)}
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.sqlite3",
                            secret="bench-" + "x" * 40, rate_limits=rows)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            state = app.state.gateway
            now = datetime.now(UTC)
            org = await tenancy.create_organization(state.db, "Bench", now)
            pixel = await tenancy.create_pixel(state.db, org.id, "site", now)
            key = (await key_service.create_key(
                state.db, settings, system_principal(org.id), name="bench",
                scopes=["analytics:read"], pixel_ids=[pixel.id], now=now)).secret
            operator = system_principal(org.id)

            bodies = measures.CatalogBodies()

            async def open_measures(ctx: Context, request: Request) -> Any:
                ctx._principal = operator  # what authentication would have produced
                # served as the real route serves it: the body encoded once per listing
                found = resolve_measures(resolver_info(ctx),
                                         search=request.query_params.get("search"))
                return Response(bodies.encoded(found), media_type="application/json")

            # Beside the real route, so both are found after the same routes are tried.
            at = next(i for i, r in enumerate(app.router.routes)
                      if getattr(r, "path", None) == "/db-mgmt/api/measures")
            app.router.routes.insert(at, surface.route(
                "GET", "/bench/open", open_measures, twin="Query.measures",
                scope=ANY_CREDENTIAL, response=measures.MeasuresBody))
            keyed = [(b"x-api-key", key.encode()), (b"x-pixel-id", pixel.id.encode())]
            cases = [("catalog (55 measures)", b""), ("search=roas (small body)", b"search=roas")]
            results: dict[tuple[str, str], list[float]] = {}
            for _, query in cases:  # warm up: caches, imports, first connections
                for _ in range(200):
                    assert await _call(app, "/bench/open", query, []) == 200
                    assert await _call(app, "/db-mgmt/api/measures", query, keyed) == 200
            freeze_heap()  # as gateway.asgi does in servers: full collections stay short
            for _ in range(rounds):
                for label, query in cases:
                    for variant, path, headers in (("open", "/bench/open", []),
                                                   ("key", "/db-mgmt/api/measures", keyed)):
                        start = time.perf_counter()
                        for _ in range(requests):
                            await _call(app, path, query, headers)
                        # The block pays for the audit rows and lastUsedAt it caused (the
                        # background task would write them; here the loop never idles).
                        await state.audit.flush()
                        await state.key_usage.flush()
                        elapsed = time.perf_counter() - start
                        results.setdefault((label, variant), []).append(
                            elapsed / requests * 1e6)
            audit_written = state.audit.written

    table = Table(title=f"key verification overhead ({requests} requests x {rounds} rounds, "
                        "median µs per request)")
    for column in ("request", "unauthenticated", "with API key", "ratio"):
        table.add_column(column, justify="right" if column != "request" else "left")
    for label, _ in cases:
        open_us = statistics.median(results[(label, "open")])
        key_us = statistics.median(results[(label, "key")])
        table.add_row(label, f"{open_us:,.0f}", f"{key_us:,.0f}", f"{key_us / open_us:.3f}")
    console = Console()
    console.print(table)
    console.print(f"audit entries written during the run: {audit_written:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
