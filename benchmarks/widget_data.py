"""Widget data: a page of 20 dashboard views x 30 widgets over the demo store (90 days),
on SQLite and on PostgreSQL in one run.

Baseline, measured in the same run: one engine call per widget (what a resolver without the
dataloader would do). Compared with the loader's batch function (`compute_series`, one
engine call per (pixel, range, granularity) group) and with the whole GraphQL request
through the ASGI app. Prints seconds (median of --repeat runs), SQL statements, and the
ratio to the baseline, per backend; then the backends side by side, with issue #16's goal:
PostgreSQL with rollups within 1.5x of SQLite on the page. The demo's rollups are folded
before timing (as `gateway demo` does), so both read rollups.

    .venv/bin/python benchmarks/widget_data.py [--views 20] [--widgets 30] [--repeat 3]
        [--pg postgresql+asyncpg://127.0.0.1:5432/gw_pg_bench_widgets | --pg skip]

The PostgreSQL database is emptied (dropped and created) at the start of each run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import recreate_postgres_database
from gateway.app import create_app
from gateway.auth.principal import system_principal
from gateway.catalog import CATALOG
from gateway.demo import seed_demo
from gateway.engine import EngineQuery, TimeRange, run_query
from gateway.periods import day_range
from gateway.services.widget_data import SeriesKey, compute_series
from gateway.settings import Settings

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
RANGE = {"start": "2026-10-22", "end": "2026-11-20"}
PAGE = "{ dashboardViews { id widgets { id data { total points { value } } } } }"


async def _measure(fn: Callable[[], Awaitable[Any]], engine: Any,
                   repeat: int) -> tuple[float, int]:
    times, statements = [], 0
    for _ in range(repeat):
        seen: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any,
                  seen: list[str] = seen) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        started = time.perf_counter()
        try:
            await fn()
        finally:
            times.append(time.perf_counter() - started)
            event.remove(engine, "before_cursor_execute", count)
        statements = len(seen)
    return statistics.median(times), statements


Row = tuple[str, float, int]


async def _bench(url: str, views: int, widgets: int, repeat: int) -> list[Row]:
    settings = Settings(database_url=url, secret="bench-" + "x" * 32, alerts_enabled=False)
    app = create_app(settings, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        state = app.state.gateway
        demo = await seed_demo(state.db, settings, now=NOW)
        while await state.db.fold_rollups(wait=True):  # as `gateway demo` does
            pass
        headers = {"x-api-key": demo.key, "x-pixel-id": demo.pixel_id}
        measures = [m.key for m in CATALOG][:widgets]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            for _ in range(views):
                r = await client.post("/accounts/api/dashboard/views", headers=headers, json={
                    "name": "bench", "configuration": {
                        "widgets": [{"measure": m} for m in measures], "dateRange": RANGE}})
                assert r.status_code == 200, r.text
            engine = state.db.engine.sync_engine
            start, end = day_range(date(2026, 10, 22), date(2026, 11, 20),
                                   ZoneInfo("America/New_York"))

            async def per_widget() -> None:
                for _ in range(views):
                    for m in measures:
                        await run_query(state.db, EngineQuery(
                            demo.pixel_id, (m,), TimeRange(start, end), "day",
                            "America/New_York"))

            keys = [SeriesKey(demo.pixel_id, ("dates", RANGE["start"], RANGE["end"]), "day",
                              NOW, m) for _ in range(views) for m in measures]

            caller = replace(system_principal(demo.organization_id),
                             pixel_id=demo.pixel_id)

            async def batched() -> None:
                await compute_series(state.db, caller, keys)

            async def graphql_page() -> None:
                r = await client.post("/graphql", json={"query": PAGE}, headers=headers)
                assert r.status_code == 200 and "errors" not in r.json(), r.text

            await graphql_page()  # warm caches (key lookup, parser)
            rows = [("one engine call per widget (baseline)",
                     *await _measure(per_widget, engine, repeat))]
            rows.append(("loader batch: compute_series",
                         *await _measure(batched, engine, repeat)))
            rows.append(("GraphQL page through ASGI",
                         *await _measure(graphql_page, engine, repeat)))
    return rows


async def main(views: int, widgets: int, repeat: int, pg: str) -> None:
    results: dict[str, list[Row]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = await _bench(f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}", views,
                                         widgets, repeat)
    if pg != "skip":
        await recreate_postgres_database(pg)
        results["PostgreSQL"] = await _bench(pg, views, widgets, repeat)
    print(f"widget data: {views} views x {widgets} widgets = {views * widgets} widgets, "
          f"90-day demo store, range {RANGE['start']}..{RANGE['end']}, median of {repeat}")
    for backend, rows in results.items():
        base = rows[0][1]
        print(f"\n{backend}\n{'variant':<40} {'seconds':>9} {'statements':>11} {'x faster':>9}")
        for name, seconds, statements in rows:
            print(f"{name:<40} {seconds:>9.3f} {statements:>11} {base / seconds:>9.1f}")
    if len(results) == 2:
        print(f"\n{'variant':<40} {'SQLite s':>9} {'PG s':>9} {'PG/SQLite':>10}")
        for (name, a, _), (_, b, _) in zip(results["SQLite"], results["PostgreSQL"],
                                           strict=True):
            print(f"{name:<40} {a:>9.3f} {b:>9.3f} {b / a:>9.2f}x")
        page = results["PostgreSQL"][2][1] / results["SQLite"][2][1]
        print(f"goal PostgreSQL GraphQL page <= 1.5x SQLite's: {page:.2f}x, "
              f"{'met' if page <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--widgets", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+asyncpg://127.0.0.1:5432/gw_pg_bench_widgets",
                        help="PostgreSQL URL (emptied each run; 'skip': SQLite only)")
    args = parser.parse_args()
    asyncio.run(main(args.views, args.widgets, args.repeat, args.pg))
