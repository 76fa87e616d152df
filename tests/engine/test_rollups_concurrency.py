"""Folding from many processes at once, while events are written (issue #16): every event is
folded exactly once, on both backends, and on PostgreSQL an insert still in flight is never
passed by the watermark (its id is lower than a row committed after it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from gateway.storage import Database
from gateway.storage.events import insert_events
from tests.engine.test_rollups import (
    _rows_close,
    _watermark,
    compare_paths,
    fold_all,
    fresh_database,
    insert,
    make_events,
    random_query,
)


async def _rows(db: Database, table: str, order: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        names = list((await conn.execute(text(f"SELECT * FROM {table} LIMIT 0"))).keys())
        rows = (await conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))).all()
    keep = [i for i, c in enumerate(names) if c != "pixel_id"]
    return [tuple(r[i] for i in keep) for r in rows]


@pytest.mark.slow  # three databases' worth of folding and 30 compared queries
async def test_concurrent_folders_fold_every_event_once(
        new_database: Callable[..., str]) -> None:
    """Three "processes" (Database instances) on one database insert batches and fold at
    the same time, background-style (skipping a folder at work) and query-style (waiting
    for it); the rollups then equal those of one fold of the same events into a fresh
    database, and queries on rollups equal raw scans."""
    db, (pixel,) = await fresh_database(new_database, "shared.sqlite3")
    others = [Database(db.url) for _ in range(2)]
    once, (q1,) = await fresh_database(new_database, "once.sqlite3")
    try:
        events = make_events(pixel, seed=77, sessions=400)
        rng = random.Random(5)
        batches = []
        pos = 0
        while pos < len(events):
            size = rng.randint(20, 200)
            batches.append(events[pos:pos + size])
            pos += size
        processes = [db, *others]

        async def writer(k: int) -> None:
            for i, batch in enumerate(batches):
                if i % 3 == k:
                    await insert(processes[k], batch)
                    await asyncio.sleep(0)

        async def folder(k: int, wait: bool) -> None:
            for _ in range(40):
                await processes[k].fold_rollups(limit=rng.choice([17, 64, 250]), wait=wait)
                await asyncio.sleep(0.002)

        await asyncio.gather(*(writer(k) for k in range(3)),
                             *(folder(k, wait=k == 0) for k in range(3)),
                             *(folder(k, wait=False) for k in range(3)))
        await fold_all(db, limit=500)
        mark, top = await _watermark(db)
        assert mark == top and await db.rollup_lag() == 0

        for r in events:
            r["pixel_id"] = q1
        await insert(once, sorted(events, key=lambda r: r["ts"]))
        assert await once.fold_rollups(limit=1_000_000) == len(events)
        for table, order in (("event_rollup", "rollup, name, hour, dk"),
                             ("event_rollup_distinct", "rollup, name, col, hour, gap, dk")):
            a, b = await _rows(db, table, order), await _rows(once, table, order)
            assert len(a) > 500
            _rows_close(a, b, table)
        queries = random.Random(8)
        for _ in range(30):
            await compare_paths(db, random_query(queries, pixel))
    finally:
        for other in others:
            await other.dispose()
        await db.dispose()
        await once.dispose()


@pytest.mark.postgres_only("PostgreSQL's sequence hands out ids to transactions that "
                           "commit in any order (SQLite inserts under one write lock)")
async def test_the_watermark_never_passes_an_insert_in_flight(
        new_database: Callable[..., str]) -> None:
    """An insert holds id 1 uncommitted while a later one (id 2) commits: a folder waits
    for the first (the insert lock of migration 0011) instead of folding 2 and moving the
    watermark past 1, which would then never be counted."""
    db, (pixel,) = await fresh_database(new_database, "flight.sqlite3")
    try:
        row = {"pixel_id": pixel, "name": "page_view", "ts": 1_790_812_800_000,
               "received_at": 1_790_812_800_000, "anonymous_id": "a", "session_id": "s"}
        async with db.session() as slow:
            await insert_events(slow, [{**row, "session_id": "first"}])  # id 1, in flight
            await insert(db, [{**row, "session_id": "second"}])  # id 2, committed
            folding = asyncio.create_task(db.fold_rollups())
            await asyncio.sleep(0.3)
            assert not folding.done()  # waiting for the insert in flight
            await slow.commit()
        assert await asyncio.wait_for(folding, 10) == 2
        mark, top = await _watermark(db)
        assert (mark, top) == (2, 2)
    finally:
        await db.dispose()
