from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness
from tests.support_alerts import Dns
from tests.support_db import TEST_DATABASE_ENV, TestDatabases, databases


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`sqlite_only` / `postgres_only` tests are skipped on the other backend; each marker
    must give its reason (a bare marker is an error, so nobody skips a test silently)."""
    postgres = bool(os.environ.get(TEST_DATABASE_ENV))
    for item in items:
        for name, skip_when in (("sqlite_only", postgres), ("postgres_only", not postgres)):
            marker = item.get_closest_marker(name)
            if marker is None:
                continue
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{name} needs a reason")
            if skip_when:
                item.add_marker(pytest.mark.skip(reason=f"{name}: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def test_database_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    """Where each test's database comes from: SQLite files, or PostgreSQL databases when
    GATEWAY_TEST_DATABASE_URL is set (tests/support_db.py). The migrations run once per
    session, on a template; running every migration for each test cost ~0.1 s a test (a
    minute of the suite). The migrations themselves are tested from an empty database in
    tests/storage/test_migrations.py."""
    provider = databases(os.environ, tmp_path_factory.mktemp("databases"))
    provider.prepare()
    yield provider
    provider.close()


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """`new_database(name="gateway.sqlite3", migrated=True)`: the URL of a database of this
    test's own (a file under tmp_path, or a PostgreSQL database dropped after the test)."""
    provider = databases()
    made: list[str] = []

    def make(name: str = "gateway.sqlite3", *, migrated: bool = True) -> str:
        url = provider.url(tmp_path, name, migrated=migrated)
        made.append(url)
        return url

    yield make
    # Every connection the test opened is closed by now (a leaked asyncpg connection,
    # garbage-collected during a later test, failed that one with a ResourceWarning).
    leaked = {url: n for url in made if (n := provider.open_connections(url))}
    for url in made:
        provider.release(url)
    assert not leaked, f"PostgreSQL connection(s) left open: {leaked}"


@pytest.fixture
def settings(new_database: Callable[..., str]) -> Settings:
    """Settings on the test's own database, a copy of the migrated one (the app's lifespan
    still runs `migrate()`, which finds nothing to do). argon2 at 1 MiB and one pass: a test
    user costs ~1 ms instead of ~0.3 s of CPU (180 hashes and checks took a minute of the
    suite); tests about that cost (tests/auth/test_login_throttle.py) restore the
    defaults."""
    return Settings(database_url=new_database(),
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
