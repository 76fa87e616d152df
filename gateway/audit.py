"""The audit log: who did what, when, from where; written without touching the request path.

What is recorded (the `action` column):

    auth.success      a credential was accepted (key prefix+start or the user's email)
    auth.failure      a credential was presented and refused (bad, expired, revoked, logged out)
    access.denied     a scope, pixel or CSRF check refused an authenticated caller
    key.create / key.rotate / key.revoke / key.update
    user.create / user.login / user.logout

Contract: `AuditTrail.record()` never blocks and never raises into the request it describes.
It appends to an in-process buffer; `AuditLog.run()` (a task started by the app's lifespan)
drains the buffer in batches (multi-row INSERTs: gateway/storage/audit.py) and the lifespan
flushes what is left at shutdown. A failed write keeps the batch for the next attempt, so no
entry is dropped under load: the buffer grows instead (entries are a few hundred bytes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from gateway.auth.principal import Principal
from gateway.storage import Database
from gateway.storage.audit import insert_audit_entries

__all__ = ["AuditEntry", "AuditLog", "AuditTrail"]

log = logging.getLogger("gateway.audit")


class AuditEntry(NamedTuple):
    """One entry as recorded (a tuple: cheap to build on the request path). Field order is
    `gateway.storage.audit.AUDIT_COLUMNS`."""

    at: datetime
    organization_id: str | None
    action: str
    outcome: str
    principal_kind: str | None = None
    principal_id: str | None = None
    principal_label: str | None = None
    target: str | None = None
    detail: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class AuditLog:
    """The per-process buffer and its writer.

    >>> audit = AuditLog(db)
    >>> task = asyncio.create_task(audit.run())   # in the lifespan
    >>> audit.record(entry)                        # anywhere, never blocks
    >>> audit.stop(); await task; await audit.flush()   # at shutdown
    """

    def __init__(self, db: Database, *, interval: float = 0.5, batch_size: int = 500) -> None:
        self._db = db
        self.interval = interval
        self.batch_size = batch_size
        self._pending: list[AuditEntry] = []
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = False
        self.written = 0

    def record(self, entry: AuditEntry) -> None:
        self._pending.append(entry)
        if len(self._pending) >= self.batch_size:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write everything buffered so far; returns the number of entries written. On a
        storage error the unwritten entries go back to the front of the buffer and it raises.

        A write in progress is shielded from cancellation (the lifespan cancels the writer
        task at shutdown): a cancelled caller first waits for it, so a batch is never both
        committed and put back, and never lost."""
        written = 0
        async with self._lock:
            while self._pending:
                batch = self._pending[:self.batch_size]
                del self._pending[:len(batch)]
                write = asyncio.ensure_future(self._write(batch))
                try:
                    await asyncio.shield(write)
                except asyncio.CancelledError:
                    try:
                        await write
                    except Exception:  # noqa: BLE001  # any failed write keeps its batch
                        self._pending[:0] = batch
                    raise
                except Exception:
                    self._pending[:0] = batch
                    raise
                written += len(batch)
        self.written += written
        return written

    async def _write(self, batch: list[AuditEntry]) -> None:
        async with self._db.session() as session:
            await insert_audit_entries(session, batch)
            await session.commit()

    async def run(self) -> None:
        """Flush every `interval` seconds, or sooner when a batch is full, until `stop()`.

        Stopped by a flag rather than by cancellation: on Python 3.11 a cancellation that
        lands as `wait_for` times out can be swallowed, leaving a shutdown waiting forever."""
        while not self._stopping:
            try:
                async with asyncio.timeout(self.interval):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("audit log write failed; %d entries kept for retry", self.pending)
                await asyncio.sleep(self.interval)

    def stop(self) -> None:
        """Ask `run()` to return after its current flush (the caller then flushes the rest)."""
        self._stopping = True
        self._wakeup.set()


class AuditTrail(NamedTuple):
    """The audit log bound to one request (or one CLI command): adds time, IP, user agent and
    request id to what a service records. `log=None` records nothing (test arrangements).

    Immutable; a tuple rather than a frozen dataclass because one is made per request and a
    frozen dataclass's `__init__` (one `object.__setattr__` per field) cost three times as
    much. `record` builds the entry positionally for the same reason."""

    log: AuditLog | None
    clock: Callable[[], datetime]
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def record(self, action: str, outcome: str = "success", *,
               principal: Principal | None = None, organization_id: str | None = None,
               label: str | None = None, target: str | None = None,
               detail: str | None = None) -> None:
        sink = self.log
        if sink is None:
            return
        try:
            kind = principal_id = None
            if principal is not None:
                organization_id = organization_id or principal.organization_id
                kind = principal.kind
                principal_id = principal.key_id or principal.user_id
                label = label or principal.label
            else:
                organization_id, label = organization_id or None, label or None
            user_agent = self.user_agent
            sink.record(AuditEntry(
                self.clock(), organization_id, action, outcome, kind, principal_id, label,
                target, None if detail is None else detail[:1000], self.ip,
                None if user_agent is None else user_agent[:512], self.request_id))
        except Exception:  # the request it describes must never fail because of the log
            log.exception("could not record audit entry %s", action)
