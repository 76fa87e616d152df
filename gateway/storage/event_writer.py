"""Group commit for event ingestion: concurrent writes share one transaction.

Every ingestion path (REST, GraphQL, `gateway import`) hands validated rows to
`Database.event_writer.write(rows)`. Calls that arrive while a transaction is running queue
up and are written together by the next one, so twenty concurrent clients cost one lock
acquisition and one commit instead of twenty busy-waiting writers. A call returns only after
its rows are committed (an acknowledged event is durable).

Idempotency: a row whose (pixel_id, event_id) is already stored, or appears earlier in the
same group, is not written and is reported as a duplicate by its position. NULL event ids
never collide.

Two code paths, same contract (tests run both on SQLite):
- SQLite: the driver connection directly (`BEGIN IMMEDIATE`, one `executemany`, `COMMIT`);
  the write lock is taken first, so checking for earlier rows cannot race another process.
- any other backend: `INSERT ... ON CONFLICT DO NOTHING RETURNING pixel_id, event_id`
  through SQLAlchemy; what is not returned was a duplicate. On PostgreSQL the group is one
  statement over one array per column (`INSERT ... SELECT FROM unnest(...)`): a multi-row
  VALUES list of 28 parameters per row cost SQLAlchemy and the driver more than the
  database's own work (14,800 events/s over HTTP against 61,000 for a raw COPY).

One bad row is one rejected row: when the database refuses a row for a reason that is about
the row (a constraint, a value the driver cannot bind: `_is_row_error`), the batch's
transaction is rolled back and its rows are inserted again one at a time in a new one; the
good rows are stored, each refused row is reported by position with the driver's reason
(`WriteOutcome.rejected`; the caller logs it). The happy path costs nothing more (no
savepoint). Any other failure (locked past the busy timeout, disk full, I/O, connection lost)
is a `StorageError` and nothing of the transaction is kept: the caller answers "retry".

If a group fails that way, each call in it is retried alone, so one call cannot fail its
neighbours; the failing call gets the exception.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, column, table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.storage.events import EVENT_COLUMNS
from gateway.storage.models import EventRow

__all__ = ["EVENT_ID", "PIXEL_ID", "EventWriter", "StorageError", "WriteOutcome",
           "sqlite_write_lock"]

PIXEL_ID = EVENT_COLUMNS.index("pixel_id")
EVENT_ID = EVENT_COLUMNS.index("event_id")

# Rows are tuples in EVENT_COLUMNS order; `properties` is already JSON text (or None).
_INSERT_SQL = (
    f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608  # fixed identifiers; values bound
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) "
    "ON CONFLICT (pixel_id, event_id) DO NOTHING"
)
# Untyped columns: values are bound as given (properties stays the JSON text it already is).
_EVENT = table("event", *(column(c) for c in EVENT_COLUMNS))


def _arrays_insert() -> TextClause:
    """PostgreSQL: a whole group as one statement, one array parameter per column, each
    cast to its column's type (a value too long for its column fails the cast: the row's
    error, as it would be in a VALUES list)."""
    columns: Any = EventRow.__table__.c  # type: ignore[attr-defined]  # SQLModel sets __table__
    make_dialect: Any = postgresql.dialect  # untyped in SQLAlchemy's stubs
    types = [str(columns[c].type.compile(dialect=make_dialect())) for c in EVENT_COLUMNS]
    arrays = ", ".join(f"CAST(:c{i} AS {'text' if t == 'JSON' else t}[])"
                       for i, t in enumerate(types))
    values = ", ".join(f"{c}::json" if t == "JSON" else c
                       for c, t in zip(EVENT_COLUMNS, types, strict=True))
    return text(
        f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) SELECT {values} "  # noqa: S608  # fixed identifiers; values bound
        f"FROM unnest({arrays}) AS u({', '.join(EVENT_COLUMNS)}) "
        "ON CONFLICT (pixel_id, event_id) DO NOTHING RETURNING pixel_id, event_id")


_ARRAYS_INSERT = _arrays_insert()
# The same statement with asyncpg's own `$n` placeholders (the fast path runs on the driver).
_ARRAYS_INSERT_SQL = re.sub(r":c(\d+)", lambda m: f"${int(m.group(1)) + 1}",
                            _ARRAYS_INSERT.text)


# A session's own staging table for COPY (temporary: no WAL, no indexes, gone with the
# session; emptied at each commit). The event columns only: no id, so staging draws no
# sequence value (ids are drawn once, by the INSERT, after the trigger's lock).
_STAGE = "gateway_event_stage"
_STAGE_CREATE = (f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "  # noqa: S608  # fixed identifiers
                 f"SELECT {', '.join(EVENT_COLUMNS)} FROM event WITH NO DATA")
_STAGE_INSERT = (f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608  # fixed identifiers
                 f"SELECT {', '.join(EVENT_COLUMNS)} FROM {_STAGE} "
                 "ON CONFLICT (pixel_id, event_id) DO NOTHING RETURNING pixel_id, event_id")


async def _insert_arrays(conn: Any, rows: list[Row], *, copy: bool) -> set[Key]:
    """PostgreSQL: `rows` in one transaction, on the asyncpg connection itself (through
    SQLAlchemy the parameters' handling cost a third of the throughput). `copy`: COPY them
    into the session's staging table, then one INSERT ... SELECT (array parameters cost the
    driver an isinstance check per value); not behind PgBouncer, where the session (and
    its temporary table) may change between transactions: there one statement over arrays.
    Returns the (pixel, event id) keys stored."""
    raw = (await conn.get_raw_connection()).driver_connection
    async with raw.transaction():  # rolled back as a whole if a row is refused
        if copy:
            await raw.execute(_STAGE_CREATE)
            await raw.copy_records_to_table(_STAGE, records=rows, columns=list(EVENT_COLUMNS))
            returned = await raw.fetch(_STAGE_INSERT)
        else:
            columns = [list(values) for values in zip(*rows, strict=True)]
            returned = await raw.fetch(_ARRAYS_INSERT_SQL, *columns)
    return {(p, e) for p, e in returned if e is not None}
_LOOKUP_CHUNK = 500  # event ids per IN (...) look-up, well under SQLite's variable limit

Row = tuple[Any, ...]
Key = tuple[str, str]


class StorageError(Exception):
    """The database could not take the write (not a problem of one row); nothing was kept."""


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one call's rows: how many were stored, which positions were
    duplicates (already stored, or repeated earlier in the same group), and which the
    database refused (position -> the driver's reason, for logs; not stored)."""

    inserted: int
    duplicates: frozenset[int]
    rejected: Mapping[int, str] = field(default_factory=dict)


