"""The async engine, sessions and migrations for one database URL.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so concurrent readers never
block the writer and concurrent writers wait instead of failing with "database is locked".
Its file is created with mode 0600 before SQLite opens it (SQLite gives `-wal` and `-shm`
the database file's mode), and existing files readable by others are narrowed to 0600
(gateway/files.py).

PostgreSQL: a pool per process sized by `PoolOptions` (settings `GATEWAY_DB_POOL_*`;
docs/deploy.md sizes it). Migrations run under a transaction-scoped advisory lock, so any
number of processes starting at once upgrade the schema exactly once: the first migrates,
the others wait for its commit and then find nothing to do (SQLite: the write lock, taken
first, does the same).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.files import create_private, ensure_private
from gateway.lru import LRU
from gateway.settings import Settings
from gateway.storage.event_writer import EventWriter, sqlite_write_lock
from gateway.storage.notify import Notifier
from gateway.storage.rollups import (
    ConnectionExecutor,
    RollupKeys,
    SqliteExecutor,
    fold,
    insert_horizon,
    lag,
)

__all__ = ["MIGRATION_LOCK", "Database", "PoolOptions", "alembic_config"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# Distinct queries whose plans a database keeps: dashboards, widgets and alerts repeat a few.
_PLAN_CACHE = 256
# The tables a bulk load grows, which `analyze` refreshes the statistics of.
_BULK_TABLES = ("event", "event_rollup", "event_rollup_distinct", "event_rollup_value")
# The advisory lock key migrations hold on PostgreSQL ("gateway" in ASCII).
MIGRATION_LOCK = 0x67617465776179


@dataclass(frozen=True)
class PoolOptions:
    """The connection pool of one process on PostgreSQL (SQLite keeps SQLAlchemy's own).

    >>> PoolOptions(size=5, max_overflow=5, timeout=10.0)

    `pgbouncer`: connections go through PgBouncer in transaction mode, where a server
    connection changes between transactions: no prepared statements are cached per
    connection (asyncpg's and SQLAlchemy's caches off, statement names unique).
    """

    size: int = 5
    max_overflow: int = 5
    timeout: float = 10.0
    recycle: float = 1800.0
    connect_timeout: float = 10.0
    pgbouncer: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolOptions:
        return cls(size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                   timeout=settings.db_pool_timeout_seconds,
                   recycle=settings.db_pool_recycle_seconds,
                   connect_timeout=settings.db_connect_timeout_seconds,
                   pgbouncer=settings.db_pgbouncer)

    def engine_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "pool_size": self.size, "max_overflow": self.max_overflow,
            "pool_timeout": self.timeout, "pool_recycle": self.recycle,
            "pool_pre_ping": True, "connect_args": {"timeout": self.connect_timeout}}
        if self.pgbouncer:
            options["connect_args"].update(
                statement_cache_size=0, prepared_statement_cache_size=0,
                prepared_statement_name_func=_unique_statement_name)
        return options


def _unique_statement_name() -> str:
    """Behind PgBouncer, another client's statement of the same name may exist on the server
    connection this transaction got (SQLAlchemy's asyncpg notes)."""
    return f"__gw_{uuid.uuid4().hex}__"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our migrations, optionally bound to an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for `:memory:` and URI file names."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _make_private(path: Path) -> None:
    """Create the database file 0600 (before SQLite does, with 0644) and narrow the
    database, WAL and shared-memory files if other users can read them."""
    create_private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        ensure_private(path.with_name(path.name + suffix))


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    """The hook run on every new SQLite connection."""

    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Sorts and distinct counts of analytics queries in RAM, not temp files: a 30-day
        # distinct-session count over 1M events takes ~30 % less (benchmarks/query.py).
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    return set_pragmas


class Database:
    """One database: the engine, a session factory, `migrate()`, and the caches that live as
    long as it: `plans` (the engine's query plans, `gateway.engine.run`: built once per
    distinct query, the 256 most recent) and `rollup_keys` (the rollup key of each
    event source seen by `fold_rollups`).

    >>> db = Database("sqlite+aiosqlite:///./gateway.db")
    >>> await db.migrate()
    >>> async with db.session() as session: ...
    >>> await db.dispose()

    `busy_timeout_seconds` (SQLite): how long a writer waits for another's lock before the
    write fails with "database is locked". It is fixed per instance, on purpose: disposing
    the engine to change it on a live app abandons any connection checked out at that
    moment (it goes back to the old pool, which nobody closes again), and its aiosqlite
    thread then outlives the event loop it answers to.
    """

    def __init__(self, url: str, *, echo: bool = False,
                 busy_timeout_seconds: float = 10.0, pool: PoolOptions = PoolOptions()) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.pool = pool
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            options.update(pool.engine_options())
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect",
                         _sqlite_pragmas(round(busy_timeout_seconds * 1000)))
            path = _sqlite_file(url)
            if path is not None:
                _make_private(path)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Every event ingestion path writes through this one queue (group commit).
        self.event_writer = EventWriter(self.engine, sqlite_fast_path=self.is_sqlite,
                                        copy=not pool.pgbouncer)
        # Values are the engine's plans; storage keeps them without knowing their type.
        self.plans: LRU[Hashable, object] = LRU(_PLAN_CACHE)
        self.rollup_keys = RollupKeys()
        # LISTEN/NOTIFY between the processes on this database (PostgreSQL only); its
        # listener connection opens on first `listen` (gateway/storage/notify.py).
        self.notifier = None if self.is_sqlite else Notifier(url)

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The database of `settings`, with its busy timeout and pool."""
        return cls(settings.database_url,
                   busy_timeout_seconds=settings.sqlite_busy_timeout_seconds,
                   pool=PoolOptions.from_settings(settings))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Rolled back on error, always closed."""
        async with self._sessions() as session:
            yield session

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision, in place (creating it when empty).
        Safe to call from many processes at once (see the module docstring)."""
        async with self.engine.begin() as conn:
            if self.is_sqlite:
                # The write lock before alembic reads its version, so a second process
                # waits for the first's commit instead of creating the same tables again.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                # Held until this transaction commits; alembic runs inside it.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK})
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "heads"))

    async def analyze(self) -> None:
        """PostgreSQL: refresh the planner's statistics of the tables bulk loads grow (the
        events and the rollups), after an import or the demo's seeding. Until autovacuum
        gets to a table (after 10 % of it changed, and not at once), the planner estimates
        from what it saw before the load: a freshly loaded table looked empty, and an
        attribution query chose a nested loop on a 1-row estimate and ran for minutes.
        Nothing on SQLite, whose planner keeps no statistics unless ANALYZE was once run
        (the engine's statements are shaped for its indexes as they are)."""
        if self.is_sqlite:
            return
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(f"ANALYZE {', '.join(_BULK_TABLES)}")

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file and truncate it, so pages rewritten
        since leave no older copy behind (best effort: readers in other processes may hold
        it back). Nothing on other backends."""
        if not self.is_sqlite:
            return
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def fold_rollups(self, limit: int = 20_000, *, wait: bool = False) -> int:
        """Fold up to `limit` new events into the rollups; returns how many were folded.
        PostgreSQL: 0 when another folder is at work, unless `wait` (then after it)."""
        if not await self.rollup_lag():
            return 0  # nothing to do: no lock taken (it would stall writers)
        if self.is_sqlite:
            async with sqlite_write_lock(self.engine) as driver:
                return await fold(SqliteExecutor(driver), limit, self.rollup_keys)
        async with self.engine.connect() as conn:
            horizon = await insert_horizon(conn)
            async with conn.begin():
                return await fold(ConnectionExecutor(conn), limit, self.rollup_keys,
                                  horizon=horizon,
                                  lock="FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED")

    async def rollup_lag(self) -> int:
        """Ids between the watermark and the newest stored event: an upper bound of the
        events not yet folded into the rollups (PostgreSQL's ids have gaps)."""
        async with self.engine.connect() as conn:
            return await lag(ConnectionExecutor(conn))

    async def rollups_current(self, inline: int = 5_000) -> bool:
        """True when the rollups hold every stored event; when at most `inline` events are
        missing they are folded first (after any other folder at work). False: a query
        should scan raw events."""
        behind = await self.rollup_lag()
        if behind == 0:
            return True
        if behind > inline:
            return False
        # One fold covers every event stored before this call: it folds in id order, at
        # least `behind` of them, up to a horizon read after this call began.
        await self.fold_rollups(behind + inline, wait=True)
        return True

    async def dispose(self) -> None:
        await self.event_writer.close()
        if self.notifier is not None:
            await self.notifier.close()
        await self.engine.dispose()
