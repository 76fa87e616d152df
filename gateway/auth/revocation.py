"""Cross-process key-change signals: how a cached key learns it changed elsewhere.

The gateway runs several processes (workers, several hosts behind a load balancer, the CLI
next to them). Each caches key look-ups (`KeyCache`), so a revocation, rotation or narrowing
must reach every cache before the next request, without a database read per request (which
would cost as much as having no cache). A signal is a generation number: whoever changes a
key announces it *after* committing; every cache compares the generation with the one its
entries were read under on every hit, and a changed generation empties it.

Three signals, one contract (`KeySignal`), chosen by `key_signal_for(settings, db)`:

- `RevocationSignal` (a SQLite database file): a 64-bit counter in `<db>.revocations`
  beside it, mapped read-only by every process (a read from shared memory per hit, no
  system call); writers serialize increments with `flock`. Synchronous: the announcer's
  `bump` is visible to the next read anywhere.
- `BroadcastSignal` over Redis pub/sub (`GATEWAY_REDIS_URL` set) or PostgreSQL LISTEN/NOTIFY
  (any other database): each process subscribes once; a message bumps its generation, and
  the process then acknowledges it. The announcer counts the subscribers before sending and
  waits (at most a second) until each has acknowledged, so when a revocation's answer is
  sent, every live process has already emptied its cache: the next request anywhere reads
  the committed row. While a subscription is down, messages may be lost: `current()` then
  changes on every call, so that process caches nothing and serves nothing from its cache
  until it is back (and a reconnect empties the cache).
- None (SQLite `:memory:`, one process by construction; PgBouncer in transaction mode
  without Redis, where no connection can stay LISTENing): nothing is cached.

The CLI announces without subscribing (`announce_key_change` with no signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import itertools
import logging
import mmap
import os
import struct
from pathlib import Path
from typing import Any, Protocol

from gateway.files import ensure_private
from gateway.settings import Settings
from gateway.storage import Database

__all__ = ["KEY_CHANNEL", "BroadcastSignal", "KeySignal", "RevocationSignal",
           "announce_key_change", "key_signal_for", "redis_channel"]

log = logging.getLogger("gateway.auth")

_COUNTER = struct.Struct("<Q")
# The channel key changes are announced on (PostgreSQL; on Redis, suffixed with the
# deployment: `redis_channel`), and `<channel>_ack` where each process acknowledges one.
KEY_CHANNEL = "gateway_key_changes"


def redis_channel(secret: str) -> str:
    """The Redis channel of one deployment: one Redis may serve several (a staging and a
    production gateway, say), whose key changes must not empty each other's caches. Every
    process of a deployment has the same secret, so a digest of it names the deployment
    without a setting of its own (and without revealing the secret)."""
    digest = hmac.new(secret.encode(), b"gateway key-change channel", hashlib.sha256)
    return f"{KEY_CHANNEL}:{digest.hexdigest()[:16]}"


class KeySignal(Protocol):
    """What `KeyCache` reads and key management announces through."""

    def current(self) -> int:
        """The generation now; cheap (called on every cache hit)."""
        ...

    async def announce(self) -> None:
        """A key changed (call after the commit): every process's generation moves."""
        ...

    async def start(self) -> None:
        """Begin receiving announcements (a no-op for signals that need not)."""
        ...

    async def close(self) -> None: ...


