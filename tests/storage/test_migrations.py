"""Migrations upgrade in place and match the models (issue #2)."""

from __future__ import annotations

from pathlib import Path

import pytest
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


async def test_0010_normalizes_rate_tiers_and_refuses_unknown_ones(tmp_path: Path) -> None:
    """Issue #12: keys stored before 0010 keep their tier when it is one (case and spaces
    aside) and fall back to `standard` otherwise; afterwards the database refuses a tier
    that is none (the GraphQL enum could not list it)."""
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from gateway.storage.engine import alembic_config

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync),
                                                             "0009_user_pixels"))
            await conn.execute(text("INSERT INTO organization (id, name, created_at) "
                                    "VALUES ('o1', 'Org', '2026-01-01 00:00:00')"))
            for n, tier in enumerate([" Premium ", "enterprise", "gold"]):
                await conn.execute(text(
                    "INSERT INTO api_key (id, organization_id, name, key_hash, prefix, start, "
                    "scopes, rate_tier, created_at, updated_at) VALUES (:id, 'o1', 'k', :h, "
                    "'upstack_', 'abcdef', '[]', :tier, '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00')"), {"id": f"k{n}", "h": f"h{n}", "tier": tier})
        await db.migrate()
        async with db.engine.connect() as conn:
            tiers = (await conn.execute(text("SELECT rate_tier FROM api_key ORDER BY id"))
                     ).scalars().all()
        assert tiers == ["premium", "enterprise", "standard"]
        with pytest.raises(IntegrityError, match="ck_api_key_rate_tier"):
            async with db.engine.begin() as conn:
                await conn.execute(text("UPDATE api_key SET rate_tier = 'gold' WHERE id = 'k0'"))
    finally:
        await db.dispose()
