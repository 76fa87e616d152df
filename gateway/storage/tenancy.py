"""Queries for organizations and pixels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.models import OrganizationRow, PixelRow

__all__ = [
    "find_pixel",
    "find_pixels",
    "insert_organization",
    "insert_pixel",
    "list_organizations",
    "list_pixels",
]


async def insert_organization(session: AsyncSession, name: str, now: datetime) -> OrganizationRow:
    row = OrganizationRow(name=name, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def list_organizations(session: AsyncSession) -> list[OrganizationRow]:
    result = await session.execute(
        select(OrganizationRow).order_by(col(OrganizationRow.created_at)))
    return list(result.scalars())


async def insert_pixel(session: AsyncSession, organization_id: str, name: str, now: datetime,
                       *, timezone: str = "UTC", currency: str = "USD") -> PixelRow:
    row = PixelRow(organization_id=organization_id, name=name, created_at=now,
                   timezone=timezone, currency=currency)
    session.add(row)
    await session.flush()
    return row


async def find_pixel(session: AsyncSession, pixel_id: str) -> PixelRow | None:
    return await session.get(PixelRow, pixel_id)


async def find_pixels(session: AsyncSession, pixel_ids: list[str]) -> dict[str, PixelRow]:
    result = await session.execute(select(PixelRow).where(col(PixelRow.id).in_(pixel_ids)))
    return {row.id: row for row in result.scalars()}


async def list_pixels(session: AsyncSession, organization_id: str) -> list[PixelRow]:
    result = await session.execute(
        select(PixelRow)
        .where(PixelRow.organization_id == organization_id)
        .order_by(col(PixelRow.created_at), col(PixelRow.id))
    )
    return list(result.scalars())