class RevocationSignal:
    """A generation counter shared by every process using one database file.

    >>> signal = RevocationSignal(Path("gateway.db.revocations"))
    >>> seen = signal.current()
    >>> signal.bump()          # after committing a revocation
    >>> signal.current() != seen
    True
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> RevocationSignal | None:
        """The signal of the configured database, or None when it has no local file."""
        db = settings.sqlite_path
        if db is None:
            return None
        path = db.with_name(db.name + ".revocations")
        ensure_private(path)  # created 0600 below; an older, wider one is narrowed
        return cls(path)

    def _open_map(self) -> mmap.mmap:
        if self._map is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < _COUNTER.size:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    try:
                        if os.fstat(fd).st_size < _COUNTER.size:
                            os.pwrite(fd, _COUNTER.pack(0), 0)
                    finally:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                self._map = mmap.mmap(fd, _COUNTER.size, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)  # the mapping keeps the file's pages
        return self._map

    def current(self) -> int:
        """The generation now (cheap: a read from a shared memory page)."""
        value: int = _COUNTER.unpack_from(self._open_map(), 0)[0]
        return value

    def bump(self) -> int:
        """Advance the generation (call after the change is committed); returns the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, _COUNTER.size, 0)
                old = _COUNTER.unpack(raw)[0] if len(raw) == _COUNTER.size else 0
                value = old + 1
                os.pwrite(fd, _COUNTER.pack(value), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return int(value)

    async def announce(self) -> None:
        self.bump()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


class _Transport(Protocol):
    """How a `BroadcastSignal` sends and receives: PostgreSQL or Redis."""

    async def start(self, on_message: Any, on_state: Any) -> None: ...

    async def send(self) -> None: ...

    async def close(self) -> None: ...


class BroadcastSignal:
    """A generation moved by messages every process receives (see the module docstring).

    `current()` is the count of messages and (re)connections seen; while disconnected it is
    a new number on every call, so `KeyCache` neither keeps nor serves entries."""

    def __init__(self, transport: _Transport) -> None:
        self._transport = transport
        self._generation = 0
        self._up = False
        self._fresh = itertools.count(1 << 62)  # never a generation seen while connected

    @property
    def connected(self) -> bool:
        return self._up

    def current(self) -> int:
        return self._generation if self._up else next(self._fresh)

    def _on_message(self, _payload: str) -> None:
        self._generation += 1

    def _on_state(self, up: bool) -> None:
        # Either way the cache starts over: messages may have been missed while down.
        self._generation += 1
        self._up = up

    async def start(self) -> None:
        await self._transport.start(self._on_message, self._on_state)

    async def announce(self) -> None:
        await self._transport.send()

    async def close(self) -> None:
        self._up = False
        await self._transport.close()


class _Postgres:
    """LISTEN/NOTIFY through the database's `Notifier` (gateway/storage/notify.py)."""

    def __init__(self, db: Database) -> None:
        if db.notifier is None:
            raise ValueError("LISTEN/NOTIFY needs a PostgreSQL database")
        self._db = db
        self._notifier = db.notifier

    async def start(self, on_message: Any, on_state: Any) -> None:
        self._notifier.listen(KEY_CHANNEL, on_message, on_state)
        # Serve the first requests from the cache only once announcements can arrive; a
        # slow connection is no reason to hold up the start (the cache stays off till then).
        await self._notifier.wait_connected(5.0)

    async def send(self) -> None:
        await self._notifier.notify(self._db.engine, KEY_CHANNEL)

    async def close(self) -> None:
        return None  # the notifier is the database's: Database.dispose closes it


class _Count:
    """Acknowledgements of one message, against the subscribers counted before sending."""

    def __init__(self) -> None:
        self.count = 0
        self.expected: int | None = None
        self.done = asyncio.Event()

    def expect(self, n: int) -> None:
        self.expected = n
        self._check()

    def add(self) -> None:
        self.count += 1
        self._check()

    def _check(self) -> None:
        if self.expected is not None and self.count >= self.expected:
            self.done.set()


class _Redis:
    """Redis pub/sub on the deployment's channel, one subscription per process, with
    reconnects; each message is acknowledged on `<channel>_ack` once handled, as
    LISTEN/NOTIFY's are (gateway/storage/notify.py), and `send` waits for every
    subscriber's."""

    def __init__(self, url: str, channel: str, *, ack_timeout: float = 1.0,
                 max_backoff: float = 5.0) -> None:
        self._url = url
        self.channel = channel
        self._ack_channel = f"{channel}_ack"
        self.ack_timeout = ack_timeout
        self.max_backoff = max_backoff
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, _Count] = {}
        self._up = False

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis  # only where Redis is configured

            self._client = aioredis.from_url(self._url, socket_connect_timeout=5,
                                             health_check_interval=10)
        return self._client

    async def start(self, on_message: Any, on_state: Any) -> None:
        connected = asyncio.Event()

        def state(up: bool) -> None:
            self._up = up
            if up:
                connected.set()
            on_state(up)

        self._task = asyncio.create_task(self._run(on_message, state), name="redis-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await connected.wait()

    def _text(self, message: dict[str, Any]) -> str:
        data = message["data"]
        return data.decode() if isinstance(data, bytes) else str(data)

    async def _run(self, on_message: Any, on_state: Any) -> None:
        backoff = 0.1
        while True:
            pubsub = self._redis().pubsub()
            try:
                await pubsub.subscribe(self.channel, self._ack_channel)
                on_state(True)
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=10.0)
                    if message is None:
                        await pubsub.ping()  # a dead connection fails here, not silently
                        continue
                    token = self._text(message)
                    channel = message["channel"]
                    if (channel.decode() if isinstance(channel, bytes) else channel) \
                            == self._ack_channel:
                        if token in self._pending:
                            self._pending[token].add()
                        continue
                    on_message(token)
                    # After handling: the acknowledgement says "done", not "received".
                    await self._redis().publish(self._ack_channel, token)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  # any failure: reconnect (logged)
                log.warning("Redis subscription lost (%s: %s); reconnecting in %.1f s",
                            type(exc).__name__, exc, backoff)
            finally:
                if self._up:
                    on_state(False)
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    async def send(self) -> None:
        client = self._redis()
        token = f"{os.getpid()}-{os.urandom(8).hex()}"
        counter = self._pending[token] = _Count()
        temporary = None
        if self._task is None or not self._up:  # not subscribed here (the CLI)
            temporary = client.pubsub()
            await temporary.subscribe(self._ack_channel)
        try:
            [(_, expected)] = await client.pubsub_numsub(self.channel)
            counter.expect(int(expected))
            await client.publish(self.channel, token)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ack_timeout):
                    while temporary is not None and not counter.done.is_set():
                        message = await temporary.get_message(
                            ignore_subscribe_messages=True, timeout=self.ack_timeout)
                        if message is not None and self._text(message) == token:
                            counter.add()
                    await counter.done.wait()
            if not counter.done.is_set():
                log.warning("%d of %d gateway processes acknowledged a key change within "
                            "%.1f s", counter.count, expected, self.ack_timeout)
        finally:
            self._pending.pop(token, None)
            if temporary is not None:
                with contextlib.suppress(Exception):
                    await temporary.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def key_signal_for(settings: Settings, db: Database) -> KeySignal | None:
    """The signal of this deployment (see the module docstring); call `start()` on it in a
    process that caches keys. None: nothing can be cached."""
    if settings.sqlite_path is not None:
        return RevocationSignal.for_settings(settings)
    if settings.redis_url:
        return BroadcastSignal(_Redis(settings.redis_url, redis_channel(settings.secret)))
    if settings.db_pgbouncer:
        # Transaction pooling cannot hold a LISTEN; without Redis nothing may be cached.
        log.warning("GATEWAY_DB_PGBOUNCER without GATEWAY_REDIS_URL: the key cache is off "
                    "(every request reads its key); set GATEWAY_REDIS_URL to turn it on")
        return None
    if db.notifier is not None:
        return BroadcastSignal(_Postgres(db))
    return None


async def announce_key_change(settings: Settings, db: Database,
                              signal: KeySignal | None = None) -> None:
    """A key changed (after the commit): move every process's generation. `signal`: this
    process's running signal (the app's), else a one-off announcement (the CLI)."""
    if signal is not None:
        await signal.announce()
        return
    one_off = key_signal_for(settings, db)
    if one_off is None:
        return
    try:
        await one_off.announce()
    finally:
        await one_off.close()
