"""The analytics query three ways on the same 1,000,000-event SQLite file, in one run.

    python benchmarks/query.py [--db bench-query.sqlite3] [--events 1000000] [--runs 15]

Query: last 30 days, daily, three measures including a distinct count (core.revenue,
core.orders, web.sessions = distinct session_id of page views), by utm_source, in
America/New_York (the range crosses the 1 November fall-back, so the DST path is measured).

1. hand-written SQL (baseline): the best statements we could write by hand for the same
   answer (the series, and the period's distinct sessions), run with the same driver, once
   on one connection and once split over three concurrent connections; the faster is the
   baseline of the ratios;
2. the engine: `run_query` on the same database;
3. HTTP: POST /db-mgmt/api/query on a live uvicorn (one worker), body as an Upstack client
   sends it, timed end to end from a client (key check + validation + engine + JSON).

The file is generated once (gateway.demo's generator with more sessions per day) and reused
by later runs. Goals (issue #5): engine <= 1.3x hand-written SQL; HTTP median <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import serve  # noqa: E402
from gateway.auth.principal import system_principal
from gateway.demo import generate_events
from gateway.engine import EngineQuery, TimeRange, run_query
from gateway.services.keys import create_key
from gateway.services.tenancy import create_organization, create_pixel
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.events import insert_events
from gateway.storage.tenancy import list_organizations, list_pixels

TZ = "America/New_York"
MEASURES = ("core.revenue", "core.orders", "web.sessions")
TODAY = date(2026, 11, 20)  # fixed, so the file and the range stay comparable across runs
DAYS = 90


def _range() -> tuple[date, date, TimeRange]:
    tz = ZoneInfo(TZ)
    start, end = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    a = datetime(start.year, start.month, start.day, tzinfo=tz)
    b = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=tz)
    return start, end, TimeRange(a.astimezone(UTC), b.astimezone(UTC))


async def _arrange(db: Database, settings: Settings, target: int) -> tuple[str, str]:
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC)
    async with db.session() as s:
        orgs = [o for o in await list_organizations(s) if o.name == "bench"]
        pixels = await list_pixels(s, orgs[0].id) if orgs else []
    if pixels:
        org_id, pixel_id = orgs[0].id, pixels[0].id
        print(f"reusing {db.url} (pixel {pixel_id})", flush=True)
    else:
        org_id = (await create_organization(db, "bench", now)).id
        pixel_id = (await create_pixel(db, org_id, "bench", now, timezone=TZ)).id
        # ~3.1 events per session: sessions_per_day sized to land near `target` events.
        per_day = max(10, int(target / DAYS / 3.24))
        batch: list[dict[str, object]] = []
        written, t0 = 0, time.perf_counter()
        for row in generate_events(pixel_id, days=DAYS, end=now, sessions_per_day=per_day):
            batch.append(row)
            if len(batch) == 20_000:
                async with db.session() as s:
                    await insert_events(s, batch)
                    await s.commit()
                written += len(batch)
                batch.clear()
                if written % 100_000 == 0:
                    print(f"  generated {written:>9,} events  ({time.perf_counter() - t0:.0f} s)",
                          flush=True)
        if batch:
            async with db.session() as s:
                await insert_events(s, batch)
                await s.commit()
            written += len(batch)
        print(f"generated {written:,} events in {time.perf_counter() - t0:.0f} s", flush=True)
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    key = await create_key(db, settings, system_principal(org_id), name="bench",
                           scopes=["analytics:read"], pixel_ids=[pixel_id], now=now)
    return key.secret, pixel_id


HAND_SERIES = """
SELECT (ts + CASE WHEN ts >= :switch THEN :after ELSE :before END) / 86400000 AS d,
       utm_source,
       SUM(CASE WHEN name = 'purchase' THEN revenue END),
       COUNT(CASE WHEN name = 'purchase' THEN 1 END),
       COUNT(DISTINCT CASE WHEN name = 'page_view' THEN session_id END)
