from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.settings import Settings
from gateway.storage import Database
from tests.support import Clock, Harness, open_harness
from tests.support_alerts import Dns


def _sqlite_workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate()
            if t.name.endswith("(_connection_worker_thread)") and t.is_alive()}


@pytest.fixture(autouse=True)
def no_leaked_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every database connection a test opens is closed by the end of its teardown (issue
    #11). A connection left open (one that went back to an engine's abandoned pool, say)
    keeps its aiosqlite thread alive; garbage-collected during some later test, it failed
    that test instead ("Event loop is closed" from the thread, or a ResourceWarning), so the
    leak is charged here, to the test that made it. Modules sharing one app across their
    tests (`loop_scope="module"`) keep pooled connections open between tests by design."""
    marker = request.node.get_closest_marker("asyncio")
    if marker is not None and marker.kwargs.get("loop_scope", "function") != "function":
        yield
        return
    before = _sqlite_workers()
    yield
    leaked = _sqlite_workers() - before
    for thread in leaked:  # a connection closed just now: its thread is on its way out
        thread.join(1.0)
    leaked = {t for t in leaked if t.is_alive()}
    names = sorted(t.name for t in leaked)
    assert not leaked, f"{len(leaked)} SQLite connection(s) left open: {names}"


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated once per session. Running every migration on each test's
    fresh file cost ~0.1 s a test (a minute of the suite); the migrations themselves are
    tested from an empty file in tests/storage/test_migrations.py."""
    path = tmp_path_factory.mktemp("migrated") / "gateway.sqlite3"

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await db.migrate()
        finally:
            await db.dispose()  # the last connection closed: the WAL is folded into the file

    asyncio.run(migrate())
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_database: Path) -> Settings:
    """Settings on the test's own SQLite file, a copy of the migrated one (the app's
    lifespan still runs `migrate()`, which finds nothing to do). argon2 at 1 MiB and one
    pass: a test user costs ~1 ms instead of ~0.3 s of CPU (180 hashes and checks took a
    minute of the suite); tests about that cost (tests/auth/test_login_throttle.py) restore
    the defaults."""
    database = tmp_path / "gateway.sqlite3"
    shutil.copyfile(migrated_database, database)
    database.chmod(0o600)
    return Settings(database_url=f"sqlite+aiosqlite:///{database}",
                    secret="test-secret-" + "x" * 32,
                    password_memory_kib=1024, password_passes=1, password_lanes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dns() -> Dns:
    """The names the app's egress guard can resolve (none until a test adds them)."""
    return Dns()


@pytest.fixture
async def harness(settings: Settings, clock: Clock, dns: Dns) -> AsyncIterator[Harness]:
    """A fresh app on its own SQLite file, with one organization and one pixel."""
    async with open_harness(settings, clock, resolver=dns, tenant=True) as h:
        yield h
