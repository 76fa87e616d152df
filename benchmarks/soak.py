"""Soak: mixed traffic against live gateway processes on loopback, bounded in time (issue #12).

One run drives, at once and for `--seconds` per configuration, against one gateway process
(in-process limiter) and then two (`--workers 2`, one limiter shared through Redis):

    kind        what                                                  expected answer
    catalog     GET /db-mgmt/api/measures, a second pixel's key       200
    query       POST /db-mgmt/api/query, 30 days by day, 3 measures   200
    ingest      POST /tr/api/events, 50 events a batch                200
    dashboard   GraphQL: a dashboard view's widgets with their data   200
    heavy       8 at once, the demo pixel: _harness.HEAVY_QUERY (a    200, or 429 when its
                year by 2 dimensions in a half-hour zone, compared)   pixel's slots stay full
    costly      GraphQL: ten aliased hourly fields over a year        QUERY_TOO_COSTLY
    overlimit   GET /api/v2/alerts as fast as it goes, one key        200 until its limit,
                (ClickStack: 100/min by default; `--limit` here)      then 429 + Retry-After
    health      GET /health every 20 ms                               200

and prints, per configuration, throughput, p50/p99 per kind, the answers by status, the
count of 5xx (must be 0), the limiter's accuracy (requests the over-limit key was allowed
vs what the configured GCRA admits in the elapsed time: `limit + floor(elapsed x
limit/period)`), and /health p99 while the heavy queries run. GraphQL answers are counted by
their first error's code (a refused field is HTTP 200).

    .venv/bin/python benchmarks/soak.py [--seconds 20] [--limit 120]

Needs Redis on 127.0.0.1:6379 for the two-process run (`--redis-url`); loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import HEAVY_QUERY, serve  # after the path insert above
from gateway.auth.principal import system_principal
from gateway.demo import seed_demo
from gateway.services.keys import create_key
from gateway.services.tenancy import create_organization, create_pixel
from gateway.settings import Settings
from gateway.storage import Database

HEAVY_AT_ONCE = 8
QUERY = {"measures": ["core.revenue", "core.orders", "web.sessions"],
         "dateRange": {"preset": "last_30_days"}, "granularity": "day"}
COSTLY = "{ " + " ".join(
    f'a{i}: analytics(input: {{measures: ["core.revenue"], granularity: HOUR, '
    f'dateRange: {{preset: "last_365_days"}}}}) {{ primary {{ dt }} }}' for i in range(10)) + " }"


@dataclass
class Kind:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    first: float = 0.0  # when the first request was sent
    last: float = 0.0  # when the last one was sent

    def note(self, status: int | str, started: float, ended: float) -> None:
        if not self.latencies:
            self.first = started
        self.last = started
        self.latencies.append(ended - started)
        self.statuses[status] += 1


@dataclass
class Tenant:
    demo_key: str
    demo_pixel: str
    other_key: str
    other_pixel: str
    limited_key: str


async def _tenants(settings: Settings) -> Tenant:
    db = Database(settings.database_url)
    await db.migrate()
    now = datetime.now(UTC)
    demo = await seed_demo(db, settings, now=now, days=90, sessions_per_day=300)
    org = await create_organization(db, "soak-other", now)
    pixel = await create_pixel(db, org.id, "other", now)
    other = await create_key(db, settings, system_principal(org.id), name="soak-catalog",
                             scopes=["analytics:read"], pixel_ids=[pixel.id], now=now)
    limited = await create_key(db, settings, system_principal(demo.organization_id),
                               name="soak-limited", scopes=["alerts:read"],
                               pixel_ids=[demo.pixel_id], now=now)
    await db.fold_rollups(10**7)
    await db.dispose()
    return Tenant(demo.key, demo.pixel_id, other.secret, pixel.id, limited.secret)


def _events(pixel: str, n: int) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {"events": [
        {"name": "page_view", "event_id": uuid.uuid4().hex, "timestamp": now_ms - i,
         "session_id": f"soak-{uuid.uuid4().hex[:8]}", "anonymous_id": "soak-visitor",
         "url": "https://shop.test/"}
        for i in range(n)]}


def _answer(response: httpx.Response) -> int | str:
    """The status, or for a GraphQL answer with errors the first error's code (GraphQL
    answers a refused field with 200)."""
    if response.status_code == 200 and response.url.path == "/graphql":
        errors = response.json().get("errors")
        if errors:
            return str(errors[0].get("extensions", {}).get("code", "error"))
    return response.status_code


async def _loop(kind: Kind, deadline: float, send: Callable[[], Awaitable[httpx.Response]],
                *, pause: float = 0.0) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        status: int | str
        try:
            status = _answer(await send())
        except httpx.TransportError:
            status = 599  # a connection the server dropped counts as a server error
        kind.note(status, started, time.perf_counter())
        if pause:
            await asyncio.sleep(pause)


async def _drive(url: str, t: Tenant, seconds: float) -> tuple[dict[str, Kind], list[float]]:
    kinds = {name: Kind(name) for name in
             ("catalog", "query", "ingest", "dashboard", "heavy", "costly", "overlimit",
              "health")}
    demo = {"x-api-key": t.demo_key, "x-pixel-id": t.demo_pixel}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        view = await client.post("/accounts/api/dashboard/views/from-preset", headers=demo,
                                 json={"name": "soak", "widgets": [
                                     {"measure": m} for m in ("core.revenue", "core.orders",
                                                              "web.sessions", "core.aov")]})
        if view.status_code >= 300:
            raise SystemExit(f"could not make the soak's dashboard view: {view.text}")
        view_id = view.json()["id"]
        dashboard = ("query($id: ID!) { dashboardView(id: $id) { widgets { data { total "
                     "points { value } } } } }")
        deadline = time.perf_counter() + seconds
        heavy_window: list[float] = []

        async def heavy() -> httpx.Response:
            return await client.post("/db-mgmt/api/query", headers=demo, json=HEAVY_QUERY)

        async def health_probe() -> None:
            k = kinds["health"]
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = (await client.get("/health")).status_code
                ended = time.perf_counter()
                k.note(status, started, ended)
                if heavy_busy:
                    heavy_window.append(ended - started)
                await asyncio.sleep(0.02)

        heavy_busy = 0

        async def heavy_loop() -> None:
            nonlocal heavy_busy
            k = kinds["heavy"]
            while time.perf_counter() < deadline:
                heavy_busy += 1
                started = time.perf_counter()
                try:
                    status = (await heavy()).status_code
                finally:
                    heavy_busy -= 1
                k.note(status, started, time.perf_counter())

        jobs = [
            *(_loop(kinds["catalog"], deadline, lambda: client.get(
                "/db-mgmt/api/measures", headers={"x-api-key": t.other_key})) for _ in range(4)),
            *(_loop(kinds["query"], deadline, lambda: client.post(
                "/db-mgmt/api/query", headers=demo, json=QUERY)) for _ in range(2)),
            _loop(kinds["ingest"], deadline, lambda: client.post(
                "/tr/api/events", headers=demo, json=_events(t.demo_pixel, 50)), pause=0.05),
            _loop(kinds["dashboard"], deadline, lambda: client.post(
                "/graphql", headers=demo, json={"query": dashboard,
                                                "variables": {"id": view_id}}), pause=0.05),
            _loop(kinds["costly"], deadline, lambda: client.post(
                "/graphql", headers=demo, json={"query": COSTLY}), pause=0.2),
            *(_loop(kinds["overlimit"], deadline, lambda: client.get(
                "/api/v2/alerts", headers={"Authorization": f"Bearer {t.limited_key}"}))
              for _ in range(4)),
            *(heavy_loop() for _ in range(HEAVY_AT_ONCE)),
            health_probe(),
        ]
        await asyncio.gather(*jobs)
    return kinds, heavy_window


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _report(console: Console, title: str, kinds: dict[str, Kind], heavy_window: list[float],
            seconds: float, limit: int, period: float) -> dict[str, Any]:
    table = Table(title=title)
    for column in ("kind", "requests", "req/s", "p50 ms", "p99 ms", "answers"):
        table.add_column(column, justify="left" if column in ("kind", "answers") else "right")
    server_errors = 0
    for k in kinds.values():
        server_errors += sum(n for s, n in k.statuses.items() if isinstance(s, int) and s >= 500)
        table.add_row(k.name, f"{len(k.latencies):,}", f"{len(k.latencies) / seconds:,.1f}",
                      f"{_pct(k.latencies, 0.5):.1f}", f"{_pct(k.latencies, 0.99):.1f}",
                      " ".join(f"{s}x{n}" for s, n in sorted(k.statuses.items(), key=str)))
    console.print(table)
    over = kinds["overlimit"]
    allowed = over.statuses.get(200, 0)
    elapsed = over.last - over.first
    # GCRA admits the limit at once, then one more every period/limit seconds.
    expected = limit + math.floor(elapsed * limit / period)
    accuracy = allowed / expected if expected else float("nan")
    health_p99 = _pct(heavy_window, 0.99)
    console.print(f"5xx answers: {server_errors}   limiter: {allowed} allowed of "
                  f"{expected:.0f} the limit admits in {elapsed:.1f} s "
                  f"(accuracy {accuracy:.3f})   /health p99 while heavy queries run: "
                  f"{health_p99:.1f} ms ({len(heavy_window)} probes)\n")
    return {"server_errors": server_errors, "accuracy": accuracy, "health_p99": health_p99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per configuration")
    parser.add_argument("--limit", type=int, default=120,
                        help="the over-limit key's ClickStack limit per minute (default 120)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", default="1,2", help="configurations to run (default 1,2)")
    args = parser.parse_args()
    console = Console()
    failed = False
    for workers in (int(w) for w in args.workers.split(",")):
        tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'soak.sqlite3'}",
                            secret="soak-secret-" + "x" * 32)
        console.print(f"[bold]{workers} process(es)[/]: seeding the demo store ...")
        tenant = asyncio.run(_tenants(settings))
        env = {"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_SECRET": settings.secret,
               "GATEWAY_ALERTS": "0", "GATEWAY_ACCESS_LOG": "0",
               # Everything but the over-limit key stays under its limit: the upstack and
               # GraphQL rows are lifted; ClickStack's row is the one measured.
               "GATEWAY_RATE_LIMITS": f"upstack=1000000/60,graphql=1000000/60,"
                                      f"clickstack={args.limit}/60"}
        if workers > 1:
            env["GATEWAY_REDIS_URL"] = args.redis_url
            env["GATEWAY_REDIS_KEY_PREFIX"] = f"soak:{uuid.uuid4().hex[:8]}:"
        with serve("benchmarks._apps:gateway_app", env, workers=workers) as url:
            kinds, window = asyncio.run(_drive(url, tenant, args.seconds))
        result = _report(console, f"soak: {workers} process(es), {args.seconds:.0f} s",
                         kinds, window, args.seconds, args.limit, 60.0)
        failed |= result["server_errors"] > 0 or abs(result["accuracy"] - 1) > 0.01
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
