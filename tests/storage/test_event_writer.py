"""The group-commit event writer: duplicates, both code paths, isolation (issue #4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.services.tenancy import create_organization, create_pixel
from gateway.storage import Database
from gateway.storage.event_writer import EventWriter, StorageError
from gateway.storage.events import EVENT_COLUMNS, count_events


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    await database.migrate()
    yield database
    await database.dispose()


async def make_pixel(db: Database) -> str:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    org = await create_organization(db, "o", now)
    return (await create_pixel(db, org.id, "p", now)).id


def row(pixel: str, event_id: str | None, **values: Any) -> tuple[Any, ...]:
    base = {c: None for c in EVENT_COLUMNS}
    base.update(pixel_id=pixel, event_id=event_id, name="x", ts=1, received_at=1, **values)
    return tuple(base[c] for c in EVENT_COLUMNS)


@pytest.mark.parametrize("fast", [True, False], ids=["sqlite-driver", "generic-returning"])
async def test_duplicates_are_reported_by_position_on_both_paths(db: Database,
                                                                 fast: bool) -> None:
    """The SQLite fast path and the portable ON CONFLICT ... RETURNING path agree."""
    pixel = await make_pixel(db)
    writer = EventWriter(db.engine, sqlite_fast_path=fast)
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


async def test_two_processes_writing_one_file_lose_nothing(tmp_path: Path, db: Database) -> None:
    """Two engines (as two workers or the CLI next to the server) on the same SQLite file:
    BEGIN IMMEDIATE + busy_timeout serialize them; duplicates are still exact."""
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


async def test_a_failing_call_does_not_fail_its_group(db: Database) -> None:
    pixel = await make_pixel(db)
    good = [db.event_writer.write([row(pixel, f"g{i}")]) for i in range(5)]
    bad = db.event_writer.write([row("no-such-pixel", "b")])  # foreign key violation
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert isinstance(results[-1], StorageError)
    assert [r.inserted for r in results[:-1]] == [1] * 5  # type: ignore[union-attr]
    async with db.session() as session:
        assert await count_events(session, pixel) == 5
