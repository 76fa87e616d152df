"""Queries for dashboard views."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.dashboard_tables import DashboardViewRow

__all__ = [
    "delete_view",
    "find_view",
    "find_views",
    "insert_view",
    "list_views",
    "update_view_if_version",
]


async def insert_view(session: AsyncSession, row: DashboardViewRow) -> DashboardViewRow:
    session.add(row)
    await session.flush()
    return row


async def find_view(session: AsyncSession, view_id: str) -> DashboardViewRow | None:
    return await session.get(DashboardViewRow, view_id)


async def find_views(session: AsyncSession, view_ids: Sequence[str]) -> dict[str, DashboardViewRow]:
    result = await session.execute(
        select(DashboardViewRow).where(col(DashboardViewRow.id).in_(list(view_ids))))
    return {row.id: row for row in result.scalars()}


async def list_views(session: AsyncSession, pixel_id: str,
                     view_type: str | None = None) -> list[DashboardViewRow]:
    query = select(DashboardViewRow).where(DashboardViewRow.pixel_id == pixel_id)
    if view_type is not None:
        query = query.where(DashboardViewRow.type == view_type)
    # Views with an explicit order first (ascending), then the rest by creation.
    query = query.order_by(col(DashboardViewRow.order).is_(None), col(DashboardViewRow.order),
                           col(DashboardViewRow.created_at), col(DashboardViewRow.id))
    result = await session.execute(query)
    return list(result.scalars())


async def update_view_if_version(session: AsyncSession, view_id: str, version: int,
                                 values: dict[str, Any], now: datetime) -> bool:
    """Apply `values` and bump the version only if the stored version is still `version`
    (one conditional UPDATE, so two concurrent writers cannot both win)."""
    result = await session.execute(
        update(DashboardViewRow)
        .where(col(DashboardViewRow.id) == view_id, col(DashboardViewRow.version) == version)
        .values(**values, version=version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # An UPDATE answers a CursorResult (with rowcount); AsyncSession.execute is typed Result.
    return bool(cast("CursorResult[Any]", result).rowcount)


async def delete_view(session: AsyncSession, view_id: str) -> None:
    await session.execute(delete(DashboardViewRow).where(col(DashboardViewRow.id) == view_id))
