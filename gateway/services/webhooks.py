"""Webhooks: where alert notifications go. Pixel-scoped; `alerts:read` / `alerts:write`.

The URL must reach an address the operator allows (`gateway/egress.py`): checked here when
it is set (a literal IP, or every address its name resolves to; a name that does not
resolve yet is accepted, since delivery checks again) and by the guard at every delivery.

The optional signing secret is write-only: it must stay readable to compute HMAC-SHA256
signatures, so it is sealed (AES-GCM, `gateway/secret_box.py`) into `sealed_secret` and
opened only to sign; it is never returned, logged or put in an error after creation; reads
report only whether one is set. Rows from before sealing hold clear text in `secret`:
`seal_legacy_secrets` (run on start) seals them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from gateway.auth.policy import require_owned, require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.drafts import WebhookDraft
from gateway.egress import EgressGuard, EgressRefused, UnresolvedHost
from gateway.errors import Conflict, FieldError
from gateway.limits import check_page
from gateway.secret_box import SecretBox
from gateway.services.dashboard_config import raise_if
from gateway.storage import Database
from gateway.storage import alerts as store
from gateway.storage.dashboard_tables import WebhookRow

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_NAME",
    "MAX_URL",
    "WEBHOOK_SERVICES",
    "check_url",
    "create_webhook",
    "delete_webhook",
    "get_webhook",
    "list_webhooks",
    "open_secret",
    "replace_webhook",
    "seal_legacy_secrets",
    "webhook_secret_box",
]

log = logging.getLogger("gateway.webhooks")

WEBHOOK_SERVICES = ("generic", "slack", "incidentio")
NOT_FOUND = "Webhook not found"
MAX_NAME = 200
MAX_DESCRIPTION = 2048  # ClickStack WebhookInput.description maxLength
MAX_URL = 2048
REFUSED_TARGET = ("url must not point to a loopback, private, link-local, multicast or "
                  "cloud metadata address")


def webhook_secret_box(server_secret: str) -> SecretBox:
    """The box webhook secrets are sealed in (its own key, derived from GATEWAY_SECRET)."""
    return SecretBox(server_secret, purpose="webhook signing secret")


async def check_url(guard: EgressGuard, raw: Any, path: tuple[str | int, ...],
                    errors: list[FieldError]) -> str | None:
    """An http(s) URL of at most 2,048 characters whose target the guard allows, or an
    error at `path`. A refused address gets one message whatever its class, and a name
    that does not resolve (yet) is accepted: delivery checks it again."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_URL:
        errors.append(FieldError(f"url must be an http(s) URL of at most {MAX_URL} "
                                 "characters", path))
        return None
    try:
        await guard.check(raw)
    except EgressRefused as exc:
        errors.append(FieldError(str(exc) if exc.kind == "url" else REFUSED_TARGET, path))
        return None
    except UnresolvedHost:
        pass
    return raw


def _text(raw: Any, field: str, limit: int, errors: list[FieldError]) -> str | None:
    if raw is not None and (not isinstance(raw, str) or len(raw) > limit):
        errors.append(FieldError(f"{field} must be a string of at most {limit} characters",
                                 (field,)))
        return None
    return raw


async def _validate(guard: EgressGuard, draft: WebhookDraft) -> dict[str, Any]:
    errors: list[FieldError] = list(draft.body_errors)
    if (not isinstance(draft.name, str) or not draft.name.strip()
            or len(draft.name) > MAX_NAME):
        errors.append(FieldError(f"name is required (at most {MAX_NAME} characters)",
                                 ("name",)))
    url = await check_url(guard, draft.url, ("url",), errors)
    if draft.service not in WEBHOOK_SERVICES:
        errors.append(FieldError(f"service must be one of {', '.join(WEBHOOK_SERVICES)}",
                                 ("service",)))
    description = _text(draft.description, "description", MAX_DESCRIPTION, errors)
    if draft.secret is not None and (not isinstance(draft.secret, str)
                                     or not 8 <= len(draft.secret) <= 256):
        # The message never echoes the value.
        errors.append(FieldError("secret must be a string of 8 to 256 characters", ("secret",)))
    raise_if(errors)
    values = {"name": str(draft.name).strip(), "url": url, "service": draft.service,
              "description": description}
    if not draft.keep_secret:
        values["secret"] = draft.secret
    return values


def _apply(row: WebhookRow, values: dict[str, Any], box: SecretBox) -> None:
    """Set checked values on `row`, sealing a new secret (bound to the row's id)."""
    for name, value in values.items():
        if name == "secret":
            row.secret = None  # a clear-text legacy value goes with the one it replaces
            row.sealed_secret = None if value is None else box.seal(value, context=row.id)
        else:
            setattr(row, name, value)


def open_secret(box: SecretBox, row: WebhookRow) -> str | None:
    """The signing secret, for signing only; None when the webhook has none. Raises
    SealedSecretError when the sealed value does not open (GATEWAY_SECRET changed)."""
    if row.sealed_secret:
        return box.open(row.sealed_secret, context=row.id)
    return row.secret or None  # a legacy row not sealed yet


async def seal_legacy_secrets(db: Database, box: SecretBox) -> int:
    """Seal the clear-text secrets of rows written before sealing; returns how many. Run on
    start by every process (idempotent: a sealed row has no clear text left)."""
    async with db.session() as session:
        count = await store.seal_clear_secrets(
            session, lambda webhook_id, clear: box.seal(clear, context=webhook_id))
        await session.commit()
    if count:
        await db.checkpoint()
        log.info("sealed %d webhook secret(s) stored in clear text", count)
    return count


def _owned(row: WebhookRow | None, pixel_id: str) -> WebhookRow:
    return require_owned(row, pixel_id, NOT_FOUND)


async def create_webhook(db: Database, principal: Principal | None, draft: WebhookDraft, *,
                         now: datetime, guard: EgressGuard, box: SecretBox) -> WebhookRow:
    """Validate (InvalidInput with every problem at its path) and store a webhook."""
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    values = await _validate(guard, draft)
    row = WebhookRow(pixel_id=pixel_id, name=values.pop("name"), url=values.pop("url"),
                     created_at=now, updated_at=now)
    _apply(row, values, box)
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
                          draft: WebhookDraft, *, now: datetime, guard: EgressGuard,
                          box: SecretBox) -> WebhookRow:
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    values = await _validate(guard, draft)
    async with db.session() as session:
        row = _owned(await store.find_webhook(session, webhook_id), pixel_id)
        _apply(row, values, box)
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

