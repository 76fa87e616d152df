"""The group-commit event writer: duplicates, both code paths, isolation (issues #4, #10)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.services.tenancy import create_organization, create_pixel
from gateway.storage import Database
from gateway.storage.event_writer import EventWriter, StorageError
from gateway.storage.events import EVENT_COLUMNS, count_events
from tests.support_db import add_poison_trigger


@pytest.fixture
async def db(new_database: Callable[..., str]) -> AsyncIterator[Database]:
    database = Database(new_database("w.sqlite3"))
    yield database
    await database.dispose()


# The SQLite driver path runs only on SQLite; the portable path on both backends (on
# PostgreSQL: COPY through a staging table); PostgreSQL's array statement (behind PgBouncer)
# on PostgreSQL only. Each is (sqlite_fast_path, copy).
PATHS = pytest.mark.parametrize("path", [
    pytest.param((True, True), id="sqlite-driver", marks=pytest.mark.sqlite_only(
        "the aiosqlite driver path of the writer")),
    pytest.param((False, True), id="generic-returning"),
    pytest.param((False, False), id="postgres-arrays", marks=pytest.mark.postgres_only(
        "the PgBouncer-safe array statement of the PostgreSQL writer"))])


async def make_pixel(db: Database) -> str:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    org = await create_organization(db, "o", now)
    return (await create_pixel(db, org.id, "p", now)).id


def row(pixel: str, event_id: str | None, **values: Any) -> tuple[Any, ...]:
    base = dict.fromkeys(EVENT_COLUMNS)
    base.update(pixel_id=pixel, event_id=event_id, name="x", ts=1, received_at=1, **values)
    return tuple(base[c] for c in EVENT_COLUMNS)


@PATHS
async def test_duplicates_are_reported_by_position_on_both_paths(
        db: Database, path: tuple[bool, bool]) -> None:
    """The SQLite fast path and the portable ON CONFLICT ... RETURNING path agree."""
    pixel = await make_pixel(db)
    writer = EventWriter(db.engine, sqlite_fast_path=path[0], copy=path[1])
    first = await writer.write([row(pixel, "a"), row(pixel, "b"), row(pixel, "a"),
                                row(pixel, None), row(pixel, None)])
    assert (first.inserted, first.duplicates) == (4, frozenset({2}))
    again = await writer.write([row(pixel, "c"), row(pixel, "b"), row(pixel, None),
                                row(pixel, "a", properties='{"k": 1}')])
    assert (again.inserted, again.duplicates) == (2, frozenset({1, 3}))
    async with db.session() as session:
        assert await count_events(session, pixel) == 6
    await writer.close()


async def test_concurrent_calls_share_transactions_and_repeats_across_calls(db: Database) -> None:
    pixel = await make_pixel(db)
    outcomes = await asyncio.gather(*(
        db.event_writer.write([row(pixel, f"{c}-{i}") for i in range(20)] + [row(pixel, "same")])
        for c in range(30)))
    assert sum(o.inserted for o in outcomes) == 30 * 20 + 1
    assert sorted(len(o.duplicates) for o in outcomes) == [0] + [1] * 29


async def test_two_processes_writing_one_file_lose_nothing(db: Database) -> None:
    """Two engines (as two workers or the CLI next to the server) on the same database:
    on SQLite BEGIN IMMEDIATE + busy_timeout serialize them, on PostgreSQL the unique index
    decides; duplicates are still exact."""
    pixel = await make_pixel(db)
    other = Database(db.url)
    try:
        writers = [db.event_writer, other.event_writer]
        outcomes = await asyncio.gather(*(
            writers[c % 2].write([row(pixel, f"k{(c // 2) * 50 + i}") for i in range(50)])
            for c in range(40)))
        # Clients c and c+1 send the same ids through different engines.
        assert sum(o.inserted for o in outcomes) == 20 * 50
        assert sum(len(o.duplicates) for o in outcomes) == 20 * 50
    finally:
        await other.dispose()


async def test_a_refused_row_does_not_fail_its_group(db: Database) -> None:
    """One bad row is one rejected row, also when it shares a transaction with other calls
    (issue #10; before, the whole call failed)."""
    pixel = await make_pixel(db)
    good = [db.event_writer.write([row(pixel, f"g{i}")]) for i in range(5)]
    bad = db.event_writer.write([row("no-such-pixel", "b")])  # foreign key violation
    results = await asyncio.gather(*good, bad)
    assert [r.inserted for r in results[:-1]] == [1] * 5
    reason = ("IntegrityError: FOREIGN KEY constraint failed" if db.is_sqlite else
              'ForeignKeyViolationError: insert or update on table "event" violates foreign '
              'key constraint "event_pixel_id_fkey"')
    assert (results[-1].inserted, dict(results[-1].rejected)) == (0, {0: reason})
    async with db.session() as session:
        assert await count_events(session, pixel) == 5


class _Unbindable:
    """A value whose adaptation fails with an error that is not about a row's value (the
    driver's own failure): the writer must treat it as "storage failed", not "row refused"."""

    def __conform__(self, protocol: object) -> object:
        raise RuntimeError("driver failure")


@pytest.mark.sqlite_only("fails the driver through sqlite3's adaptation protocol "
                         "(__conform__); asyncpg refuses such a value as the row's DataError")
async def test_a_failing_call_does_not_fail_its_group(db: Database) -> None:
    """A call whose write fails for a reason that is not about a row gets StorageError;
    the other calls of its group are retried alone and stored (issue #4)."""
    pixel = await make_pixel(db)
    good = [db.event_writer.write([row(pixel, f"g{i}")]) for i in range(5)]
    bad = db.event_writer.write([row(pixel, "b", campaign=_Unbindable())])
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert isinstance(results[-1], StorageError)
    assert [r.inserted for r in results[:-1]] == [1] * 5  # type: ignore[union-attr]  # gather's results before the last are outcomes
    async with db.session() as session:
        assert await count_events(session, pixel) == 5


@PATHS
async def test_rows_the_database_refuses_are_rejected_alone(db: Database,
                                                            path: tuple[bool, bool]) -> None:
    """Rule (issue #10): a batch insert that fails because of a row is retried row by row
    in the same transaction; good rows are stored, refused ones reported by position with
    the driver's reason; duplicates are still exact. Both code paths."""
    pixel = await make_pixel(db)
    await add_poison_trigger(db)
    writer = EventWriter(db.engine, sqlite_fast_path=path[0], copy=path[1])
    await writer.write([row(pixel, "seen")])
    rows = [row(pixel, f"ok-{i}") for i in range(10)]
    rows.insert(3, row(pixel, "p1", campaign="poison"))
    rows.insert(7, row(pixel, None, impressions=2**63))  # past a 64-bit INTEGER
    rows += [row(pixel, "seen"), row(pixel, "ok-0"), row(pixel, None)]
    outcome = await writer.write(rows)
    assert outcome.inserted == 11
    assert outcome.duplicates == frozenset({12, 13})
    assert dict(outcome.rejected) == ({
        3: "IntegrityError: poison row",
        7: "OverflowError: Python int too large to convert to SQLite INTEGER"} if db.is_sqlite
        else {3: "RaiseError: poison row",
              7: outcome.rejected[7]})
    if not db.is_sqlite:  # asyncpg names the parameter by its position in the statement
        assert outcome.rejected[7].startswith("DataError: invalid input for query argument")
        assert outcome.rejected[7].endswith("9223372036854775808 (value out of int64 range)")
    async with db.session() as session:
        assert await count_events(session, pixel) == 12
    await writer.close()


@pytest.mark.sqlite_only("SQLite's write lock and busy timeout")
async def test_a_locked_database_is_storage_error_and_keeps_nothing(db: Database) -> None:
    """Rule (issue #10): 503 only when the database cannot take the write at all, here
    locked by another process past the busy timeout; nothing of the call is stored."""
    pixel = await make_pixel(db)
    impatient = Database(db.url, busy_timeout_seconds=0.05)  # not by disposing a live engine
    holder = sqlite3.connect(db.url.removeprefix("sqlite+aiosqlite:///"),
                             isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="database is locked"):
            await impatient.event_writer.write([row(pixel, f"l{i}") for i in range(3)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await impatient.dispose()
    async with db.session() as session:
        assert await count_events(session, pixel) == 0
