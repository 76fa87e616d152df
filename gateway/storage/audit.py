"""Queries for the audit log.

The batch insert goes to the driver directly, as multi-row INSERT statements: SQLAlchemy's
per-row parameter processing doubled the cost of a row, and audit rows are written for every
authenticated request. One statement per row (`executemany`) cost more still under load: the
driver thread hands the interpreter lock back and forth with the request loop once per row,
and with it the catalog route served ~15 % fewer requests (benchmarks/catalog.py); a
statement holds up to 500 rows (`_sqlite_rows_per_statement`). Values are
converted with the columns' own bind processors (on SQLite, the same text in one call), so
every backend gets what SQLAlchemy would have sent.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Collection, Sequence
from contextlib import closing
from datetime import UTC, datetime
from itertools import chain
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


def _sqlite_rows_per_statement(most: int = 500) -> int:
    """Rows per INSERT on SQLite: `most`, or fewer when this SQLite binds fewer than
    `most` x 12 parameters (999 before 3.32, 32,766 since). A statement costs the request
    loop ~90 µs besides its rows (SQLAlchemy, the driver's thread round trip): with 80 rows
    (under 999 parameters) that was ~1 µs of every audit entry, with 500 a sixth of it."""
    with closing(sqlite3.connect(":memory:")) as probe:
        limit = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(most, limit // len(AUDIT_COLUMNS)))


# Rows per INSERT statement: on SQLite within this library's parameter limit; PostgreSQL
# binds up to 32,767 parameters.
_ROWS_PER_STATEMENT = _sqlite_rows_per_statement()
_ROWS_PER_STATEMENT_ELSEWHERE = 500


@functools.lru_cache(maxsize=16)
def _insert_sql(paramstyle: str, rows: int) -> str:
    """One INSERT of `rows` rows (multi-row VALUES)."""
    placeholder = _PLACEHOLDERS[paramstyle]
    width = len(AUDIT_COLUMNS)
    values = ", ".join(
        "(" + ", ".join(placeholder(r * width + i, c) for i, c in enumerate(AUDIT_COLUMNS)) + ")"
        for r in range(rows))
    return f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) VALUES {values}"  # noqa: S608  # fixed identifiers; values bound


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sqlite_times() -> Callable[[datetime], str]:
    """A converter for one batch: what the `at` column's bind processor sends SQLite (naive
    UTC, `YYYY-MM-DD HH:MM:SS.ffffff`, microseconds always), for each value. The processor
    chain was half the main-thread cost of writing a row, and formatting the whole value
    most of the rest; a batch comes in recording order, many entries per second, so the
    part up to the second is formatted once per second (keyed by the exact days and seconds
    since the epoch) and only the microseconds per row. tests/test_audit.py pins the
    equality with the bind processor."""
    last: list[Any] = [None, ""]  # (days, seconds) since the epoch, its formatted prefix

    def convert(at: datetime) -> str:
        utc = at.astimezone(UTC)
        since = utc - _EPOCH
        second = (since.days, since.seconds)
        if second != last[0]:
            last[0], last[1] = second, utc.isoformat(" ", "seconds")[:19]
        return f"{last[1]}.{utc.microsecond:06d}"

    return convert


def _sqlite_at(at: datetime) -> str:
    """One value converted as `_sqlite_times` converts a batch's."""
    return _sqlite_times()(at)


async def insert_audit_entries(session: AsyncSession, entries: Sequence[tuple[Any, ...]]) -> None:
    """A batch of rows in `AUDIT_COLUMNS` order, kept in that order, up to 500 per INSERT
    (the caller commits)."""
    if not entries:
        return
    conn = await session.connection()
    dialect = conn.dialect
    table = AuditRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation
    sqlite = dialect.name == "sqlite"
    at = _sqlite_times() if sqlite else \
        table.c.at.type.dialect_impl(dialect).bind_processor(dialect)
    rows = _ROWS_PER_STATEMENT if sqlite else _ROWS_PER_STATEMENT_ELSEWHERE
    width = len(AUDIT_COLUMNS)
    for start in range(0, len(entries), rows):
        chunk = entries[start:start + rows]
        # Flattened in C (a generator per row was half of this function's time); then the
        # `at` of every row (each `width`-th value) converted in place.
        values = list(chain.from_iterable(chunk))
        if at is not None:
            values[0::width] = map(at, values[0::width])
        await conn.exec_driver_sql(_insert_sql(dialect.paramstyle, len(chunk)), tuple(values))


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
