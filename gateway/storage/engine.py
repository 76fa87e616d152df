"""The async engine, sessions and migrations for one database URL.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so concurrent readers never
block the writer and concurrent writers wait instead of failing with "database is locked".
Its file is created with mode 0600 before SQLite opens it (SQLite gives `-wal` and `-shm`
the database file's mode), and existing files readable by others are narrowed to 0600
(gateway/files.py).

The pool holds what heavy work may take (`HeavyLimits.heavy_connections`) plus
`LIGHT_CONNECTIONS` that only light work uses: analytics queries take theirs through
`heavy_work` (gateway/storage/heavy.py), which never holds more, so a burst of heavy queries
cannot make a light request wait for a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.files import create_private, ensure_private
from gateway.lru import LRU
from gateway.storage.event_writer import EventWriter, sqlite_write_lock
from gateway.storage.heavy import (
    LIGHT_CONNECTIONS,
    Admission,
    HeavyLimits,
    HeavyWork,
    in_process_limit,
)
from gateway.storage.rollups import ConnectionExecutor, RollupKeys, SqliteExecutor, fold, lag

if TYPE_CHECKING:  # annotations only: storage never imports the metrics at run time
    from gateway.metrics import Metrics

__all__ = ["Database", "alembic_config"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# Distinct queries whose plans a database keeps: dashboards, widgets and alerts repeat a few.
_PLAN_CACHE = 256
# Connections a pool keeps open when idle (more are opened up to its capacity under load).
_POOL_SIZE = {"sqlite": 5, "other": 10}
# The capacity of a pool before heavy work was bounded (SQLAlchemy's 5 + 10 for SQLite, ours
# for PostgreSQL); a pool is never made smaller than this.
_MIN_CAPACITY = {"sqlite": 15, "other": 30}


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

    `metrics`: where the app's metrics go (gateway/metrics.py): folds here, engine queries
    and ingestion through the services holding this database. None (the CLI): not recorded.
    `heavy`: the bounds on analytics queries (`heavy_work`); the pool's capacity is
    `heavy.heavy_connections` + `LIGHT_CONNECTIONS` (at least 15 on SQLite, 30 elsewhere).
    """

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_seconds: float = 10.0,
                 metrics: Metrics | None = None, heavy: HeavyLimits | None = None) -> None:
        self.url = url
        self.metrics = metrics
        self.is_sqlite = url.startswith("sqlite")
        self.heavy = heavy or HeavyLimits()
        self.admission = Admission(self.heavy)
        kind = "sqlite" if self.is_sqlite else "other"
        capacity = max(_MIN_CAPACITY[kind], self.heavy.heavy_connections + LIGHT_CONNECTIONS)
        self.pool_capacity = capacity
        options: dict[str, Any] = {"echo": echo}
        in_memory = self.is_sqlite and make_url(url).database in (None, "", ":memory:")
        if not in_memory:  # an in-memory SQLite database has one connection (a StaticPool)
            options.update(pool_size=_POOL_SIZE[kind],
                           max_overflow=capacity - _POOL_SIZE[kind])
        if not self.is_sqlite:
            options.update(pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect",
                         _sqlite_pragmas(round(busy_timeout_seconds * 1000)))
            path = _sqlite_file(url)
            if path is not None:
                _make_private(path)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Every event ingestion path writes through this one queue (group commit).
        self.event_writer = EventWriter(self.engine, sqlite_fast_path=self.is_sqlite)
        # Values are the engine's plans; storage keeps them without knowing their type.
        self.plans: LRU[Hashable, object] = LRU(_PLAN_CACHE)
        self.rollup_keys = RollupKeys()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Rolled back on error, always closed."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def heavy_work(self, pixel_id: str) -> AsyncIterator[HeavyWork]:
        """Admit one analytics query of `pixel_id` and run the body under its time limit
        (gateway/storage/heavy.py); the body takes its connections from the HeavyWork.
        Raises RateLimited when not admitted in time, QueryTimeout past the limit.

        >>> async with db.heavy_work(pixel_id) as work:
        ...     async with work.connection() as conn: ...
        """
        async with self.admission.admit(pixel_id):
            loop = asyncio.get_running_loop()
            work = HeavyWork(self.engine, self.heavy, sqlite=self.is_sqlite,
                             deadline=loop.time() + self.heavy.timeout_seconds)
            limit = asyncio.timeout(in_process_limit(self.heavy, sqlite=self.is_sqlite))
            try:
                async with limit:
                    yield work
            except TimeoutError as exc:
                if limit.expired():
                    raise work.timeout() from exc
                raise

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision, in place (creating it when empty)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "heads"))

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file and truncate it, so pages rewritten
        since leave no older copy behind (best effort: readers in other processes may hold
        it back). Nothing on other backends."""
        if not self.is_sqlite:
            return
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def fold_rollups(self, limit: int = 20_000) -> int:
        """Fold up to `limit` new events into the rollups (SQLite only); returns how many
        were folded."""
        if not self.is_sqlite or not await self.rollup_lag():
            return 0  # nothing to do: no write lock taken (it would stall other writers)
        async with sqlite_write_lock(self.engine) as driver:
            folded = await fold(SqliteExecutor(driver), limit, self.rollup_keys)
        if self.metrics is not None:
            self.metrics.observe_fold(folded)
        return folded

    async def rollup_lag(self) -> int:
        """Stored events not yet folded into the rollups (0 on other backends)."""
        if not self.is_sqlite:
            return 0
        async with self.engine.connect() as conn:
            return await lag(ConnectionExecutor(conn))

    async def rollups_current(self, inline: int = 5_000) -> bool:
        """True when the rollups hold every stored event; when at most `inline` events are
        missing they are folded first. False: a query should scan raw events (always on
        other backends, for now: see gateway/storage/rollups.py)."""
        if not self.is_sqlite:
            return False
        behind = await self.rollup_lag()
        if behind == 0:
            return True
        if behind > inline:
            return False
        await self.fold_rollups(behind + inline)
        return True

    async def dispose(self) -> None:
        await self.event_writer.close()
        await self.engine.dispose()
