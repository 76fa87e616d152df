"""The analytics query five ways, on SQLite and on PostgreSQL, in one run.

    python benchmarks/query.py [--db bench-query.sqlite3]
        [--pg postgresql+asyncpg://127.0.0.1:5432/gw_pg_bench_query | --pg skip]
        [--events 1000000] [--runs 5] [--rounds 3]

The same ~1,000,000 events (the same generator, seed and days) on each backend: a SQLite
file and a PostgreSQL database (created when missing; both kept for later runs). Each backend
gets the table below; then the two side by side, with the goal of issue #16: PostgreSQL with
rollups within 1.5x of SQLite with rollups (engine and HTTP).

Query: last 30 days, daily, three measures including a distinct count (core.revenue,
core.orders, web.sessions = distinct session_id of page views), by utm_source, in
America/New_York (the range crosses the 1 November fall-back, so the DST path is measured).

1. hand-written SQL on raw events: the best statements we could write by hand for the
   same answer (the series, and the period's distinct sessions), run with the same driver,
   once on one connection and once split over three concurrent connections; the faster is
   the baseline of the raw ratios;
2. hand-written SQL over the rollup tables (gateway/storage/rollups.py): the same answer
   from `event_rollup` (revenue, orders) and `event_rollup_distinct` (sessions, counted at
   the first hour of each chain in the day, as gateway/engine/rollup_plan.py does), plus the
   period's distinct sessions from the `total` rollup; one connection; the baseline of the
   rollup ratios (same data read as the engine's default path);
3. the engine with rollups: `run_query` as the gateway runs it (asserted to read rollups in
   every statement, and to answer exactly as the raw scan does);
4. the engine on raw events: `run_query` with `Limits(rollups=False)`;
5. HTTP: POST /db-mgmt/api/query on a live uvicorn (one worker), body as an Upstack client
   sends it, timed end to end from a client (key check + validation + engine + JSON).

The file is generated once (gateway.demo's generator with more sessions per day) and reused
by later runs; the rollup backlog (all of it on a file from before migration 0007) is folded
before timing, with progress. Goals (issue #5): engine <= 1.3x hand-written SQL over the
same data (rollups vs rollups); HTTP median <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
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

from benchmarks._harness import ensure_postgres_database, serve, store_demo_events
from gateway.auth.principal import system_principal
from gateway.engine import EngineQuery, TimeRange, run_query
from gateway.engine.run import Limits
from gateway.services.keys import create_key
from gateway.services.tenancy import create_organization, create_pixel
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.tenancy import list_organizations, list_pixels

TZ = "America/New_York"
MEASURES = ("core.revenue", "core.orders", "web.sessions")
TODAY = date(2026, 11, 20)  # fixed, so the file and the range stay comparable across runs
DAYS = 90
BENCH_SECRET = "bench-query-secret-" + "x" * 32
RAW_NAMES = ("hand SQL raw, one connection", "hand SQL raw, concurrent")
# Shown side by side for the two backends; the first two carry issue #16's goal.
COMPARED = ("engine, rollups", "HTTP POST /db-mgmt/api/query", "hand SQL over rollups",
            "engine, raw events")


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
        t0 = time.perf_counter()
        written = await store_demo_events(db, pixel_id, days=DAYS, end=now, target=target,
                                          report_every=100_000)
        print(f"generated {written:,} events in {time.perf_counter() - t0:.0f} s", flush=True)
    key = await create_key(db, settings, system_principal(org_id), name="bench",
                           scopes=["analytics:read"], pixel_ids=[pixel_id], now=now)
    return key.secret, pixel_id


HAND_SERIES = """
SELECT (ts + CASE WHEN ts >= :switch THEN CAST(:after AS BIGINT)
             ELSE CAST(:before AS BIGINT) END) / 86400000 AS d,
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

# The same answer over the hourly rollups. Day index as above, from the hour.
# Parameters cast: PostgreSQL cannot infer the type of a bare parameter in CASE (text).
_DAY = ("(({t}) + CASE WHEN ({t}) >= :switch THEN CAST(:after AS BIGINT) "
        "ELSE CAST(:before AS BIGINT) END) / 86400000")
HAND_ROLLUP_ADDITIVE = f"""
SELECT {_DAY.format(t="hour")} AS d, utm_source, SUM(revenue_sum), SUM(n)
FROM event_rollup
WHERE pixel_id = :pixel AND rollup = 'utm_source' AND name = 'purchase'
  AND hour >= :a AND hour < :b
GROUP BY d, utm_source
"""
# A session's chain row counts in the day of its first hour in that day: never seen before
# (gap 0), last seen before the range, or last seen on an earlier day.
HAND_ROLLUP_SESSIONS = f"""
SELECT {_DAY.format(t="hour")} AS d, utm_source, SUM(n)
FROM event_rollup_distinct
WHERE pixel_id = :pixel AND rollup = 'utm_source' AND name = 'page_view'
  AND col = 'session_id' AND hour >= :a AND hour < :b
  AND (gap = 0 OR hour - CAST(gap AS BIGINT) * 3600000 < :a
       OR {_DAY.format(t="hour - CAST(gap AS BIGINT) * 3600000")} <> {_DAY.format(t="hour")})
GROUP BY d, utm_source
"""
HAND_ROLLUP_TOTAL = """
SELECT SUM(n) FROM event_rollup_distinct
WHERE pixel_id = :pixel AND rollup = 'total' AND name = 'page_view' AND col = 'session_id'
  AND hour >= :a AND hour < :b AND (gap = 0 OR hour - CAST(gap AS BIGINT) * 3600000 < :a)
"""


