"""Queries for events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.storage.models import EventRow

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


async def count_events_by_name(session: AsyncSession, pixel_id: str) -> list[tuple[str, int]]:
    """(name, count) for the pixel's events, most frequent first (ties by name)."""
    n = func.count().label("n")
    result = await session.execute(
        select(col(EventRow.name), n).where(col(EventRow.pixel_id) == pixel_id)
        .group_by(col(EventRow.name)).order_by(n.desc(), col(EventRow.name)))
    return [(name, int(count)) for name, count in result.all()]
