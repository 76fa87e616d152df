"""Migrations upgrade in place and match the models (issue #2), on SQLite and PostgreSQL
(issue #16)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Integer, String, text

from gateway.storage import Database
from gateway.storage.models import metadata


def _compare_type(context: Any, inspected: Any, metadata_column: Any, inspected_type: Any,
                  metadata_type: Any) -> bool | None:
    """SQLite stores VARCHAR(n) as TEXT and never checks n, and every INTEGER is 64-bit
    there: a length or integer width that differs is no difference on SQLite (migration
    0010 changes them on PostgreSQL only). Else alembic's own comparison (None)."""
    declared = getattr(metadata_type, "impl", metadata_type)  # sqlmodel's AutoString decorates
    if context.dialect.name == "sqlite" and any(
            isinstance(inspected_type, kind) and isinstance(declared, kind)
            for kind in (String, Integer)):
        return False
    return None


async def test_migrated_schema_matches_models(new_database: Callable[..., str]) -> None:
    db = Database(new_database("m.sqlite3", migrated=False))
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": _compare_type}),
                metadata))
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
    finally:
        await db.dispose()


async def test_migrate_is_idempotent_and_keeps_data(new_database: Callable[..., str]) -> None:
    url = new_database("m.sqlite3", migrated=False)
    db = Database(url)
    await db.migrate()
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO organization (id, name, created_at) "
                                "VALUES ('o1', 'Kept', '2026-01-01 00:00:00')"))
    await db.dispose()
    again = Database(url)
    try:
        await again.migrate()
        async with again.engine.connect() as conn:
            names = (await conn.execute(text("SELECT name FROM organization"))).scalars().all()
            mode = ((await conn.execute(text("PRAGMA journal_mode"))).scalar()
                    if again.is_sqlite else "wal")
        assert names == ["Kept"]
        assert mode == "wal"
    finally:
        await again.dispose()


def test_migrations_have_a_single_head() -> None:
    """Branches from parallel work are merged, so `upgrade head` and `heads` agree."""
    from alembic.script import ScriptDirectory

    from gateway.storage.engine import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
