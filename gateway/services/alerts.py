"""Alerts: a threshold on a measure, evaluated every interval (see `alert_evaluator`).

An alert watches either a dashboard widget (`source: "tile"`, ClickStack's name; the
widget's measure is used) or a measure directly (`source: "measure"`). It notifies one
channel: a webhook resource (`{"type": "webhook", "webhookId"}`) or an inline URL
(`{"type": "webhook", "url"}`). Scopes `alerts:read` / `alerts:write`; another pixel's alert,
webhook or view is NotFound (or, when referenced from a body, a 400 that does not say whether
it exists elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.auth.policy import require_owned, require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.catalog import CATALOG
from gateway.drafts import AlertDraft
from gateway.egress import EgressGuard
from gateway.errors import FieldError, InvalidInput, NotFound
from gateway.limits import MAX_PAGE_SIZE, check_page
from gateway.periods import INTERVALS
from gateway.services.dashboard_config import raise_if
from gateway.services.measures import suggest_measures
from gateway.services.webhooks import check_url
from gateway.storage import Database
from gateway.storage import alerts as store
from gateway.storage.dashboard_tables import AlertHistoryRow, AlertRow
from gateway.storage.dashboards import find_view

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from strawberry.dataloader import DataLoader

__all__ = [
    "THRESHOLD_TYPES",
    "alert_history",
    "create_alert",
    "delete_alert",
    "get_alert",
    "history_of_alerts",
    "list_alerts",
    "replace_alert",
]

THRESHOLD_TYPES = ("above", "below")
SOURCES = ("tile", "measure")
NOT_FOUND = "Alert not found"


def _text(raw: Any, field: str, limit: int, errors: list[FieldError]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not 1 <= len(raw) <= limit:
        errors.append(FieldError(f"{field} must be a string of 1 to {limit} characters",
                                 (field,)))
        return None
    return raw


# Identifiers longer than any stored one are refused before they reach a lookup (or the
# measure suggester, whose work grows with the length of what it is given).
MAX_MEASURE = 128
MAX_ID = 64


async def _validate(session: AsyncSession, pixel_id: str, d: AlertDraft,
                    guard: EgressGuard) -> dict[str, Any]:
    errors: list[FieldError] = list(d.body_errors)
    values: dict[str, Any] = {
        "name": _text(d.name, "name", 512, errors),
        "message": _text(d.message, "message", 4096, errors),
    }
    if isinstance(d.threshold, bool) or not isinstance(d.threshold, int | float):
        errors.append(FieldError("threshold must be a number", ("threshold",)))
    values["threshold"] = d.threshold
    if d.threshold_type not in THRESHOLD_TYPES:
        errors.append(FieldError(f"thresholdType must be one of {', '.join(THRESHOLD_TYPES)}",
                                 ("thresholdType",)))
    values["threshold_type"] = d.threshold_type
    if d.interval not in INTERVALS:
        errors.append(FieldError(f"interval must be one of {', '.join(INTERVALS)}",
                                 ("interval",)))
    values["interval"] = d.interval
    if not isinstance(d.enabled, bool):
        errors.append(FieldError("enabled must be a boolean", ("enabled",)))
    values["enabled"] = d.enabled
    source = d.source or ("measure" if d.measure is not None else "tile")
    if source not in SOURCES:
        errors.append(FieldError(f"source must be one of {', '.join(SOURCES)}", ("source",)))
    values.update(source=source, dashboard_id=None, tile_id=None, measure=None)
    if source == "measure":
        found = CATALOG.resolve(d.measure) if isinstance(d.measure, str) else None
        if isinstance(d.measure, str) and len(d.measure) > MAX_MEASURE:
            errors.append(FieldError(f"measure must be at most {MAX_MEASURE} characters",
                                     ("measure",)))
        elif found is None:
            hint = suggest_measures(str(d.measure or ""))
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            errors.append(FieldError(f"unknown measure {d.measure!r}{extra}", ("measure",)))
        else:
            values["measure"] = found.key
    elif source == "tile":
        values.update(await _tile(session, pixel_id, d, errors))
    values.update(await _channel(session, pixel_id, d.channel, errors, guard))
    raise_if(errors)
    return values


async def _tile(session: AsyncSession, pixel_id: str, d: AlertDraft,
                errors: list[FieldError]) -> dict[str, Any]:
    if not isinstance(d.dashboard_id, str) or not isinstance(d.tile_id, str):
        errors.append(FieldError("dashboardId and tileId are required for a tile alert",
                                 ("dashboardId",)))
        return {}
    if len(d.tile_id) > MAX_ID:
        errors.append(FieldError(f"tileId must be at most {MAX_ID} characters", ("tileId",)))
        return {}
    view = None if len(d.dashboard_id) > MAX_ID else await find_view(session, d.dashboard_id)
    if view is None or view.pixel_id != pixel_id:
        errors.append(FieldError("Dashboard view not found", ("dashboardId",)))
        return {}
    widget = next((w for w in view.configuration.get("widgets", []) if w["id"] == d.tile_id),
                  None)
    if widget is None:
        errors.append(FieldError("Tile not found in this dashboard view", ("tileId",)))
        return {}
    return {"dashboard_id": view.id, "tile_id": widget["id"], "measure": widget["measure"]}


async def _channel(session: AsyncSession, pixel_id: str, raw: Any,
                   errors: list[FieldError], guard: EgressGuard) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or raw.get("type") != "webhook":
        errors.append(FieldError('channel must be {"type": "webhook", "webhookId"} or '
                                 '{"type": "webhook", "url"}', ("channel",)))
        return {}
    if raw.get("webhookId") is not None:
        wanted = str(raw["webhookId"])
        hook = None if len(wanted) > MAX_ID else await store.find_webhook(session, wanted)
        if hook is None or hook.pixel_id != pixel_id:
            errors.append(FieldError("Webhook not found", ("channel", "webhookId")))
            return {}
        return {"webhook_id": hook.id, "url": None}
    url = await check_url(guard, raw.get("url"), ("channel", "url"), errors)
    return {"webhook_id": None, "url": url}


def _owned(row: AlertRow | None, pixel_id: str) -> AlertRow:
    return require_owned(row, pixel_id, NOT_FOUND)


async def create_alert(db: Database, principal: Principal | None, draft: AlertDraft, *,
                       now: datetime, guard: EgressGuard) -> AlertRow:
    """Validate and store an alert (state OK until its first evaluation). Raises InvalidInput
    with every problem at its path (`thresholdType`, `channel.webhookId`, …). An inline
    channel URL is checked by `guard` (as a webhook's is)."""
    found = require_scope(principal, "alerts:write")
    pixel_id = require_pixel(found)
    async with db.session() as session:
        values = await _validate(session, pixel_id, draft, guard)
        row = AlertRow(pixel_id=pixel_id, state="OK", created_at=now, updated_at=now,
                       created_by=found.user_id, **values)
        session.add(row)
        await session.commit()
    return row


async def list_alerts(db: Database, principal: Principal | None, *, limit: int = 1000,
                      offset: int = 0) -> tuple[list[AlertRow], int]:
    """A page of the pixel's alerts (oldest first) and the total count. InvalidInput for a
    page outside `gateway.limits` (limit 1..1000, offset 0..10^9)."""
    pixel_id = require_pixel(require_scope(principal, "alerts:read"))
    check_page(limit, offset)
    async with db.session() as session:
        rows = await store.list_alerts(session, pixel_id, limit=limit, offset=offset)
        return rows, await store.count_alerts(session, pixel_id)


async def get_alert(db: Database, principal: Principal | None, alert_id: str) -> AlertRow:
    pixel_id = require_pixel(require_scope(principal, "alerts:read"))
    async with db.session() as session:
        return _owned(await store.find_alert(session, alert_id), pixel_id)


async def replace_alert(db: Database, principal: Principal | None, alert_id: str,
                        draft: AlertDraft, *, now: datetime, guard: EgressGuard) -> AlertRow:
    """Full replace (ClickStack PUT). State and history are kept unless the condition
    changed (measure, threshold, type or interval), which starts over at OK."""
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    async with db.session() as session:
        row = _owned(await store.find_alert(session, alert_id), pixel_id)
        values = await _validate(session, pixel_id, draft, guard)
        condition = ("measure", "threshold", "threshold_type", "interval")
        if any(getattr(row, k) != values[k] for k in condition):
            row.state, row.last_value, row.execution_errors = "OK", None, []
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
        await session.commit()
    return row


async def delete_alert(db: Database, principal: Principal | None, alert_id: str) -> None:
    pixel_id = require_pixel(require_scope(principal, "alerts:write"))
    async with db.session() as session:
        _owned(await store.find_alert(session, alert_id), pixel_id)
        await store.delete_alert(session, alert_id)
        await session.commit()


async def history_of_alerts(db: Database, principal: Principal | None, alert_ids: Sequence[str],
                            limit: int) -> dict[str, list[AlertHistoryRow]]:
    """The newest `limit` entries of each alert (the request's batching loader); an alert
    of another pixel has none."""
    pixel_id = require_pixel(require_scope(principal, "alerts:read"))
    async with db.session() as session:
        return await store.history_of(session, alert_ids, limit, pixel_id=pixel_id)


async def alert_history(loader: DataLoader[str, list[AlertHistoryRow]],
                        principal: Principal | None, alert: AlertRow | str, pixel_id: str,
                        limit: int) -> list[AlertHistoryRow]:
    """Newest history entries of an alert already read by this principal (batched)."""
    if require_pixel(require_scope(principal, "alerts:read")) != pixel_id:
        raise NotFound(NOT_FOUND)
    if not 0 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput.field(f"limit must be between 0 and {MAX_PAGE_SIZE}", "limit")
    alert_id = alert if isinstance(alert, str) else alert.id
    return (await loader.load(alert_id))[:limit]
