"""Heavy work (gateway/storage/heavy.py, issue #12): FIFO slots, the pool kept for light
work, and the time limit on the real PostgreSQL (127.0.0.1:5432, trust auth, database
`test`; each run works in a database of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.errors import QueryTimeout, RateLimited
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.heavy import LIGHT_CONNECTIONS, HeavyLimits, Slots
from tests.support import Clock, assert_upstack_error, open_harness
from tests.support_heavy import FAST_QUERY, SLOW_QUERY, seed_slow_rows

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


async def test_slots_are_handed_out_in_arrival_order() -> None:
    """A freed slot goes to the longest waiter, never to a newcomer, and a waiter that gave
    up (its wait ran out, or it was cancelled) is skipped."""
    slots = Slots(1)
    assert await slots.acquire(0)
    order: list[str] = []

    async def wait(name: str, seconds: float | None) -> None:
        if await slots.acquire(seconds):
            order.append(name)
            await asyncio.sleep(0.01)
            slots.release()

    first = asyncio.create_task(wait("first", None))
    impatient = asyncio.create_task(wait("impatient", 0.01))
    cancelled = asyncio.create_task(wait("cancelled", None))
    second = asyncio.create_task(wait("second", None))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert not await slots.acquire(0)  # a newcomer does not jump the queue
    slots.release()
    await asyncio.gather(first, impatient, second)
    assert cancelled.cancelled()
    assert order == ["first", "second"]
    assert slots.idle


async def test_admission_refuses_past_the_pixel_queue_depth() -> None:
    db = Database("sqlite+aiosqlite:///:memory:",
                  heavy=HeavyLimits(pixel_concurrency=1, queue_depth=0, queue_seconds=5))
    try:
        async with db.admission.admit("p"):
            started = time.monotonic()
            with pytest.raises(RateLimited, match="waiting already"):
                async with db.admission.admit("p"):
                    pass
            assert time.monotonic() - started < 0.1  # at once, not after the wait
            async with db.admission.admit("other"):  # another pixel is admitted
                assert db.admission.running == 2
        assert db.admission.running == 0
    finally:
        await db.dispose()


def test_the_pool_keeps_connections_for_light_work(tmp_path: Path) -> None:
    """Heavy work holds at most concurrency x connections; the pool has LIGHT_CONNECTIONS
    more, so a burst of heavy queries cannot make `GET /api/v2/alerts` wait for one (it
    waited 31.8 s before issue #12)."""
    limits = HeavyLimits(concurrency=6, connections=4)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", heavy=limits)
    pool = db.engine.pool
    capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]  # QueuePool's own
    assert capacity == db.pool_capacity == 24 + LIGHT_CONNECTIONS
    asyncio.run(db.dispose())


# --- PostgreSQL ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped at the end (skips when no
    server listens on 127.0.0.1:5432)."""
    name = f"gateway_heavy_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url, heavy=HeavyLimits(timeout_seconds=0.3))
    try:
        yield db
    finally:
        await db.dispose()


async def _sleeping(db: Database) -> list[str]:
    """Statements of other sessions still sleeping on the server."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT query FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' "
            "AND pid <> pg_backend_pid()"))).all()
    return [r[0] for r in rows]


async def test_postgresql_stops_a_statement_at_the_limit(pg: Database) -> None:
    """Rule (issue #12): on PostgreSQL the server itself stops a statement past the limit
    (`statement_timeout`, set for the query's transaction only), which answers
    QueryTimeout; the connection goes back to the pool with the server's default and
    serves the next statement."""
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        async with pg.heavy_work("p") as work, work.connection() as conn:
            await conn.rows(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 2.0
    cause = caught.value.__cause__
    assert isinstance(cause, DBAPIError) and getattr(cause.orig, "sqlstate", None) == "57014"
    assert await _sleeping(pg) == []
    async with pg.engine.connect() as conn:  # the same pooled connection, default restored
        assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "0"
    async with pg.heavy_work("p") as work, work.connection() as conn:
        assert await conn.rows(text("SELECT 1")) == [(1,)]
    assert pg.engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # a QueuePool


async def test_postgresql_stops_a_cancelled_statement(pg: Database) -> None:
    """A cancelled query (its client went away) stops on the server at once, well before
    its time limit, and the pool stays usable."""
    patient = Database(pg.url, heavy=HeavyLimits(timeout_seconds=30))
    try:
        async def sleep() -> None:
            async with patient.heavy_work("p") as work, work.connection() as conn:
                await conn.rows(text("SELECT pg_sleep(10)"))

        task = asyncio.create_task(sleep())
        for _ in range(250):  # until the server runs it (polled: it is another process)
            if await _sleeping(pg):
                break
            await asyncio.sleep(0.02)
        assert await _sleeping(pg)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if not await _sleeping(pg):
                break
            await asyncio.sleep(0.02)
        assert await _sleeping(pg) == []
        async with patient.heavy_work("p") as work, work.connection() as conn:
            assert await conn.rows(text("SELECT 2")) == [(2,)]
    finally:
        await patient.dispose()


async def test_a_slow_query_answers_504_on_postgresql(pg_url: str, settings: Settings) -> None:
    """The same rule through the app on PostgreSQL: the hostile filter of
    tests/support_heavy.py (seconds of LIKE backtracking there too) answers 504
    QUERY_TIMEOUT near the limit, and the next query is answered."""
    on_pg = dataclasses.replace(settings, database_url=pg_url, alerts_enabled=False,
                                query_timeout_seconds=0.3)
    async with open_harness(on_pg, Clock(), tenant=True) as h:
        await seed_slow_rows(h, h.pixel_id, rows=60)
        key = await h.mint("analytics:read")
        started = time.monotonic()
        response = await h.client.post("/db-mgmt/api/query", json=SLOW_QUERY,
                                       headers=h.headers(key, h.pixel_id))
        assert time.monotonic() - started < 2.0
        assert_upstack_error(response, 504, message="time limit")
        fast = await h.client.post("/db-mgmt/api/query", json=FAST_QUERY,
                                   headers=h.headers(key, h.pixel_id))
        assert fast.status_code == 200, fast.text
        assert fast.json()["results"][0]["measureDetails"][0]["primaryTotal"] == 60
