"""Cross-process revocation signal: how a cached key learns it was revoked elsewhere.

The gateway runs several worker processes on one database, and the CLI revokes keys from yet
another process. Each process caches key look-ups (`KeyCache`), so a revocation must reach
every cache before the next request, without a database read per request (which would cost
as much as having no cache).

The signal is a 64-bit generation counter in a small file beside the SQLite database
(`<db>.revocations`). Whoever changes a key's secret, scopes, access, expiry or revocation
bumps it *after* committing; every process maps the file read-only and compares the counter
with the value it last saw on every cache hit (one 8-byte read from shared memory, no system
call). A changed counter clears that process's whole cache, so the next look-up reads the
committed row. Writers serialize increments with `flock`.

Databases without a local file (PostgreSQL, `:memory:`) have no shared file: `for_settings`
returns None and the key cache is disabled there, so every request reads the key row (one
indexed look-up) and revocation is still immediate.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

from gateway.files import ensure_private
from gateway.settings import Settings

__all__ = ["RevocationSignal"]

_COUNTER = struct.Struct("<Q")


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

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
