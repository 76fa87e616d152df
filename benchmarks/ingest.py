"""Ingestion throughput: POST /tr/api/events on a live uvicorn vs raw SQLite executemany.

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--batch 1000] [--clients 8]

Both sides write the same rows (demo-generator events with client event ids) into a freshly
migrated SQLite file of the embedded default (WAL, synchronous=NORMAL):
- raw: `sqlite3.executemany` of the stored tuples, one transaction per batch;
- http: a uvicorn server (`gateway.asgi:app_factory`, one worker, loopback) taking batches
  from concurrent keep-alive clients; every event is validated, deduplicated and committed
  before its response. All rows are counted back afterwards.
Goal (issue #4): http ≥ 20,000 events/s and ≥ 30 % of raw in the same run.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.auth.principal import system_principal
from gateway.demo import generate_events
from gateway.services.event_rules import RuleContext, check_event
from gateway.services.keys import create_key
from gateway.services.tenancy import create_organization, create_pixel
from gateway.storage import Database
from gateway.storage.events import EVENT_COLUMNS

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


def raw_insert(path: Path, pixel_id: str, events: list[dict[str, Any]], batch: int) -> float:
    ctx = RuleContext(pixel_id=pixel_id, received_ms=int(time.time() * 1000),
                      timezone=ZoneInfo("UTC"), currency="USD", max_properties_bytes=8192)
    rows = [check_event(e, i, ctx) for i, e in enumerate(events)]
    assert all(isinstance(r, tuple) for r in rows)
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


def catch_up(path: Path, timeout: float = 600) -> tuple[int, float]:
    """Events the rollups are behind now, and seconds until the server's folder has them all."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        start = time.perf_counter()
        behind = lag = conn.execute(_LAG).fetchone()[0]
        while lag > 0 and time.perf_counter() - start < timeout:
            time.sleep(0.05)
            lag = conn.execute(_LAG).fetchone()[0]
        if lag > 0:
            raise RuntimeError(f"rollups still {lag} events behind after {timeout:.0f} s")
        return behind, time.perf_counter() - start
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    args = p.parse_args()
    console = Console()
    events = wire_events(args.events)
    bodies = [orjson.dumps({"events": events[k:k + args.batch]})
              for k in range(0, len(events), args.batch)]
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "raw.sqlite3"
        raw_pixel, _ = asyncio.run(setup(f"sqlite+aiosqlite:///{raw_path}"))
        raw_s = raw_insert(raw_path, raw_pixel, events, args.batch)

        http_path = Path(tmp) / "http.sqlite3"
        url = f"sqlite+aiosqlite:///{http_path}"
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
            http_s = asyncio.run(post_all(port, key, pixel_id, bodies, args.clients))
            behind, catch_up_s = catch_up(http_path)
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = sqlite3.connect(http_path).execute("SELECT count(*) FROM event").fetchone()[0]
        assert stored == len(events), f"stored {stored} of {len(events)}"

    raw_rate, http_rate = len(events) / raw_s, len(events) / http_s
    table = Table(title=f"ingestion: {len(events):,} events, batches of {args.batch}, "
                        f"{args.clients} HTTP clients")
    for col in ("path", "seconds", "events/s", "vs raw"):
        table.add_column(col, justify="right" if col != "path" else "left")
    table.add_row("raw sqlite3 executemany", f"{raw_s:.2f}", f"{raw_rate:,.0f}", "1.00")
    table.add_row("POST /tr/api/events (uvicorn)", f"{http_s:.2f}", f"{http_rate:,.0f}",
                  f"{http_rate / raw_rate:.2f}")
    console.print(table)
    console.print(f"rollups at the end of the HTTP run: {behind:,} events behind "
                  f"({behind / len(events):.0%}); the background folder caught up in "
                  f"{catch_up_s:.1f} s")
    ok = http_rate >= 20_000 and http_rate / raw_rate >= 0.30
    console.print(f"goal (≥ 20,000 events/s and ≥ 30 % of raw): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