async def _fold_backlog(db: Database) -> None:
    """Fold every event not yet in the rollups, with progress."""
    behind = await db.rollup_lag()
    if not behind:
        print("rollups current: nothing to fold", flush=True)
        return
    print(f"folding {behind:,} events into the rollups", flush=True)
    done, t0, shown = 0, time.perf_counter(), 0
    while folded := await db.fold_rollups():
        done += folded
        if done - shown >= 100_000:
            shown = done
            elapsed = time.perf_counter() - t0
            print(f"  folded {done:>9,} events  ({elapsed:.0f} s, {done / elapsed:,.0f} events/s)",
                  flush=True)
    elapsed = time.perf_counter() - t0
    print(f"folded {done:,} events in {elapsed:.1f} s ({done / elapsed:,.0f} events/s)",
          flush=True)


async def _table_sizes(db: Database, events: int) -> None:
    async with db.engine.connect() as conn:
        for table in ("event_rollup", "event_rollup_distinct"):
            per = (await conn.execute(text(
                f"SELECT rollup, COUNT(*) FROM {table} GROUP BY rollup ORDER BY rollup"))).all()
            rows = sum(n for _, n in per)
            print(f"{table:<23}{rows:>10,} rows ({rows / events:.3f} per event): "
                  + ", ".join(f"{r} {n:,}" for r, n in per), flush=True)
        rows = (await conn.execute(text("SELECT COUNT(*) FROM event_rollup_value"))).scalar_one()
        print(f"{'event_rollup_value':<23}{rows:>10,} rows ({rows / events:.3f} per event)",
              flush=True)


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-6)  # type: ignore[arg-type]  # neither is None here, and both are numbers
    return a == b


def _same_answer(x: object, y: object) -> bool:
    """Equal results (buckets, groups, values, totals), floats within rounding."""
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same_answer(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same_answer(a, b) for a, b in zip(x, y, strict=True))
    return _close(x, y)


