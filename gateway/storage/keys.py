"""Queries for API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.models import ApiKeyRow

__all__ = ["find_key", "find_key_by_hash", "insert_key", "list_keys", "touch_keys", "update_key"]


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


async def update_key(session: AsyncSession, row: ApiKeyRow) -> ApiKeyRow:
    """Write a changed row (the caller commits)."""
    session.add(row)
    await session.flush()
    return row


async def touch_keys(session: AsyncSession, used: dict[str, datetime]) -> None:
    """Set `last_used_at` for each key id, never moving it backwards. One executemany."""
    if not used:
        return
    table = ApiKeyRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation
    stmt = (
        update(table)
        .where(table.c.id == bindparam("key_id"))
        .where(or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("at")))
        .values(last_used_at=bindparam("at"))
    )
    await session.execute(stmt, [{"key_id": k, "at": v} for k, v in used.items()])
