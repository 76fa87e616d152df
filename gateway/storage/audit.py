"""Queries for the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.models import AuditRow

__all__ = ["insert_audit_entries", "query_audit"]


async def insert_audit_entries(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """One executemany INSERT for a batch (the caller commits)."""
    if entries:
        await session.execute(insert(AuditRow), list(entries))


async def query_audit(session: AsyncSession, organization_id: str, *,
                      since: datetime | None = None, until: datetime | None = None,
                      principal: str | None = None, action: str | None = None,
                      before_id: int | None = None, limit: int = 50) -> list[AuditRow]:
    """Newest first. `principal` matches the principal's id or label (key prefix+start,
    email); `action` matches exactly, or a family with a trailing `.` ("key." = key.*).
    `before_id` is the keyset cursor (the last id of the previous page)."""
    stmt = select(AuditRow).where(AuditRow.organization_id == organization_id)
    if since is not None:
        stmt = stmt.where(col(AuditRow.at) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditRow.at) < until)
    if principal is not None:
        stmt = stmt.where((col(AuditRow.principal_id) == principal)
                          | (col(AuditRow.principal_label) == principal))
    if action is not None:
        if action.endswith("."):
            stmt = stmt.where(col(AuditRow.action).startswith(action, autoescape=True))
        else:
            stmt = stmt.where(AuditRow.action == action)
    if before_id is not None:
        stmt = stmt.where(col(AuditRow.id) < before_id)
    stmt = stmt.order_by(col(AuditRow.id).desc()).limit(limit)
    result = await session.execute(stmt)
    return list(result.scalars())
