"""Ingestion throughput: POST /tr/api/events on a live uvicorn vs raw writes, on SQLite and
on PostgreSQL in one run.

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--batch 1000] [--clients 8]
        [--pg postgresql+asyncpg://127.0.0.1:5432/gw_pg_bench_ingest | --pg skip]

Each side writes the same rows (demo-generator events with client event ids) into a freshly
migrated database: a SQLite file of the embedded default (WAL, synchronous=NORMAL), and a
PostgreSQL database (dropped and created per run, raw and HTTP in databases of their own):
- raw: SQLite `sqlite3.executemany` of the stored tuples, PostgreSQL `COPY` of the same tuples
  (asyncpg `copy_records_to_table`), one transaction per batch;
- http: a uvicorn server (`gateway.asgi:app_factory`, one worker, loopback) taking batches
  from concurrent keep-alive clients; every event is validated, deduplicated and committed
  before its response. All rows are counted back afterwards.
Goals: issue #4, SQLite http ≥ 20,000 events/s and ≥ 30 % of raw; issue #16, PostgreSQL
http ≥ 50 % of a raw COPY, in the same run.

Inserting only stores events; the server's background task folds them into the rollups
(gateway/storage/rollups.py). After the HTTP run, while the server still runs, the script
reads how many events the rollups were behind and polls until the folder has caught up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import httpx
import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import recreate_postgres_database
from gateway.auth.principal import system_principal
from gateway.demo import generate_events
from gateway.services.event_rules import RuleContext, check_event
from gateway.services.keys import create_key
from gateway.services.tenancy import create_organization, create_pixel
from gateway.storage import Database
from gateway.storage.events import EVENT_COLUMNS
from gateway.storage.notify import asyncpg_dsn

ROOT = Path(__file__).resolve().parent.parent

SECRET = "bench-secret-" + "x" * 32
_DROP = {"pixel_id", "received_at", "ts"}


def wire_events(n: int) -> list[dict[str, Any]]:
    """n realistic events as a client sends them (snake_case, epoch-ms timestamp, event id)."""
    out: list[dict[str, Any]] = []
    end = datetime.now(UTC)
    while len(out) < n:
        for row in generate_events("px", days=30, end=end, seed=len(out)):
            if row["ts"] > end.timestamp() * 1000:  # refunds dated after the demo period
                continue
            event = {k: v for k, v in row.items() if k not in _DROP and v is not None}
            event["timestamp"] = row["ts"]
            event["event_id"] = f"bench-{len(out)}"
            if event["name"] == "page_view" and len(out) % 4 == 0:
                event["properties"] = {"scroll": len(out) % 100, "variant": "b"}
            out.append(event)
            if len(out) == n:
                break
    return out


async def setup(url: str) -> tuple[str, str]:
    db = Database(url)
    await db.migrate()
    now = datetime.now(UTC)
    org = await create_organization(db, "bench", now)
    pixel = await create_pixel(db, org.id, "bench", now)
    from dataclasses import replace

    from gateway.settings import Settings
    settings = replace(Settings(database_url=url), secret=SECRET)
    key = await create_key(db, settings, system_principal(org.id), name="bench",
                           scopes=["events:write"], pixel_ids=[pixel.id], now=now)
    await db.dispose()
    return pixel.id, key.secret


def stored_rows(pixel_id: str, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The tuples the gateway stores for `events` (validated as ingestion does)."""
    ctx = RuleContext(pixel_id=pixel_id, received_ms=int(time.time() * 1000),
                      timezone=ZoneInfo("UTC"), currency="USD", max_properties_bytes=8192)
    rows = [check_event(e, i, ctx) for i, e in enumerate(events)]
    assert all(isinstance(r, tuple) for r in rows)
    return rows  # type: ignore[return-value]  # checked just above: no error entries


