"""PostgreSQL: every insert into event takes a shared advisory lock first (issue #16)

Rollups fold events in id order behind a watermark (gateway/storage/rollups.py). On SQLite
ids are assigned and committed in one order under the write lock; on PostgreSQL a sequence
hands out ids to transactions that commit in any order, so a fold could move the watermark
past an id whose row is still in flight and never see it. With this trigger, each statement
inserting events holds `pg_advisory_xact_lock_shared(EVENT_INSERT_LOCK)` from before its
first id is drawn until its transaction ends; a folder takes the same lock exclusively for
an instant to read `max(id)`: every id at or below it is then committed (or rolled back),
and every id drawn later is above it. A trigger, not code in the writer, so every path that
inserts events (the writer, a session, an operator's COPY) is covered.

Nothing on SQLite.

Revision ID: 0011_event_insert_lock
Revises: 0010_postgres_types
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_event_insert_lock"
down_revision: str | Sequence[str] | None = "0010_postgres_types"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# gateway/storage/rollups.py EVENT_INSERT_LOCK (a migration keeps its own copy: it must not
# change when the code does).
_LOCK = 0x6761746577617965


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(f"""CREATE FUNCTION gateway_event_insert_lock() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock_shared({_LOCK}); RETURN NULL; END $$""")
    # BEFORE ... FOR EACH STATEMENT fires before the statement reads its first row, so
    # before any id default (nextval) is evaluated.
    op.execute("CREATE TRIGGER event_insert_lock BEFORE INSERT ON event "
               "FOR EACH STATEMENT EXECUTE FUNCTION gateway_event_insert_lock()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS event_insert_lock ON event")
    op.execute("DROP FUNCTION IF EXISTS gateway_event_insert_lock()")
