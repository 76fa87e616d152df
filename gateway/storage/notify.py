"""Messages to every process on one PostgreSQL database: LISTEN/NOTIFY, acknowledged.

`Notifier` keeps one dedicated connection per process (outside the pool: a pooled connection
returns to the pool between statements, and a listening one must stay) that LISTENs on the
channels asked for, and reconnects with a backoff when it is lost. Callers learn whether it
is connected (`on_state`): while it is not, messages may be missed, and a cache fed by them
must not be trusted (gateway/auth/revocation.py).

Delivery is confirmed, not hoped for. A listener runs its callback for a message, then
acknowledges it (a NOTIFY on `<channel>_ack` with the message's token). `notify` counts the
listening sessions first (they carry `application_name = gateway-listener`), sends, and
returns once that many acknowledgements are in (or after `ack_timeout` seconds: a process
that died meanwhile never answers, and has no cache left to clear). So when `notify` returns,
every live process has already run its callback: an answer sent afterwards reaches no
process that could still act on the old state. A process that is not listening itself (the
CLI) collects the acknowledgements on a connection opened for the call.

A notification needs a session that stays connected: behind PgBouncer in transaction mode
LISTEN does not work (docs/deploy.md: use Redis there).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["LISTENER_NAME", "Notifier", "asyncpg_dsn"]

log = logging.getLogger("gateway.storage")

# The application_name of every listener session: `notify` counts them.
LISTENER_NAME = "gateway-listener"

Callback = Callable[[str], None]
StateCallback = Callable[[bool], None]


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN asyncpg takes, from a SQLAlchemy `postgresql+asyncpg://` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _set_event(event: asyncio.Event, *_: Any) -> None:
    event.set()


class _Acks:
    """Acknowledgements of one sent message, counted by token."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()
        if expected <= 0:
            self.done.set()

    def add(self) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


class Notifier:
    """LISTEN/NOTIFY for one database URL; one per `Database` (PostgreSQL only).

    >>> notifier.listen("gateway_keys", on_message, on_state)   # starts the listener
    >>> await notifier.notify(engine, "gateway_keys", "rotated")  # every process ran it
    >>> await notifier.close()
    """

    def __init__(self, url: str, *, ack_timeout: float = 1.0, probe_seconds: float = 10.0,
                 first_backoff: float = 0.1, max_backoff: float = 5.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self.ack_timeout = ack_timeout
        self.probe_seconds = probe_seconds
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._channels: dict[str, tuple[Callback, StateCallback]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._conn: Any = None
        self._conn_lock = asyncio.Lock()  # one statement at a time on the listener
        self._pending: dict[str, _Acks] = {}

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def listen(self, channel: str, on_message: Callback, on_state: StateCallback) -> None:
        """Call `on_message(payload)` for each message on `channel` (then acknowledge it),
        and `on_state(up)` whenever the listener connects (True) or loses its connection
        (False). Starts the listener task on first use."""
        self._channels[channel] = (on_message, on_state)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                  name="pg-listener")

    async def wait_connected(self, within: float) -> bool:
        """True once the listener is connected (waiting at most `within` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._connected.wait()
        return self.connected

    async def notify(self, engine: AsyncEngine, channel: str, payload: str = "") -> int:
        """Send `payload` on `channel` to every listening process and wait until each has
        run its callback (see the module docstring); returns how many acknowledged."""
        token = f"{os.getpid()}-{os.urandom(8).hex()}"
        ack_channel = f"{channel}_ack"
        own = self._conn if self.connected and channel in self._channels else None
        temporary = None
        if own is None:  # not listening here: collect acknowledgements on a connection of
            import asyncpg  # type: ignore[import-untyped]  # its own; ships no type hints

            temporary = await asyncpg.connect(self._dsn, timeout=10)
            await temporary.add_listener(ack_channel, self._on_ack)
        try:
            async with engine.connect() as conn:
                listeners = int((await conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = :name"), {"name": LISTENER_NAME})).scalar_one())
            acks = self._pending[token] = _Acks(listeners)
            async with engine.begin() as conn:
                await conn.execute(text("SELECT pg_notify(:channel, :message)"),
                                   {"channel": channel, "message": f"{token} {payload}"})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ack_timeout):
                    await acks.done.wait()
            if acks.count < acks.expected:
                log.warning("%d of %d gateway processes acknowledged a message on %s within "
                            "%.1f s", acks.count, acks.expected, channel, self.ack_timeout)
            return acks.count
        finally:
            self._pending.pop(token, None)
            if temporary is not None:
                with contextlib.suppress(Exception):
                    await temporary.close(timeout=2)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- the listener ----------------------------------------------------------------------

    def _on_ack(self, _conn: Any, _pid: int, _channel: str, token: str) -> None:
        acks = self._pending.get(token)
        if acks is not None:
            acks.add()

    def _deliver(self, _conn: Any, _pid: int, channel: str, message: str) -> None:
        token, _, payload = message.partition(" ")
        found = self._channels.get(channel)
        if found is not None:
            found[0](payload)
        # After the callback: the acknowledgement says "done", not "received".
        asyncio.get_running_loop().create_task(self._acknowledge(channel, token))

    async def _acknowledge(self, channel: str, token: str) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            async with self._conn_lock:
                await conn.execute("SELECT pg_notify($1, $2)", f"{channel}_ack", token)
        except Exception as exc:  # noqa: BLE001  # the sender times out; the listener reconnects
            log.warning("could not acknowledge a message on %s: %s", channel, exc)

    def _state(self, up: bool) -> None:
        if up:
            self._connected.set()
        else:
            self._connected.clear()
        for _, on_state in self._channels.values():
            on_state(up)

    async def _run(self) -> None:
        import asyncpg  # the PostgreSQL driver, only where PostgreSQL is used

        backoff = self.first_backoff
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_set_event, lost))
                for channel in self._channels:
                    await conn.add_listener(channel, self._deliver)
                    await conn.add_listener(f"{channel}_ack", self._on_ack)
                # Named only once listening: a sender counts it only when it will answer.
                await conn.execute(f"SET application_name = '{LISTENER_NAME}'")
                self._conn = conn
                self._state(True)
                backoff = self.first_backoff
                while not lost.is_set():
                    # A probe, so a connection lost without a FIN (a dead host, a dropped
                    # NAT entry) is noticed within `probe_seconds`, not after TCP's hours.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.probe_seconds):
                            await lost.wait()
                    if not lost.is_set():
                        async with self._conn_lock:
                            await conn.fetchval("SELECT 1", timeout=self.probe_seconds)
                log.warning("PostgreSQL listener connection closed; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  # any failure: reconnect (logged)
                log.warning("PostgreSQL listener lost (%s: %s); reconnecting in %.1f s",
                            type(exc).__name__, exc, backoff)
            finally:
                self._conn = None
                if self.connected:
                    self._state(False)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)
