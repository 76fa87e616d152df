"""Queries for users and their login sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.models import SessionRow, UserRow

__all__ = ["find_session_user", "find_user", "find_user_by_email", "insert_session",
           "insert_user", "list_users", "revoke_session"]


async def insert_user(session: AsyncSession, row: UserRow) -> UserRow:
    session.add(row)
    await session.flush()
    return row


async def find_user(session: AsyncSession, user_id: str) -> UserRow | None:
    return await session.get(UserRow, user_id)


async def find_user_by_email(session: AsyncSession, email: str) -> UserRow | None:
    result = await session.execute(select(UserRow).where(UserRow.email == email))
    return result.scalar_one_or_none()


async def list_users(session: AsyncSession, organization_id: str) -> list[UserRow]:
    result = await session.execute(
        select(UserRow).where(UserRow.organization_id == organization_id)
        .order_by(col(UserRow.created_at), col(UserRow.id)))
    return list(result.scalars())


async def insert_session(session: AsyncSession, row: SessionRow) -> SessionRow:
    session.add(row)
    await session.flush()
    return row


async def find_session_user(session: AsyncSession,
                            session_id: str) -> tuple[SessionRow, UserRow] | None:
    """A login session and its user, by the token id (one indexed join)."""
    result = await session.execute(
        select(SessionRow, UserRow).join(UserRow, col(UserRow.id) == col(SessionRow.user_id))
        .where(SessionRow.id == session_id))
    found = result.first()
    return None if found is None else (found[0], found[1])


async def revoke_session(session: AsyncSession, session_id: str, now: datetime) -> bool:
    """Mark a session revoked; False when it does not exist or already was."""
    row = await session.get(SessionRow, session_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.add(row)
    await session.flush()
    return True
