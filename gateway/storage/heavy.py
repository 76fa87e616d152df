"""Heavy work: analytics statements, admitted fairly and run under a time limit.

Every analytics query (the engine's `run_query`, `run_attribution`, `run_cohorts`, whoever
asks: REST, GraphQL fields, dashboard widgets, the alert evaluator) runs inside
`Database.heavy_work(pixel_id)` and takes its connections from `HeavyWork.connection()`:

- Admission (`Admission`): at most `pixel_concurrency` queries of one pixel run at once and
  at most `concurrency` in the process. A query first takes its pixel's slot, then a process
  slot, each in arrival order, so the process queue holds at most `pixel_concurrency`
  queries of any pixel: one tenant's burst waits behind itself, not in front of the others.
  A query waits at most `queue_seconds` in all, behind at most `queue_depth` others of its
  pixel; past either it is refused with RateLimited (429, Retry-After), never left waiting
  for a connection the pool cannot give.
- Connections: a running query uses at most `connections` connections at once (its further
  statements wait for one of its own), so heavy work never holds more than `concurrency` x
  `connections` pooled connections; `Database` sizes its pool `heavy_connections` +
  `LIGHT_CONNECTIONS`, so light requests (alerts lists, the catalog, ingestion, audit writes)
  always find a connection. Before, thirty aliased analytics fields held the whole pool for
  half a minute and `GET /api/v2/alerts` waited 31.8 s for a connection (issue #12).
- Time limit: the clock starts at admission; past `timeout_seconds` the query is cancelled
  and raises QueryTimeout (504). Cancelling (the limit, or a client that disconnected,
  `gateway.middleware.CancelOnDisconnect`) stops the statements in the database, not only
  the coroutine that awaits them: aiosqlite runs each statement in its connection's thread,
  where cancelling the awaiting task changes nothing, so a cancelled
  `HeavyConnection.rows()` calls `sqlite3.Connection.interrupt()` (thread-safe; the
  statement fails with "interrupted" at its next row) and waits for the statement to stop
  before the connection goes back to the pool. On PostgreSQL each transaction
  also gets `statement_timeout` (`set_config(..., is_local => true)`: it ends with the
  transaction, the connection goes back to the pool with the server's default), so the
  server stops a statement by itself even when this process cannot, and asyncpg sends the
  server a cancel request for a cancelled statement.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from gateway.errors import QueryTimeout, RateLimited

__all__ = ["LIGHT_CONNECTIONS", "Admission", "HeavyConnection", "HeavyLimits", "HeavyWork",
           "Slots", "in_process_limit"]

T = TypeVar("T")

# Pooled connections kept beyond the most heavy work can hold: every light request (and the
# background writers: audit, key usage, rollups, the event writer) draws from these.
LIGHT_CONNECTIONS = 10
# PostgreSQL's SQLSTATE for a statement stopped by statement_timeout or a cancel request.
_QUERY_CANCELED = "57014"
# On PostgreSQL the server's statement_timeout is meant to fire first (it stops the
# statement where it runs); the in-process limit follows this much later, for what the
# server cannot see (statements waiting for a connection, a query's later statements).
_SERVER_FIRST_SECONDS = 0.25


@dataclass(frozen=True)
class HeavyLimits:
    """Bounds on heavy work in one process (module docstring). The settings `query_*` make
    one (`Settings.heavy_limits`); these defaults are theirs, and `Settings` checks the
    ranges. `heavy_connections`: the most pooled connections heavy work can hold.

    >>> HeavyLimits(timeout_seconds=5, concurrency=4, pixel_concurrency=2, connections=3)
    """

    timeout_seconds: float = 5.0
    concurrency: int = 4
    pixel_concurrency: int = 2
    connections: int = 3
    queue_seconds: float = 5.0
    queue_depth: int = 16

    @property
    def heavy_connections(self) -> int:
        return self.concurrency * self.connections

    @property
    def retry_after(self) -> int:
        """Whole seconds after which a refused query may find a slot: by then every query
        running now has finished or timed out."""
        return max(1, math.ceil(self.timeout_seconds))


class Slots:
    """`size` slots handed out in arrival order (FIFO), with a bounded wait.

    `acquire(wait)` returns True holding a slot, or False when none came within `wait`
    seconds (None: no bound); a
    slot freed by `release()` passes straight to the longest waiter, so a newcomer never
    overtakes the queue. Cancellation-safe: a waiter cancelled after its slot was granted
    hands it on."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.held = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def idle(self) -> bool:
        return self.held == 0 and not self._waiters

    async def acquire(self, wait: float | None = None) -> bool:
        if self.held < self.size and not self._waiters:
            self.held += 1
            return True
        if wait is not None and wait <= 0:
            return False
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            async with asyncio.timeout(wait):
                await granted
        except TimeoutError:
            return self._abandon(granted)  # granted just as the wait ran out: keep it
        except BaseException:
            if self._abandon(granted):
                self.release()
            raise
        return True

    def _abandon(self, granted: asyncio.Future[None]) -> bool:
        """Stop waiting; True when the slot had been granted meanwhile (the caller owns it)."""
        if granted.done() and not granted.cancelled():
            return True
        granted.cancel()
        with suppress(ValueError):  # not there when release() popped it as it was cancelled
            self._waiters.remove(granted)
        return False

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: `held` is unchanged
                return
        self.held -= 1