# PostgreSQL's SQLSTATEs about a row's values: data exceptions (22: out of range, too long,
# invalid text), integrity violations (23) and an error raised by a trigger or function
# (P0001, RAISE EXCEPTION: SQLite's RAISE(ABORT) counterpart).
_ROW_SQLSTATE = re.compile(r"^(22|23)...$|^P0001$")


def _is_row_error(exc: BaseException) -> bool:
    """True when the database refused a value of the row rather than the write itself:
    constraint violations (CHECK, NOT NULL, foreign key, a unique index other than the
    duplicate rule, a trigger's RAISE), values out of the column's range or type. False for
    "database is locked", "disk is full", I/O and connection errors, and anything unknown
    (those stay StorageError: retry)."""
    if isinstance(exc, sa_exc.DBAPIError):  # the portable path wraps the driver's error
        if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
            return True
        if _ROW_SQLSTATE.match(str(getattr(exc.orig, "sqlstate", "") or "")):
            return True
        return exc.orig is not None and _is_row_error(exc.orig)
    if isinstance(exc, sa_exc.StatementError) and exc.orig is not None:
        return _is_row_error(exc.orig)
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError | OverflowError):
        return True
    # sqlite3 reports an unbindable value (a dict, an int past 64 bits in some versions) as
    # ProgrammingError, the same class as "closed database"; only the former is the row's.
    return isinstance(exc, sqlite3.ProgrammingError) and str(exc).startswith(
        "Error binding parameter")


def _describe(exc: BaseException) -> str:
    """The driver's reason, first line only: SQLAlchemy's own text carries the statement
    and its parameters (event values), and PostgreSQL's DETAIL line quotes the key."""
    orig = getattr(exc, "orig", None) or exc
    # SQLAlchemy's asyncpg adapter re-raises the driver's error as a generic `Error`; the
    # driver's own class (RaiseError, DataError, …) says more.
    if type(orig).__module__.startswith("sqlalchemy") and orig.__cause__ is not None:
        orig = orig.__cause__
    first = str(orig).splitlines()[0] if str(orig) else ""
    return f"{type(orig).__name__}: {first}"[:300]


