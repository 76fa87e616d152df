"""Queries for events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.storage.models import EventRow

if TYPE_CHECKING:
    from gateway.storage.engine import Database

__all__ = ["EVENT_COLUMNS", "count_events", "count_events_by_name", "insert_events"]

_TABLE = EventRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in _TABLE.columns if c.name != "id")


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts keyed by column; missing columns are NULL) with one executemany."""
    if not rows:
        return
    full = [{c: r.get(c) for c in EVENT_COLUMNS} for r in rows]
    await session.execute(insert(_TABLE), full)


async def count_events(session: AsyncSession, pixel_id: str) -> int:
    result = await session.execute(
        select(func.count()).select_from(EventRow).where(col(EventRow.pixel_id) == pixel_id))
    return int(result.scalar_one())


async def count_events_by_name(db: Database, pixel_id: str) -> list[tuple[str, int]]:
    """(name, count) for the pixel's events, most frequent first (ties by name). A scan of
    all the pixel's events: heavy work, admitted and timed like any analytics query
    (`Database.heavy_work`: RateLimited, QueryTimeout)."""
    n = func.count().label("n")
    statement = (select(col(EventRow.name), n).where(col(EventRow.pixel_id) == pixel_id)
                 .group_by(col(EventRow.name)).order_by(n.desc(), col(EventRow.name)))
    async with db.heavy_work(pixel_id) as work, work.connection() as conn:
        rows = await conn.rows(statement)
    return [(name, int(count)) for name, count in rows]
