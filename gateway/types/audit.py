"""Audit-log entries as admins read them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.storage.models import AuditRow

__all__ = ["AuditLogEntry", "AuditLogPage"]


@strawberry.type(description="One audited event. Keys appear by prefix and start only.")
class AuditLogEntry:
    id: strawberry.ID
    at: datetime
    action: str = strawberry.field(
        description="auth.success, auth.failure, access.denied, key.*, user.*")
    outcome: str = strawberry.field(description="success, failure or denied.")
    principal_kind: str | None
    principal_id: str | None
    principal_label: str | None
    target: str | None
    detail: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditLogEntry:
        return cls(id=strawberry.ID(str(row.id)), at=row.at, action=row.action,
                   outcome=row.outcome, principal_kind=row.principal_kind,
                   principal_id=row.principal_id, principal_label=row.principal_label,
                   target=row.target, detail=row.detail, ip=row.ip, user_agent=row.user_agent,
                   request_id=row.request_id)


@strawberry.type(description="A page of the audit log, newest first.")
class AuditLogPage:
    entries: list[AuditLogEntry]
    next_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next (older) page; null on the last page.")