async def _timed(fn: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    await fn()  # warm caches
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _http(settings: Settings, key: str, pixel: str, start: date, end: date, runs: int
          ) -> list[float]:
    body = {"pixelId": pixel, "granularity": "day", "timezone": TZ,
            "measures": [{"measure": m} for m in MEASURES], "dimensions": ["utm_source"],
            "dateRange": {"start": start.isoformat(), "end": end.isoformat()}, "compare": False}
    env = {"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_SECRET": settings.secret,
           "GATEWAY_ALERTS": "0"}
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


async def _bench(settings: Settings, args: argparse.Namespace) -> dict[str, list[float]]:
    """Arrange, check the answers agree, time every variant on one backend."""
    print(f"\n=== {settings.backend}: {settings.database_url}", flush=True)
    db = Database(settings.database_url)
    await db.migrate()
    key, pixel = await _arrange(db, settings, args.events)
    await _fold_backlog(db)
    async with db.engine.connect() as conn:
        total = (await conn.execute(text("SELECT COUNT(*) FROM event"))).scalar_one()
    await _table_sizes(db, total)
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
    assert datetime(2026, 11, 1, 1, tzinfo=tz).utcoffset() is not None

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

    async def hand_rollups() -> object:
        async with db.engine.connect() as conn:
            additive = (await conn.execute(text(HAND_ROLLUP_ADDITIVE), params)).all()
            sessions = (await conn.execute(text(HAND_ROLLUP_SESSIONS), params)).all()
            one = (await conn.execute(text(HAND_ROLLUP_TOTAL), params)).scalar_one()
        return additive, sessions, one

    raw_limits = Limits(rollups=False)

    async def engine() -> object:
        return await run_query(db, query)

    async def engine_raw() -> object:
        return await run_query(db, query, limits=raw_limits)

    result = await run_query(db, query)
    raw_result = await run_query(db, query, limits=raw_limits)
    assert len(result.rollups) == result.statements, result.rollups  # every statement
    assert not raw_result.rollups, raw_result.rollups
    assert _same_answer(
        [(b.start, b.end, b.dimensions, b.values) for b in result.primary],
        [(b.start, b.end, b.dimensions, b.values) for b in raw_result.primary])
    assert _same_answer(result.totals, raw_result.totals)
    assert _same_answer(result.group_totals, raw_result.group_totals)
    hand_rows, hand_total = await hand()  # type: ignore[misc]  # hand() returns a (rows, total) pair
    assert len(result.primary) >= len(hand_rows), (len(result.primary), len(hand_rows))
    # The hand-written rollup statements give the hand-written raw answer.
    additive, sessions, rollup_total = await hand_rollups()  # type: ignore[misc]  # hand_rollups() returns a triple
    by_cell: dict[tuple[object, object], list[object]] = {
        (d, src): [None, 0, 0] for d, src, *_ in [*additive, *sessions]}
    for d, src, revenue, orders in additive:
        by_cell[(d, src)][:2] = [revenue, orders]
    for d, src, n in sessions:
        by_cell[(d, src)][2] = n
    raw_cells = {(d, src): [revenue, orders, n] for d, src, revenue, orders, n in hand_rows}
    raw_cells = {k: v for k, v in raw_cells.items() if v != [None, 0, 0]}
    assert _same_answer(dict(sorted(by_cell.items(), key=str)),
                        dict(sorted(raw_cells.items(), key=str))), "hand rollup SQL differs"
    assert rollup_total == hand_total, (rollup_total, hand_total)
    print(f"answers agree: engine rollups = engine raw = hand SQL ({len(result.primary)} "
          f"buckets, {hand_total:,} sessions in the period); engine rollups read: "
          f"{', '.join(result.rollups)}", flush=True)

    timings: dict[str, list[float]] = {}
    for _ in range(args.rounds):  # interleaved, so drift hits all alike
        for name, fn in ((RAW_NAMES[0], hand), (RAW_NAMES[1], hand_concurrent),
                         ("hand SQL over rollups", hand_rollups),
                         ("engine, rollups", engine),
                         ("engine, raw events", engine_raw)):
            timings.setdefault(name, []).extend(await _timed(fn, args.runs))
    await db.dispose()
    timings["HTTP POST /db-mgmt/api/query"] = _http(settings, key, pixel, start, end,
                                                    args.runs * args.rounds)
    _report(timings, result.statements, len(result.primary))
    return timings


def _report(timings: dict[str, list[float]], statements: int, buckets: int) -> None:
    med = {name: statistics.median(values) for name, values in timings.items()}
    base_raw = min(med[n] for n in RAW_NAMES)
    base_rollups = med["hand SQL over rollups"]
    print(f"\n{'variant':<32}{'median ms':>11}{'p90 ms':>9}{'ratio':>8}")
    for name, values in timings.items():
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        base = base_raw if "raw" in name else base_rollups
        print(f"{name:<32}{med[name]:>11.1f}{p90:>9.1f}{med[name] / base:>7.2f}x")
    print(f"\nstatements per engine query: {statements}; buckets returned: {buckets}")
    print("ratios: raw rows against the faster hand-written raw variant; the others against "
          "hand SQL over rollups")
    rollup_ratio = med["engine, rollups"] / base_rollups
    raw_ratio = med["engine, raw events"] / base_raw
    http = med["HTTP POST /db-mgmt/api/query"]
    print(f"engine, rollups vs hand SQL over rollups: {rollup_ratio:.2f}x "
          f"(goal <= 1.30x: {'met' if rollup_ratio <= 1.3 else 'NOT met'})")
    print(f"engine, raw vs hand SQL raw:              {raw_ratio:.2f}x (for the record)")
    print(f"HTTP median {http:.1f} ms vs goal 150 ms:      "
          f"{'met' if http <= 150 else 'NOT met'}")


async def _main(args: argparse.Namespace) -> None:
    db_path = Path(args.db).resolve()  # noqa: ASYNC240  # once, before anything runs
    backends = [Settings(database_url=f"sqlite+aiosqlite:///{db_path}",
                         secret=BENCH_SECRET)]
    if args.pg != "skip":
        await ensure_postgres_database(args.pg)
        backends.append(Settings(database_url=args.pg, secret=BENCH_SECRET))
    results = {s.backend: await _bench(s, args) for s in backends}
    if len(results) < 2:
        return
    sqlite, pg = (results[b] for b in ("SQLite", "PostgreSQL"))
    print(f"\n{'variant (median ms)':<32}{'SQLite':>9}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    for name in COMPARED:
        a, b = statistics.median(sqlite[name]), statistics.median(pg[name])
        print(f"{name:<32}{a:>9.1f}{b:>12.1f}{b / a:>10.2f}x")
    for name in COMPARED[:2]:
        ratio = statistics.median(pg[name]) / statistics.median(sqlite[name])
        print(f"goal PostgreSQL {name} <= 1.5x SQLite's: {ratio:.2f}x, "
              f"{'met' if ratio <= 1.5 else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="bench-query.sqlite3")
    parser.add_argument("--pg", default="postgresql+asyncpg://127.0.0.1:5432/gw_pg_bench_query",
                        help="PostgreSQL URL of the benchmark database ('skip': SQLite only)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(_main(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