@dataclass
class _Call:
    rows: Sequence[Row]
    future: asyncio.Future[WriteOutcome]
    duplicates: set[int] = field(default_factory=set)
    rejected: dict[int, str] = field(default_factory=dict)
    sent: list[tuple[int, Key | None]] = field(default_factory=list)  # (position, key)


class EventWriter:
    """Queue + one drain task per burst of writes.

    >>> writer = EventWriter(engine, sqlite_fast_path=True)
    >>> outcome = await writer.write([row, row2])   # committed when this returns
    >>> await writer.close()
    """

    def __init__(self, engine: AsyncEngine, *, sqlite_fast_path: bool,
                 max_group_rows: int = 20_000, copy: bool = True) -> None:
        self._engine = engine
        self._fast = sqlite_fast_path
        self._copy = copy  # PostgreSQL: COPY through a staging table (not behind PgBouncer)
        self._max_group_rows = max_group_rows
        self._pending: list[_Call] = []
        self._task: asyncio.Task[None] | None = None
        self._last_write = float("-inf")

    def seconds_since_write(self) -> float:
        """Since the last `write` call in this process (background work yields to writers)."""
        return time.monotonic() - self._last_write

    async def write(self, rows: Sequence[Row]) -> WriteOutcome:
        """Store `rows`; returns after their transaction committed. Raises what the database
        raised when this call's rows cannot be written."""
        if not rows:
            return WriteOutcome(0, frozenset())
        self._last_write = time.monotonic()
        call = _Call(rows, asyncio.get_running_loop().create_future())
        self._pending.append(call)
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        # A caller cancelled here (client gone) does not stop the write; its rows still land.
        return await call.future

    async def close(self) -> None:
        """Wait for queued writes to finish."""
        if self._task is not None:
            await self._task

    async def _drain(self) -> None:
        try:
            while self._pending:
                group: list[_Call] = []
                size = 0
                while self._pending and (not group or size < self._max_group_rows):
                    call = self._pending.pop(0)
                    group.append(call)
                    size += len(call.rows)
                try:
                    await self._write_group(group)
                except BaseException:  # cancelled mid-write: nobody may wait forever
                    for call in group:
                        if not call.future.done():
                            call.future.cancel()
                    raise
        finally:
            self._task = None

    async def _write_group(self, group: list[_Call]) -> None:
        try:
            await self._commit(group)
        except Exception as exc:  # noqa: BLE001  # any failure: isolate and hand it to callers
            if len(group) == 1:
                _settle(group[0], error=exc)
                return
            for call in group:  # isolate the failing call
                try:
                    await self._commit([call])
                except Exception as single:  # noqa: BLE001  # delivered to its caller
                    _settle(call, error=single)
                else:
                    _settle(call)
            return
        for call in group:
            _settle(call)

    def _plan(self, group: list[_Call]) -> list[Row]:
        """Drop in-group repeats of a key (later ones are duplicates); the rows to send."""
        seen: set[Key] = set()
        rows: list[Row] = []
        for call in group:
            call.duplicates.clear()
            call.rejected.clear()
            call.sent.clear()
            for position, row in enumerate(call.rows):
                event_id = row[EVENT_ID]
                key = None if event_id is None else (row[PIXEL_ID], event_id)
                if key is not None:
                    if key in seen:
                        call.duplicates.add(position)
                        continue
                    seen.add(key)
                call.sent.append((position, key))
                rows.append(row)
        return rows

    async def _commit(self, group: list[_Call]) -> None:
        rows = self._plan(group)
        try:
            if self._fast:
                existing, refused = await self._commit_sqlite(rows)
            else:
                existing, refused = await self._commit_generic(rows)
        except Exception as exc:
            raise StorageError(_describe(exc)) from exc
        sent = 0
        for call in group:
            for pos, key in call.sent:
                if sent in refused:
                    call.rejected[pos] = refused[sent]
                elif key in existing:
                    call.duplicates.add(pos)
                sent += 1

    async def _commit_sqlite(self, rows: list[Row]) -> tuple[set[Key], dict[int, str]]:
        """Returns the keys that were already stored (their rows were skipped) and the rows
        the database refused (index in `rows` -> reason)."""
        # The write lock first: nothing can insert between our look-up and our insert.
        async with sqlite_write_lock(self._engine) as db:
            try:
                cursor = await db.execute("SELECT max(id) FROM event")
                before = (await cursor.fetchone())[0] or 0
                cursor = await db.executemany(_INSERT_SQL, rows)
                skipped = len(rows) - cursor.rowcount
                existing: set[Key] = set()
                if skipped:
                    existing = await _stored_before(db, rows, before)
                    if len(existing) != skipped:
                        raise RuntimeError(f"event insert skipped {skipped} rows but "
                                           f"{len(existing)} were already stored")
                return existing, {}
            except Exception as exc:
                if not _is_row_error(exc):
                    raise
            # executemany stopped at the bad row with the rows before it inserted: start
            # over (the happy path pays for no savepoint), one row at a time. A refused
            # statement undoes only itself (SQLite statements are atomic).
            await db.rollback()
            await db.execute("BEGIN IMMEDIATE")
            existing, refused = set(), {}
            for index, row in enumerate(rows):
                try:
                    cursor = await db.execute(_INSERT_SQL, row)
                except Exception as exc:
                    if not _is_row_error(exc):
                        raise
                    refused[index] = _describe(exc)
                    continue
                if cursor.rowcount == 0:
                    existing.add((row[PIXEL_ID], row[EVENT_ID]))
        return existing, refused

    async def _commit_generic(self, rows: list[Row]) -> tuple[set[Key], dict[int, str]]:
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (insert(_EVENT).on_conflict_do_nothing(index_elements=["pixel_id", "event_id"])
                .returning(_EVENT.c.pixel_id, _EVENT.c.event_id))
        params: list[dict[str, Any]] = []
        async with self._engine.connect() as conn:
            try:
                if dialect == "postgresql":
                    stored = await _insert_arrays(conn, rows, copy=self._copy)
                else:
                    params = [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows]
                    async with conn.begin():  # rolled back as a whole if a row is refused
                        result = await conn.execute(stmt, params)
                        stored = {(p, e) for p, e in result.all() if e is not None}
                return {(r[PIXEL_ID], r[EVENT_ID]) for r in rows
                        if r[EVENT_ID] is not None} - stored, {}
            except Exception as exc:
                # The array statement runs on the driver itself, whose errors SQLAlchemy
                # has not classified: any failure there is retried row by row below, where
                # a row's error is told from the database's (which fails the first row).
                if dialect != "postgresql" and not _is_row_error(exc):
                    raise
            # One row at a time, each in its own savepoint (PostgreSQL aborts the whole
            # transaction on an error otherwise).
            params = params or [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows]
            existing: set[Key] = set()
            refused: dict[int, str] = {}
            async with conn.begin():
                for index, (row, values) in enumerate(zip(rows, params, strict=True)):
                    try:
                        async with conn.begin_nested():
                            returned = (await conn.execute(stmt, [values])).all()
                    except Exception as exc:
                        if not _is_row_error(exc):
                            raise
                        refused[index] = _describe(exc)
                        continue
                    if not returned:
                        existing.add((row[PIXEL_ID], row[EVENT_ID]))
        return existing, refused


