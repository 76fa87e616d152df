"""Fresh databases for tests, on SQLite (the default) or on PostgreSQL.

`GATEWAY_TEST_DATABASE_URL` unset: every test gets its own SQLite file (a copy of one
migrated once per session). Set to a PostgreSQL server URL
(`postgresql+asyncpg://127.0.0.1:5432/test`): every test gets its own database on that
server, cloned from a template migrated once per session (`CREATE DATABASE x TEMPLATE t`
copies a migrated schema in 50-200 ms; running the migrations costs seconds). The databases
are named `gw_pg_t<pid>_<n>`.

After its test a database is emptied in the background and handed to a later test, not
dropped: every `DROP DATABASE` forces a checkpoint of the whole server (a second or more on
a busy machine, and a stall for everyone else's writes), while deleting a test's few rows
takes milliseconds. A database whose schema the test changed (a trigger, say), or that a
leaked connection still locks, is dropped instead. The pool and the template are dropped at
the end of the session (and any left by a killed run are dropped at the start of the next).

    >>> url = databases().url(tmp_path)            # migrated, the test's own
    >>> url = databases().url(tmp_path, migrated=False)   # empty

Tests that are about SQLite itself (file modes, the write lock, a sqlite3 trigger) carry
`@pytest.mark.sqlite_only("why")` and are skipped on PostgreSQL; tests that need
PostgreSQL carry `@pytest.mark.postgres_only("why")` and are skipped on SQLite.

The admin connection lives on its own thread and event loop, so a synchronous fixture and an
async test can both ask for a database without touching the test's loop.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.models import metadata

__all__ = ["CLI_SECRET", "TEST_DATABASE_ENV", "TestDatabases", "add_poison_trigger",
           "databases", "gateway_env", "gateway_settings", "stored_bytes"]

TEST_DATABASE_ENV = "GATEWAY_TEST_DATABASE_URL"
_PREFIX = "gw_pg_t"

T = TypeVar("T")

# Every table of the models, children before parents (so DELETE never trips a foreign key).
_TABLES_CHILDREN_FIRST = tuple(t.name for t in reversed(metadata.sorted_tables))
# What a test could change in a schema: tables, columns, indexes, triggers, functions,
# sequences. A database whose fingerprint is not the template's is dropped, not reused.
_FINGERPRINT = """SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
    SELECT 'c:' || table_name || '.' || column_name || ':' || data_type || ':' ||
           coalesce(character_maximum_length::text, '') || ':' || is_nullable AS x
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'i:' || indexname || ':' || indexdef FROM pg_indexes
      WHERE schemaname = 'public'
    UNION ALL SELECT 't:' || tgname FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'f:' || proname FROM pg_proc
      WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT 's:' || sequence_name FROM information_schema.sequences
      WHERE sequence_schema = 'public') s"""
_RESTART_SEQUENCES = """DO $$ DECLARE s record; BEGIN
    FOR s IN SELECT sequence_name FROM information_schema.sequences
             WHERE sequence_schema = 'public' LOOP
        EXECUTE format('ALTER SEQUENCE %I RESTART', s.sequence_name);
    END LOOP; END $$"""


class _Unusable(Exception):
    """A database that cannot be reused (its schema changed)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TestDatabases:
    """Hands out fresh database URLs; one instance per test process (`databases()`)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, server_url: str | None, scratch: Path) -> None:
        self.server_url = server_url
        self.scratch = scratch
        self.is_postgres = server_url is not None
        self._counter = itertools.count()
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._admin: Any = None
        self._serial: asyncio.Lock | None = None
        self._resets: list[Future[str | None]] = []
        self._drops: list[Future[None]] = []
        self._free: list[str] = []
        self._unmigrated: set[str] = set()
        self._fingerprint: str | None = None
        self._seed: dict[str, list[tuple[Any, ...]]] = {}

    # --- public ----------------------------------------------------------------------------

    def url(self, directory: Path, name: str = "gateway.sqlite3", *,
            migrated: bool = True) -> str:
        """A database no other test uses: `directory / name` on SQLite, a database of its
        own on PostgreSQL (`name` ignored). `migrated`: at the newest schema, else empty."""
        if not self.is_postgres:
            path = directory / name
            if migrated:
                shutil.copyfile(self._migrated_sqlite(), path)
                path.chmod(0o600)
            return f"sqlite+aiosqlite:///{path}"
        if migrated:
            reused = self._reusable()
            if reused is not None:
                return self._database_url(reused)
        database = f"{_PREFIX}{os.getpid()}_{next(self._counter)}"
        template = self._migrated_postgres() if migrated else "template0"
        self._call(self._execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"'))
        if not migrated:
            self._unmigrated.add(database)
        return self._database_url(database)

    def open_connections(self, url: str) -> int:
        """PostgreSQL: how many sessions are still connected to `url`'s database (0 on
        SQLite). A backend leaves pg_stat_activity a moment after its client closed, so a
        count above 0 is asked again for up to a second."""
        if not self.is_postgres:
            return 0
        database = make_url(url).database
        for _ in range(20):
            found = int(self._call(self._fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database)))
            if not found:
                return 0
            time.sleep(0.05)
        return found

    def prepare(self) -> None:
        """Make the migrated template now (the session's start), not inside a test."""
        if self.is_postgres:
            self._migrated_postgres()
        else:
            self._migrated_sqlite()

    def release(self, url: str) -> None:
        """The test is done with `url` (PostgreSQL: emptied for reuse, in the background)."""
        if not self.is_postgres:
            return
        database = make_url(url).database
        assert database is not None and database.startswith(_PREFIX), url
        if database in self._unmigrated:
            self._unmigrated.discard(database)
            self._drops.append(self._submit(self._drop(database)))
        else:
            self._resets.append(self._submit(self._reset(database)))

    def close(self) -> None:
        """Drop every database of the pool and the template, stop the admin thread."""
        if self._loop is None:
            return
        for drop in self._drops:
            drop.result()
        for reset in self._resets:
            found = reset.result()
            if found is not None:
                self._free.append(found)
        for database in [*self._free, *([self._pg_template] if self._pg_template else [])]:
            self._call(self._drop(database))
        if self._admin is not None:
            self._call(self._admin.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join()
        self._loop.close()
        self._loop = None

    # --- SQLite ----------------------------------------------------------------------------

    def _migrated_sqlite(self) -> Path:
        with self._lock:
            if self._sqlite_template is None:
                path = self.scratch / "migrated.sqlite3"
                url = f"sqlite+aiosqlite:///{path}"
                self._call(_migrate(url))
                self._sqlite_template = path
            return self._sqlite_template

    # --- PostgreSQL ------------------------------------------------------------------------

    def _database_url(self, database: str) -> str:
        assert self.server_url is not None
        return make_url(self.server_url).set(database=database).render_as_string(
            hide_password=False)

    def _migrated_postgres(self) -> str:
        with self._lock:
            if self._pg_template is None:
                self._call(self._drop_stale())
                template = f"{_PREFIX}{os.getpid()}_template"
                self._call(self._execute(f'CREATE DATABASE "{template}" TEMPLATE template0'))
                self._call(_migrate(self._database_url(template)))
                self._call(self._remember_template(template))
                self._pg_template = template
            return self._pg_template

    def _reusable(self) -> str | None:
        """A database emptied after an earlier test. Waits for every reset under way first
        (one takes ~20 ms): a reset still running during the next test would allocate in
        this process meanwhile, and tests that measure the process's memory (the GraphQL
        document cache's) saw megabytes they did not allocate."""
        for reset in self._resets:
            found = reset.result()
            if found is not None:
                self._free.append(found)
        self._resets = []
        return self._free.pop() if self._free else None

    async def _drop(self, database: str) -> None:
        await self._execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    async def _reset(self, database: str) -> str | None:
        """Empty `database` back to the template's rows; None when it was dropped instead
        (its schema differs from the template's, or something still holds a lock)."""
        import asyncpg

        try:
            conn = await self._connect(database)
            try:
                if await conn.fetchval(_FINGERPRINT) != self._fingerprint:
                    raise _Unusable(database)
                await conn.execute("SET lock_timeout = '2s'")
                async with conn.transaction():
                    for table in _TABLES_CHILDREN_FIRST:
                        big = await conn.fetchval(
                            f'SELECT count(*) FROM (SELECT 1 FROM "{table}" LIMIT 5001) s')
                        # Many rows: TRUNCATE (new files, no dead rows left for the next
                        # test); a few: DELETE, a hundred times cheaper.
                        await conn.execute(f'TRUNCATE "{table}" CASCADE' if big > 5000
                                           else f'DELETE FROM "{table}"')
                    for table, rows in self._seed.items():
                        await conn.copy_records_to_table(table, records=rows)
                    await conn.execute(_RESTART_SEQUENCES)
            finally:
                await conn.close()
        except (_Unusable, asyncpg.PostgresError, OSError):
            await self._drop(database)
            return None
        return database

    async def _connect(self, database: str) -> Any:
        import asyncpg  # only when the suite runs on PostgreSQL

        assert self.server_url is not None
        url = make_url(self.server_url)
        return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                     password=url.password, database=database)

    async def _remember_template(self, database: str) -> None:
        """The template's schema fingerprint and the rows its migrations inserted."""
        conn = await self._connect(database)
        try:
            self._fingerprint = await conn.fetchval(_FINGERPRINT)
            for table in _TABLES_CHILDREN_FIRST:
                rows = await conn.fetch(f'SELECT * FROM "{table}"')
                if rows:
                    self._seed[table] = [tuple(r) for r in rows]
        finally:
            await conn.close()

    async def _drop_stale(self) -> None:
        """Databases of earlier runs whose process is gone (a killed run leaves them)."""
        rows = await (await self._connection()).fetch(  # before any other statement
            "SELECT datname FROM pg_database WHERE datname LIKE $1", _PREFIX + "%")
        for (name,) in rows:
            pid = name[len(_PREFIX):].split("_", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _connection(self) -> Any:
        if self._admin is None:
            assert self.server_url is not None
            self._admin = await self._connect(make_url(self.server_url).database or "postgres")
        return self._admin

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        if self._serial is None:
            self._serial = asyncio.Lock()
        async with self._serial:
            return await (await self._connection()).fetchval(sql, *args)

    async def _execute(self, sql: str) -> None:
        if self._serial is None:  # made on the admin loop, which it belongs to
            self._serial = asyncio.Lock()
        async with self._serial:  # one statement at a time on the one admin connection
            await (await self._connection()).execute(sql)

    # --- the admin thread ------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever,
                                            name="test-databases", daemon=True)
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()  # SQLite: the last connection closed folds the WAL into the file


_instance: TestDatabases | None = None


def databases(environ: Mapping[str, str] | None = None,
                   scratch: Path | None = None) -> TestDatabases:
    """The process's provider (made by the session fixture in tests/conftest.py, which
    passes the environment and a scratch directory)."""
    global _instance  # noqa: PLW0603  # one provider per test process, as pytest has one session
    if _instance is None:
        if environ is None or scratch is None:
            raise RuntimeError("databases() before the session fixture made it")
        _instance = TestDatabases(environ.get(TEST_DATABASE_ENV) or None, scratch)
    return _instance




async def add_poison_trigger(db: Database, value: str = "poison") -> None:
    """A rule the application does not know, made in the database itself (the real outside
    edge): an event whose campaign is `value` passes the validator and is refused by the
    database ('poison row'), on either backend."""
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql(
                f"CREATE TRIGGER poison BEFORE INSERT ON event WHEN NEW.campaign = '{value}' "
                "BEGIN SELECT RAISE(ABORT, 'poison row'); END")
            return
        await conn.exec_driver_sql(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.campaign = '{value}' THEN RAISE EXCEPTION 'poison row'; END IF; "
            "RETURN NEW; END $$")
        await conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON event "
                                   "FOR EACH ROW EXECUTE FUNCTION poison()")