def raw_insert(path: Path, pixel_id: str, events: list[dict[str, Any]], batch: int) -> float:
    rows = stored_rows(pixel_id, events)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = (f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})")
    start = time.perf_counter()
    for k in range(0, len(rows), batch):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[k:k + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    assert conn.execute("SELECT count(*) FROM event").fetchone()[0] == len(rows)
    conn.close()
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def post_all(port: int, key: str, pixel_id: str, bodies: list[bytes],
                   clients: int) -> float:
    queue = list(reversed(bodies))
    headers = {"x-api-key": key, "x-pixel-id": pixel_id, "content-type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=120) as client:
        async def worker() -> None:
            while queue:
                body = queue.pop()
                response = await client.post("/tr/api/events", content=body, headers=headers)
                if response.status_code != 200 or response.json()["rejected"]:
                    raise RuntimeError(response.text[:500])

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - start


_LAG = ("SELECT COALESCE((SELECT MAX(id) FROM event), 0) - "
        "(SELECT last_event_id FROM event_rollup_state WHERE id = 1)")


def catch_up(read_lag: Callable[[], int], timeout: float = 600) -> tuple[int, float]:
    """Events the rollups are behind now, and seconds until the server's folder has them all."""
    start = time.perf_counter()
    behind = lag = read_lag()
    while lag > 0 and time.perf_counter() - start < timeout:
        time.sleep(0.05)
        lag = read_lag()
    if lag > 0:
        raise RuntimeError(f"rollups still {lag} events behind after {timeout:.0f} s")
    return behind, time.perf_counter() - start


def http_ingest(url: str, events: list[dict[str, Any]], bodies: list[bytes], clients: int,
                lag: Callable[[], int]) -> tuple[float, int, float]:
    """POST every body to a live server on `url`; (seconds, rollup lag at the end, seconds
    the server's folder took to catch up). All events are counted back."""
    pixel_id, key = asyncio.run(setup(url))
    port = free_port()
    env = {**os.environ, "GATEWAY_DATABASE_URL": url, "GATEWAY_SECRET": SECRET}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gateway.asgi:app_factory", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], env=env, cwd=ROOT)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        http_s = asyncio.run(post_all(port, key, pixel_id, bodies, clients))
        behind, catch_up_s = catch_up(lag)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return http_s, behind, catch_up_s


def _sqlite_lag(path: Path) -> Callable[[], int]:
    def lag() -> int:
        conn = sqlite3.connect(path, timeout=30)
        try:
            return int(conn.execute(_LAG).fetchone()[0])
        finally:
            conn.close()
    return lag


def _pg_lag(url: str) -> Callable[[], int]:
    def lag() -> int:
        async def one() -> int:
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                return int(await conn.fetchval(_LAG))
            finally:
                await conn.close()
        return asyncio.run(one())
    return lag


def _pg_count(url: str) -> int:
    async def one() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM event"))
        finally:
            await conn.close()
    return asyncio.run(one())


def raw_copy(url: str, pixel_id: str, events: list[dict[str, Any]], batch: int) -> float:
    """COPY of the stored tuples, one transaction per batch, as fast as PostgreSQL takes
    rows (the event table's trigger and indexes included, as for the gateway)."""
    rows = stored_rows(pixel_id, events)

    async def go() -> float:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            start = time.perf_counter()
            for k in range(0, len(rows), batch):
                async with conn.transaction():
                    await conn.copy_records_to_table("event", records=rows[k:k + batch],
                                                     columns=list(EVENT_COLUMNS))
            elapsed = time.perf_counter() - start
            assert await conn.fetchval("SELECT count(*) FROM event") == len(rows)
            return elapsed
        finally:
            await conn.close()

    return asyncio.run(go())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--pg", default="postgresql+asyncpg://127.0.0.1:5432/gw_pg_bench_ingest",
                   help="PostgreSQL URL, a prefix of two databases ('skip': SQLite only)")
    args = p.parse_args()
    console = Console()
    events = wire_events(args.events)
    bodies = [orjson.dumps({"events": events[k:k + args.batch]})
              for k in range(0, len(events), args.batch)]
    rows: list[tuple[str, str, float, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "raw.sqlite3"
        raw_pixel, _ = asyncio.run(setup(f"sqlite+aiosqlite:///{raw_path}"))
        raw_s = raw_insert(raw_path, raw_pixel, events, args.batch)
        http_path = Path(tmp) / "http.sqlite3"
        http_s, behind, catch_up_s = http_ingest(f"sqlite+aiosqlite:///{http_path}", events,
                                                 bodies, args.clients, _sqlite_lag(http_path))
        stored = sqlite3.connect(http_path).execute("SELECT count(*) FROM event").fetchone()[0]
        assert stored == len(events), f"stored {stored} of {len(events)}"
    rows += [("SQLite", "raw sqlite3 executemany", raw_s, None),
             ("SQLite", "POST /tr/api/events (uvicorn)", http_s, raw_s)]
    folded = [("SQLite", behind, catch_up_s)]
    if args.pg != "skip":
        raw_url, http_url = args.pg + "_raw", args.pg + "_http"
        for url in (raw_url, http_url):
            asyncio.run(recreate_postgres_database(url))
        pg_pixel, _ = asyncio.run(setup(raw_url))
        pg_raw_s = raw_copy(raw_url, pg_pixel, events, args.batch)
        pg_http_s, pg_behind, pg_catch_up = http_ingest(http_url, events, bodies,
                                                        args.clients, _pg_lag(http_url))
        assert _pg_count(http_url) == len(events)
        rows += [("PostgreSQL", "raw COPY (asyncpg)", pg_raw_s, None),
                 ("PostgreSQL", "POST /tr/api/events (uvicorn)", pg_http_s, pg_raw_s)]
        folded.append(("PostgreSQL", pg_behind, pg_catch_up))

    table = Table(title=f"ingestion: {len(events):,} events, batches of {args.batch}, "
                        f"{args.clients} HTTP clients")
    for col in ("backend", "path", "seconds", "events/s", "vs raw"):
        table.add_column(col, justify="right" if col not in ("backend", "path") else "left")
    for backend, path, seconds, raw in rows:
        table.add_row(backend, path, f"{seconds:.2f}", f"{len(events) / seconds:,.0f}",
                      "1.00" if raw is None else f"{raw / seconds:.2f}")
    console.print(table)
    for backend, lagging, seconds in folded:
        console.print(f"{backend}: rollups at the end of the HTTP run {lagging:,} events behind "
                      f"({lagging / len(events):.0%}); the background folder caught up in "
                      f"{seconds:.1f} s")
    rate = len(events) / http_s
    ok = rate >= 20_000 and raw_s / http_s >= 0.30
    console.print(f"goal SQLite (≥ 20,000 events/s and ≥ 30 % of raw): "
                  f"{'met' if ok else 'NOT met'}")
    if args.pg != "skip":
        share = pg_raw_s / pg_http_s
        console.print(f"goal PostgreSQL (≥ 50 % of raw COPY): {share:.2f}, "
                      f"{'met' if share >= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
