"""The audit log field."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.context import Info
from gateway.services import audit as service
from gateway.types.audit import AuditLogEntry, AuditLogPage

__all__ = ["AuditQuery"]


async def resolve_audit_log(info: Info, since: datetime | None = None,
                            until: datetime | None = None, principal: str | None = None,
                            action: str | None = None, after: str | None = None,
                            first: int = 50) -> AuditLogPage:
    ctx = info.context
    page = await service.read_audit_log(
        ctx.db, ctx.principal, since=since, until=until, principal=principal, action=action,
        after=after, first=first, pending=ctx.state.audit)
    return AuditLogPage(entries=[AuditLogEntry.from_row(r) for r in page.entries],
                        next_cursor=page.next_cursor)


@strawberry.type
class AuditQuery:
    audit_log: AuditLogPage = strawberry.field(
        resolver=resolve_audit_log,
        description="Audit entries of your organization, newest first (scope audit:read). "
        "`since`/`until` bound the time (half-open); `principal` is a key or user id, a key's "
        "prefix+start or an email; `action` is exact or a family ending in '.' (\"key.\").")
