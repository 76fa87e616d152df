"""Upstack audit log: `GET /accounts/api/audit-log` (scope audit:read).

Query: `since`, `until` (ISO 8601), `principal`, `action`, `limit` (1-500, default 50) and
`cursor` (the previous page's `nextCursor`). Body `{"entries": [...], "nextCursor"}`.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval
from starlette.requests import Request
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.limits import MAX_AUDIT_PAGE
from gateway.rest.base import query_int, resolver_info
from gateway.rest.upstack.surface import surface
from gateway.rest.upstack.wire import parse_time
from gateway.rest.wire import iso_offset
from gateway.types.audit import AuditLogEntry
from resolvers.audit import resolve_audit_log

__all__ = ["AuditEntryBody", "AuditLogBody", "entry_body", "routes"]


class AuditEntryBody(TypedDict):
    id: str
    at: str
    action: str
    outcome: str
    principalKind: str | None
    principalId: str | None
    principalLabel: str | None
    target: str | None
    detail: str | None
    ip: str | None
    userAgent: str | None
    requestId: str | None


class AuditLogBody(TypedDict):
    entries: list[AuditEntryBody]
    nextCursor: str | None


class AuditLogQuery(TypedDict, total=False):
    since: str  # ISO 8601
    until: str
    principal: str
    action: str
    limit: Annotated[int, Interval(ge=1, le=MAX_AUDIT_PAGE)]
    cursor: str


def entry_body(e: AuditLogEntry) -> AuditEntryBody:
    return {"id": e.id, "at": iso_offset(e.at), "action": e.action, "outcome": e.outcome,
            "principalKind": e.principal_kind, "principalId": e.principal_id,
            "principalLabel": e.principal_label, "target": e.target, "detail": e.detail,
            "ip": e.ip, "userAgent": e.user_agent, "requestId": e.request_id}


async def read_audit_log(ctx: Context, request: Request) -> AuditLogBody:
    """The organization's audit log, newest first, a page at a time"""
    q = request.query_params
    limit = query_int(request, "limit", 50, low=1, high=MAX_AUDIT_PAGE)
    page = await resolve_audit_log(
        resolver_info(ctx), since=parse_time(q.get("since"), "since"),
        until=parse_time(q.get("until"), "until"), principal=q.get("principal"),
        action=q.get("action"), after=q.get("cursor"), first=limit)
    return {"entries": [entry_body(e) for e in page.entries], "nextCursor": page.next_cursor}


def routes() -> list[Route]:
    return [surface.route("GET", "/accounts/api/audit-log", read_audit_log,
                          twin="Query.auditLog", scope="audit:read", response=AuditLogBody,
                          query=AuditLogQuery)]
