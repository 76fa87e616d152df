"""`lastUsedAt` of API keys, written cheaply: coalesced in memory, flushed in the background.

A write per request would put a database write (and SQLite's single writer lock) on every
authenticated response. Instead `touch()` keeps the newest time per key in a dict (no I/O),
and `flush()` — run every few seconds by the app's background task and once at shutdown —
writes one UPDATE per key used since the last flush. The UPDATE never moves the time
backwards, so several processes flushing in any order agree.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway.storage import Database
from gateway.storage.keys import touch_keys

__all__ = ["KeyUsage"]

log = logging.getLogger("gateway.auth")


class KeyUsage:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[str, datetime] = {}

    def touch(self, key_id: str, at: datetime) -> None:
        """Note that `key_id` was used at `at` (no I/O)."""
        previous = self._pending.get(key_id)
        if previous is None or at > previous:
            self._pending[key_id] = at

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write what was noted since the last flush; returns the number of keys written.
        On a storage error the times are kept for the next flush."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        try:
            async with self._db.session() as session:
                await touch_keys(session, batch)
                await session.commit()
        except Exception:
            for key_id, at in batch.items():
                self.touch(key_id, at)
            raise
        return len(batch)
