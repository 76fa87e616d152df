"""Migrations upgrade in place and match the models (issue #2)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from gateway.storage import Database
from gateway.storage.models import metadata


async def test_migrated_schema_matches_models(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
    finally:
        await db.dispose()


async def test_migrate_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"
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
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        assert names == ["Kept"]
        assert mode == "wal"
    finally:
        await again.dispose()


def test_migrations_have_a_single_head() -> None:
    """Branches from parallel work are merged, so `upgrade head` and `heads` agree."""
    from alembic.script import ScriptDirectory

    from gateway.storage.engine import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