class Admission:
    """Per-pixel and per-process slots for heavy work (module docstring). One per
    `Database`, so per process; pixels' slots exist only while in use."""

    def __init__(self, limits: HeavyLimits) -> None:
        self.limits = limits
        self._process = Slots(limits.concurrency)
        self._pixels: dict[str, Slots] = {}

    @property
    def running(self) -> int:
        """Queries holding a process slot now (for tests and the benchmarks)."""
        return self._process.held

    def running_for(self, pixel_id: str) -> int:
        found = self._pixels.get(pixel_id)
        return 0 if found is None else found.held

    @asynccontextmanager
    async def admit(self, pixel_id: str) -> AsyncIterator[None]:
        """Hold a slot of `pixel_id` and one of the process for the body. Raises RateLimited
        when none came within `queue_seconds` or the pixel's queue is full."""
        limits, loop = self.limits, asyncio.get_running_loop()
        pixel = self._pixels.setdefault(pixel_id, Slots(limits.pixel_concurrency))
        ends = loop.time() + limits.queue_seconds
        try:
            if pixel.waiting >= limits.queue_depth and pixel.held >= pixel.size:
                raise RateLimited(
                    "Too many analytics queries of this pixel are running and waiting "
                    "already; retry later", retry_after=limits.retry_after)
            if not await pixel.acquire(limits.queue_seconds):
                raise RateLimited(
                    f"{limits.pixel_concurrency} analytics queries of this pixel are running "
                    "already; retry later", retry_after=limits.retry_after)
            try:
                if not await self._process.acquire(ends - loop.time()):
                    raise RateLimited("The gateway is running as many analytics queries as "
                                      "it can; retry later", retry_after=limits.retry_after)
                try:
                    yield
                finally:
                    self._process.release()
            finally:
                pixel.release()
        finally:
            if pixel.idle:
                self._pixels.pop(pixel_id, None)


class HeavyConnection:
    """A connection of one admitted query: `rows(statement)` runs a statement and returns
    all its rows, and stops it in the database when the caller is cancelled.

    The statement runs in a task of its own, shielded from the caller's cancellation: a
    cancellation reaching SQLAlchemy inside `execute` makes it invalidate the connection,
    and closing an aiosqlite connection waits in its thread's queue behind the very
    statement that should stop. So on SQLite the caller's cancellation becomes
    `interrupt()` (the statement fails with "interrupted" at its next row), the statement's
    task ends with that ordinary error, and the connection goes back to the pool healthy.
    On PostgreSQL the statement's task is cancelled too: asyncpg then sends the server a
    cancel request, and SQLAlchemy discards the connection."""

    def __init__(self, conn: AsyncConnection, driver: Any, *, sqlite: bool) -> None:
        self._conn = conn
        self._driver = driver  # the aiosqlite or asyncpg connection under SQLAlchemy's
        self._sqlite = sqlite

    async def rows(self, statement: Executable,
                   parameters: dict[str, Any] | None = None) -> list[Any]:
        async def run() -> list[Any]:
            return list((await self._conn.execute(statement, parameters)).all())

        running = asyncio.ensure_future(run())
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            if running.done():
                raise
            if self._sqlite:
                # aiosqlite calls sqlite3's interrupt() at once, not through the thread's
                # queue (which the statement occupies); it may be called from any thread.
                await self._driver.interrupt()
            else:
                running.cancel()
            with suppress(Exception):  # "interrupted": the statement stopped, as asked
                await running
            raise


class HeavyWork:
    """One admitted query: its connections (at most `limits.connections` at once) and its
    time limit. Made by `Database.heavy_work`, which enforces the limit around the query."""

    def __init__(self, engine: AsyncEngine, limits: HeavyLimits, *, sqlite: bool,
                 deadline: float) -> None:
        self._engine = engine
        self._limits = limits
        self._sqlite = sqlite
        self._deadline = deadline
        self._slots = Slots(limits.connections)

    def timeout(self) -> QueryTimeout:
        seconds = self._limits.timeout_seconds
        return QueryTimeout(f"The query ran past its time limit of {seconds:g} s and was "
                            "cancelled; narrow the date range, use a coarser granularity, "
                            "fewer measures or a filter", timeout_seconds=seconds)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[HeavyConnection]:
        """A connection for this query's statements (read-only: never committed). Raises
        QueryTimeout when PostgreSQL stopped a statement at the limit."""
        await self._slots.acquire()
        try:
            conn = await _open(self._engine)
            try:
                raw = await conn.get_raw_connection()
                heavy = HeavyConnection(conn, raw.driver_connection, sqlite=self._sqlite)
                if not self._sqlite:
                    left = self._deadline - asyncio.get_running_loop().time()
                    await heavy.rows(text("SELECT set_config('statement_timeout', :ms, true)"),
                                     {"ms": str(max(1, round(left * 1000)))})
                yield heavy
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == _QUERY_CANCELED:
                    raise self.timeout() from exc
                raise
            finally:
                await _finish(conn.close())
        finally:
            self._slots.release()


async def _finish(step: Coroutine[Any, Any, T]) -> T:
    """Run `step` to its end even when the caller is cancelled meanwhile (the cancellation
    is raised after it): opening and closing a pooled connection must not stop halfway."""
    running = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        with suppress(Exception):
            await running
        raise


async def _open(engine: AsyncEngine) -> AsyncConnection:
    """A pooled connection. Cancelled while a new connection is being made, the caller waits
    for it and closes it (back to the pool): an aiosqlite connection abandoned half-open
    keeps its thread alive for good."""
    conn = engine.connect()
    try:
        return await _finish(conn.start())
    except asyncio.CancelledError:
        if conn.sync_connection is not None:
            await _finish(conn.close())
        raise


def in_process_limit(limits: HeavyLimits, *, sqlite: bool) -> float:
    """Seconds after admission at which this process cancels a query: the limit itself on
    SQLite; on PostgreSQL a little later, so the server's statement_timeout fires first."""
    return limits.timeout_seconds + (0.0 if sqlite else _SERVER_FIRST_SECONDS)