async def stored_bytes(url: str) -> bytes:
    """Everything a copy of the database would hold: the SQLite file and its WAL, or on
    PostgreSQL the text of every row of every table (what a dump would contain)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        parts = [path, path.with_name(path.name + "-wal")]
        return b"".join(p.read_bytes() for p in parts if p.exists())  # a test's own small file
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            tables = (await conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            rows = []
            for table in tables:
                found = await conn.exec_driver_sql(f'SELECT t::text FROM "{table}" t')
                rows += found.scalars().all()
    finally:
        await db.dispose()
    return "\n".join(rows).encode()


# The secret CLI processes and their apps share on PostgreSQL, where none is generated; on
# SQLite they share the generated `<db>.secret` file instead (what those tests check).
CLI_SECRET = "cli-secret-" + "x" * 32


def gateway_env(url: str) -> dict[str, str]:
    """The environment of a `gateway` process on `url`: this one's without GATEWAY_*
    variables, the database, and on PostgreSQL the shared secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = url
    if not url.startswith("sqlite"):
        env["GATEWAY_SECRET"] = CLI_SECRET
    return env


def gateway_settings(url: str, **changes: Any) -> Settings:
    """Settings of an app next to `gateway` processes on `url` (see `gateway_env`)."""
    return Settings(database_url=url, secret="" if url.startswith("sqlite") else CLI_SECRET,
                    **changes)
