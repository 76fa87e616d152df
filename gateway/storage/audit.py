"""Queries for the audit log.

The batch insert goes to the driver directly, as multi-row INSERT statements: SQLAlchemy's
per-row parameter processing doubled the cost of a row, and audit rows are written for every
authenticated request. One statement per row (`executemany`) cost more still under load: the
driver thread hands the interpreter lock back and forth with the request loop once per row,
and with it the catalog route served ~15 % fewer requests (benchmarks/catalog.py). Values are
converted with the columns' own bind processors (on SQLite, the same text in one call), so
every backend gets what SQLAlchemy would have sent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.storage.models import AuditRow

__all__ = ["AUDIT_COLUMNS", "insert_audit_entries", "query_audit"]

# Insert order; `AuditEntry` in gateway/audit.py has the same fields in the same order.
AUDIT_COLUMNS = ("at", "organization_id", "action", "outcome", "principal_kind", "principal_id",
                 "principal_label", "target", "detail", "ip", "user_agent", "request_id")

_PLACEHOLDERS: dict[str, Callable[[int, str], str]] = {
    "qmark": lambda i, name: "?",
    "format": lambda i, name: "%s",
    "numeric": lambda i, name: f":{i + 1}",
    "numeric_dollar": lambda i, name: f"${i + 1}",
}


# Rows per INSERT statement: 80 x 12 parameters stay below SQLite's oldest limit (999).
_ROWS_PER_STATEMENT = 80


@functools.lru_cache(maxsize=16)
def _insert_sql(paramstyle: str, rows: int) -> str:
    """One INSERT of `rows` rows (multi-row VALUES)."""
    placeholder = _PLACEHOLDERS[paramstyle]
    width = len(AUDIT_COLUMNS)
    values = ", ".join(
        "(" + ", ".join(placeholder(r * width + i, c) for i, c in enumerate(AUDIT_COLUMNS)) + ")"
        for r in range(rows))
    return f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) VALUES {values}"  # noqa: S608  # fixed identifiers; values bound


def _sqlite_at(at: datetime) -> str:
    """What the `at` column's bind processor sends SQLite (naive UTC, microseconds always),
    in one call: the processor chain was half the main-thread cost of writing a row, and a
    row is written per authenticated request. tests/test_audit.py pins the equality."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


async def insert_audit_entries(session: AsyncSession, entries: Sequence[tuple[Any, ...]]) -> None:
    """A batch of rows in `AUDIT_COLUMNS` order, kept in that order, `_ROWS_PER_STATEMENT` per
    INSERT (the caller commits)."""
    if not entries:
        return
    conn = await session.connection()
    dialect = conn.dialect
    table = AuditRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation
    at = _sqlite_at if dialect.name == "sqlite" else \
        table.c.at.type.dialect_impl(dialect).bind_processor(dialect)
    for start in range(0, len(entries), _ROWS_PER_STATEMENT):
        chunk = entries[start:start + _ROWS_PER_STATEMENT]
        values = tuple(v for e in chunk for v in (at(e[0]) if at else e[0], *e[1:]))
        await conn.exec_driver_sql(_insert_sql(dialect.paramstyle, len(chunk)), values)


async def query_audit(session: AsyncSession, organization_id: str, *,
                      since: datetime | None = None, until: datetime | None = None,
                      principal: str | None = None, action: str | None = None,
                      before_id: int | None = None, principal_ids: Collection[str] | None = None,
                      limit: int = 50) -> list[AuditRow]:
    """Newest first. `principal` matches the principal's id or label (key prefix+start,
    email); `action` matches exactly, or a family with a trailing `.` ("key." = key.*).
    `before_id` is the keyset cursor (the last id of the previous page). `principal_ids`,
    when given, keeps only entries whose principal id is one of them."""
    stmt = select(AuditRow).where(AuditRow.organization_id == organization_id)
    if since is not None:
        stmt = stmt.where(col(AuditRow.at) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditRow.at) < until)
    if principal is not None:
        stmt = stmt.where((col(AuditRow.principal_id) == principal)
                          | (col(AuditRow.principal_label) == principal))
    if principal_ids is not None:
        stmt = stmt.where(col(AuditRow.principal_id).in_(sorted(principal_ids)))
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
