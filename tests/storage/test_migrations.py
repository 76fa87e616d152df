"""Migrations upgrade in place and match the models (issue #2), on SQLite and PostgreSQL
(issue #16)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Integer, String, text

from gateway.storage import Database
from gateway.storage.models import metadata
from tests.support_db import gateway_env


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


@pytest.mark.slow  # four `gateway migrate` processes
async def test_processes_starting_together_all_migrate(new_database: Callable[..., str]) -> None:
    """Issue #16: four processes migrating one empty database at the same moment all come
    up (before, 2-3 of 4 died on a UniqueViolation in alembic_version); the schema is at
    the head once, and the migrations ran once (no table created twice)."""
    url = new_database("m.sqlite3", migrated=False)
    env = gateway_env(url)
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "migrate", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE) for _ in range(4)]
    outcomes = []
    for p in procs:
        _, err = await asyncio.wait_for(p.communicate(), timeout=120)
        outcomes.append((p.returncode, err.decode()[-2000:]))
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    from alembic.script import ScriptDirectory

    from gateway.storage.engine import alembic_config

    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))
                        ).scalars().all()
    finally:
        await db.dispose()
    assert versions == list(ScriptDirectory.from_config(alembic_config()).get_heads())