@asynccontextmanager
async def sqlite_write_lock(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The aiosqlite driver connection inside `BEGIN IMMEDIATE` (the write lock taken
    first); committed when the block ends, rolled back if it raises (or is cancelled)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        db = raw.driver_connection
        if db is None:  # only after the pool invalidated it; never inside engine.connect()
            raise StorageError("the database connection is closed")
        await db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            await db.commit()
        except BaseException:
            await db.rollback()
            raise


async def _stored_before(db: Any, rows: list[Row], before: int) -> set[Key]:
    by_pixel: dict[str, list[str]] = {}
    for r in rows:
        if r[EVENT_ID] is not None:
            by_pixel.setdefault(r[PIXEL_ID], []).append(r[EVENT_ID])
    found: set[Key] = set()
    for pixel_id, ids in by_pixel.items():
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
            cursor = await db.execute(
                "SELECT event_id FROM event WHERE pixel_id = ? AND id <= ? AND event_id IN "  # noqa: S608  # fixed identifiers; values bound
                f"({', '.join('?' for _ in chunk)})", (pixel_id, before, *chunk))
            found.update((pixel_id, e) for (e,) in await cursor.fetchall())
    return found


def _settle(call: _Call, *, error: BaseException | None = None) -> None:
    if call.future.done():  # the caller went away; its rows are stored regardless
        return
    if error is not None:
        call.future.set_exception(error)
    else:
        call.future.set_result(WriteOutcome(
            len(call.rows) - len(call.duplicates) - len(call.rejected),
            frozenset(call.duplicates), dict(call.rejected)))
