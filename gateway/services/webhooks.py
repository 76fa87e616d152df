"""Webhooks: where alert notifications go. Pixel-scoped; `alerts:read` / `alerts:write`.

The optional signing secret is write-only: it is stored as given (the evaluator needs it to
compute HMAC-SHA256 signatures, so a one-way hash would not do) and is never returned,
logged or put in an error after creation; reads report only whether one is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.auth.policy import require_owned, require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.errors import Conflict, FieldError
from gateway.limits import check_page
from gateway.services.dashboard_config import raise_if
from gateway.storage import Database
from gateway.storage import alerts as store
from gateway.storage.dashboard_tables import WebhookRow

__all__ = [
    "WEBHOOK_SERVICES",
    "WebhookDraft",
    "check_url",
    "create_webhook",
    "delete_webhook",
    "get_webhook",
    "list_webhooks",
    "replace_webhook",
]

WEBHOOK_SERVICES = ("generic", "slack", "incidentio")
NOT_FOUND = "Webhook not found"


@dataclass(frozen=True)
class WebhookDraft:
    """A webhook as sent (values unchecked). `secret` UNSET-like: `keep_secret=True` on a
    replace keeps the stored one when the body did not mention it."""

    name: Any
    url: Any
    service: Any = "generic"
    description: Any = None
    secret: Any = None
    keep_secret: bool = False


def check_url(raw: Any, path: tuple[str | int, ...], errors: list[FieldError]) -> str | None:
    """An absolute http(s) URL, or an error at `path`."""
    if not isinstance(raw, str) or len(raw) > 2048:
        errors.append(FieldError("url must be an http(s) URL", path))
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append(FieldError("url must be an http(s) URL", path))
        return None
    return raw


def _validate(draft: WebhookDraft) -> dict[str, Any]:
    errors: list[FieldError] = []
    if not isinstance(draft.name, str) or not draft.name.strip() or len(draft.name) > 200:
        errors.append(FieldError("name is required (at most 200 characters)", ("name",)))
    url = check_url(draft.url, ("url",), errors)
    if draft.service not in WEBHOOK_SERVICES:
        errors.append(FieldError(f"service must be one of {', '.join(WEBHOOK_SERVICES)}",
                                 ("service",)))
    if draft.description is not None and not isinstance(draft.description, str):
        errors.append(FieldError("description must be a string", ("description",)))
    if draft.secret is not None and (not isinstance(draft.secret, str)
                                     or not 8 <= len(draft.secret) <= 256):
        # The message never echoes the value.
        errors.append(FieldError("secret must be a string of 8 to 256 characters", ("secret",)))
    raise_if(errors)
    values = {"name": draft.name.strip(), "url": url, "service": draft.service,
              "description": draft.description}
    if not draft.keep_secret:
        values["secret"] = draft.secret
    return values


def _owned(row: WebhookRow | None, pixel_id: str) -> WebhookRow:
    return require_owned(row, pixel_id, NOT_FOUND)


async def create_webhook(db: Database, principal: Principal | None, draft: WebhookDraft, *,
                         now: datetime) -> WebhookRow:
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    row = WebhookRow(pixel_id=pixel_id, created_at=now, updated_at=now, **_validate(draft))
    async with db.session() as session:
        session.add(row)
        await session.commit()
    return row


async def list_webhooks(db: Database, principal: Principal | None, *, limit: int = 1000,
                        offset: int = 0) -> tuple[list[WebhookRow], int]:
    """A page of the pixel's webhooks (oldest first) and the total count. InvalidInput for a
    page outside `gateway.limits` (limit 1..1000, offset 0..10^9)."""
    pixel_id = require_pixel(require_scope(principal, "alerts:read"))
    check_page(limit, offset)
    async with db.session() as session:
        return await store.list_webhooks(session, pixel_id, limit=limit, offset=offset)


async def get_webhook(db: Database, principal: Principal | None, webhook_id: str) -> WebhookRow:
    pixel_id = require_pixel(require_scope(principal, "alerts:read"))
    async with db.session() as session:
        return _owned(await store.find_webhook(session, webhook_id), pixel_id)


async def replace_webhook(db: Database, principal: Principal | None, webhook_id: str,
                          draft: WebhookDraft, *, now: datetime) -> WebhookRow:
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    values = _validate(draft)
    async with db.session() as session:
        row = _owned(await store.find_webhook(session, webhook_id), pixel_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
        await session.commit()
    return row


async def delete_webhook(db: Database, principal: Principal | None, webhook_id: str) -> None:
    """Delete; Conflict (409) while an alert still sends to it (as ClickStack does)."""
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    async with db.session() as session:
        _owned(await store.find_webhook(session, webhook_id), pixel_id)
        if await store.webhook_in_use(session, webhook_id):
            raise Conflict("Webhook is used by an alert; change or delete the alert first")
        await store.delete_webhook(session, webhook_id)
        await session.commit()

