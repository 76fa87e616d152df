"""Reading the audit log (writing is `gateway.audit`). Scope `audit:read` (implied by
`users:admin`); an organization sees only its own entries.

Entries carry no pixel, but they name the principal that acted. A pixel-restricted reader
sees only entries whose principal is a key or user within its pixel reach (the ones it could
list, `gateway/auth/grants.py`): what happened under other pixels' credentials, org-wide
credentials' and the CLI's included, stays hidden (issue #10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.audit import AuditLog
from gateway.auth.grants import reaches
from gateway.auth.policy import require_scope
from gateway.auth.principal import Principal
from gateway.errors import InvalidInput
from gateway.limits import INT64_MAX, MAX_AUDIT_PAGE, as_utc, parse_int
from gateway.storage import Database
from gateway.storage.audit import query_audit
from gateway.storage.keys import list_keys
from gateway.storage.models import AuditRow
from gateway.storage.users import list_users

__all__ = ["MAX_PAGE", "AuditPage", "read_audit_log"]

MAX_PAGE = MAX_AUDIT_PAGE


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditRow]
    next_cursor: str | None  # pass as `after` for the next (older) page; None at the end


async def read_audit_log(db: Database, actor: Principal | None, *,
                         since: datetime | None = None, until: datetime | None = None,
                         principal: str | None = None, action: str | None = None,
                         after: str | None = None, first: int = 50,
                         pending: AuditLog | None = None) -> AuditPage:
    """Newest first, `first` per page. `pending` (this process's buffer) is flushed first so
    a reader sees what this process recorded before the read."""
    found = require_scope(actor, "audit:read")
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput.field(f"first must be between 1 and {MAX_PAGE}", "first")
    since = None if since is None else as_utc(since, "since")
    until = None if until is None else as_utc(until, "until")
    if since is not None and until is not None and until <= since:
        raise InvalidInput.field("the end of the range must be after its start", "until")
    before_id = None
    if after is not None:
        try:  # ids are SQLite integers: ASCII digits within 64 bits
            before_id = parse_int(after, "after", low=1, high=INT64_MAX)
        except InvalidInput:
            raise InvalidInput.field("not a cursor returned by this API", "after") from None
    if pending is not None:
        await pending.flush()
    async with db.session() as session:
        actors = None
        if found.pixel_ids is not None:
            keys = await list_keys(session, found.organization_id)
            users = await list_users(session, found.organization_id)
            actors = ({k.id for k in keys if reaches(found, k.pixel_ids)}
                      | {u.id for u in users if reaches(found, u.pixel_ids)})
        rows = await query_audit(session, found.organization_id, since=since, until=until,
                                 principal=principal, action=action, before_id=before_id,
                                 principal_ids=actors, limit=first + 1)
    more = len(rows) > first
    rows = rows[:first]
    return AuditPage(entries=rows, next_cursor=str(rows[-1].id) if more and rows else None)
