"""Queries for API keys."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.models import ApiKeyRow

__all__ = ["find_key", "find_key_by_hash", "insert_key", "list_keys"]


async def insert_key(session: AsyncSession, row: ApiKeyRow) -> ApiKeyRow:
    session.add(row)
    await session.flush()
    return row


async def find_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKeyRow | None:
    result = await session.execute(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
    return result.scalar_one_or_none()


async def find_key(session: AsyncSession, key_id: str) -> ApiKeyRow | None:
    return await session.get(ApiKeyRow, key_id)


async def list_keys(session: AsyncSession, organization_id: str) -> list[ApiKeyRow]:
    result = await session.execute(
        select(ApiKeyRow)
        .where(ApiKeyRow.organization_id == organization_id)
        .order_by(col(ApiKeyRow.created_at), col(ApiKeyRow.id))
    )
    return list(result.scalars())