FROM event
WHERE pixel_id = :pixel AND name IN ('page_view', 'purchase') AND ts >= :a AND ts < :b
GROUP BY d, utm_source
"""
# The period's distinct sessions: needed for the answer (distinct counts do not add up).
HAND_TOTAL = """
SELECT COUNT(DISTINCT session_id) FROM event
WHERE pixel_id = :pixel AND name = 'page_view' AND ts >= :a AND ts < :b
"""


async def _timed(fn: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    await fn()  # warm caches
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _http(db_path: Path, key: str, pixel: str, start: date, end: date, runs: int
          ) -> list[float]:
    body = {"pixelId": pixel, "granularity": "day", "timezone": TZ,
            "measures": [{"measure": m} for m in MEASURES], "dimensions": ["utm_source"],
            "dateRange": {"start": start.isoformat(), "end": end.isoformat()}, "compare": False}
    env = {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}", "GATEWAY_ALERTS": "0"}
    with serve("gateway.asgi:app_factory", env) as url, \
            httpx.Client(base_url=url, headers={"x-api-key": key, "x-pixel-id": pixel},
                         timeout=30) as client:
        first = client.post("/db-mgmt/api/query", json=body)
        assert first.status_code == 200, first.text
        out = []
        for _ in range(runs):
            t = time.perf_counter()
            r = client.post("/db-mgmt/api/query", json=body)
            out.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        return out


async def _main(args: argparse.Namespace) -> None:
    db_path = Path(args.db).resolve()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db_path}").with_secret()
    db = Database(settings.database_url)
    await db.migrate()
    key, pixel = await _arrange(db, settings, args.events)
    async with db.engine.connect() as conn:
        total = (await conn.execute(text("SELECT COUNT(*) FROM event"))).scalar_one()
    start, end, span = _range()
    print(f"{total:,} events; query {start}..{end} daily by utm_source, {', '.join(MEASURES)}",
          flush=True)
    query = EngineQuery(pixel, MEASURES, span, granularity="day", timezone=TZ,
                        dimensions=("utm_source",))
    tz = ZoneInfo(TZ)
    switch = int(datetime(2026, 11, 1, 6, tzinfo=UTC).timestamp() * 1000)  # 2:00 EDT
    local0 = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    params = {"pixel": pixel, "a": span.start_ms, "b": span.end_ms, "switch": switch,
              "before": -4 * 3_600_000 - local0, "after": -5 * 3_600_000 - local0}
    assert tz.utcoffset(datetime(2026, 11, 1, 1)) is not None

    async def run(sql: str, p: dict[str, object]) -> list[object]:
        async with db.engine.connect() as conn:
            return list((await conn.execute(text(sql), p)).all())

    async def hand() -> object:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(text(HAND_SERIES), params)).all()
            one = (await conn.execute(text(HAND_TOTAL), params)).scalar_one()
        return rows, one

    middle = int(datetime(2026, 11, 5, tzinfo=tz).timestamp() * 1000)  # a day boundary

    async def hand_concurrent() -> object:
        """The same statements, the series split in two halves, all three side by side."""
        return await asyncio.gather(run(HAND_SERIES, {**params, "b": middle}),
                                    run(HAND_SERIES, {**params, "a": middle}),
                                    run(HAND_TOTAL, params))

    async def engine() -> object:
        return await run_query(db, query)

    result = await run_query(db, query)
    hand_rows = (await hand())[0]  # type: ignore[index]
    assert len(result.primary) >= len(hand_rows), (len(result.primary), len(hand_rows))
    timings: dict[str, list[float]] = {}
    for _ in range(args.rounds):  # interleaved, so drift hits both alike
        for name, fn in (("hand SQL, one connection", hand),
                         ("hand SQL, concurrent", hand_concurrent), ("engine", engine)):
            timings.setdefault(name, []).extend(await _timed(fn, args.runs))
    await db.dispose()
    timings["HTTP POST /db-mgmt/api/query"] = _http(db_path, key, pixel, start, end,
                                                    args.runs * args.rounds)
    base = min(statistics.median(timings["hand SQL, one connection"]),
               statistics.median(timings["hand SQL, concurrent"]))
    print(f"\n{'variant':<32}{'median ms':>11}{'p90 ms':>9}{'ratio':>8}")
    for name, values in timings.items():
        med = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:<32}{med:>11.1f}{p90:>9.1f}{med / base:>7.2f}x")
    print(f"\nstatements per engine query: {result.statements}; buckets returned: "
          f"{len(result.primary)}")
    print("ratios against the faster hand-written variant; "
          "goals: engine <= 1.30x hand-written; HTTP median <= 150 ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="bench-query.sqlite3")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(_main(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
