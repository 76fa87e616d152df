"""ClickStack alerts: `/api/v2/alerts` (alerts:read / alerts:write).

    GET    /api/v2/alerts        {data: [alert], meta: {total, limit, offset}} + X-Total-Count
    POST   /api/v2/alerts        {data: alert}
    GET    /api/v2/alerts/{id}   {data: alert}
    PUT    /api/v2/alerts/{id}   {data: alert}   full replace
    DELETE /api/v2/alerts/{id}   {}

Body fields are ClickStack's (`source` tile + `dashboardId` + `tileId`, `threshold`,
`thresholdType`, `interval`, `channel {type: "webhook", webhookId}` or `channels[0]`, `name`,
`message`) plus ours: `source: "measure"` with `measure`, an inline `channel.url`, `enabled`.

Fields (issue #10): any field the spec does not define is a 400 naming it. The response's
read-only fields (`id`, `state`, `teamId`, …) are accepted and ignored, so a GET body can be
PUT back unchanged, as the spec intends for `channel`/`channels`. Spec fields this gateway
does not implement (saved searches, `thresholdMax`, schedules, `note`,
`numConsecutiveWindows`) are accepted only with the value that means what we do (null, or
`scheduleOffsetMinutes: 0`, `numConsecutiveWindows: 1`); any other value is a 400 saying it is
not supported, rather than an alert that silently behaves otherwise. One channel per alert:
`channels` with more than one entry is refused, not cut to its first.
"""

from __future__ import annotations

from typing import Any, NotRequired

from starlette.requests import Request
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.drafts import AlertDraft, JSONValue
from gateway.errors import FieldError, InvalidInput
from gateway.rest.base import read_json, resolver_info, unknown_fields
from gateway.rest.clickstack.paging import Page, PageQuery, page_params, paged
from gateway.rest.clickstack.surface import surface
from gateway.rest.wire import iso_z
from gateway.types.alerts import Alert
from resolvers import alerts as resolvers

__all__ = ["AlertBody", "alert_body", "routes"]

BASE = "/api/v2/alerts"
_READ, _WRITE = "alerts:read", "alerts:write"

_FIELDS = ("threshold", "thresholdType", "interval", "channel", "channels", "source",
           "dashboardId", "tileId", "measure", "name", "message", "enabled")
_READ_ONLY = ("id", "state", "teamId", "createdAt", "updatedAt", "executionErrors", "silenced",
              "lastValue")
# ClickStack fields we do not implement -> the one non-null value that means what we do.
_UNSUPPORTED: dict[str, int | None] = {
    "savedSearchId": None, "groupBy": None, "thresholdMax": None, "scheduleStartAt": None,
    "note": None, "scheduleOffsetMinutes": 0, "numConsecutiveWindows": 1,
}
_CHANNEL_FIELDS = ("type", "webhookId", "url")


class ChannelBody(TypedDict):
    type: str  # webhook
    webhookId: NotRequired[str]
    url: NotRequired[str | None]


class ExecutionErrorBody(TypedDict):
    timestamp: str
    type: str
    message: str


class AlertBody(TypedDict):
    id: str
    name: str | None
    message: str | None
    source: str  # tile or measure
    dashboardId: str | None
    tileId: str | None
    measure: str
    threshold: float
    thresholdType: str  # above or below
    interval: str
    channel: ChannelBody
    channels: list[ChannelBody]
    enabled: bool
    state: str
    lastValue: float | None
    silenced: None
    executionErrors: list[ExecutionErrorBody]
    teamId: str
    createdAt: str
    updatedAt: str


class OneAlert(TypedDict):
    data: AlertBody


class Empty(TypedDict):
    pass


class ChannelInput(TypedDict, total=False):
    type: str
    webhookId: str
    url: str


class AlertInput(TypedDict, total=False):
    # ClickStack's fields (a dashboard tile as `source`), or ours: `source: "measure"`.
    threshold: float
    thresholdType: str
    interval: str
    channel: ChannelInput
    channels: list[ChannelInput]
    source: str
    dashboardId: str
    tileId: str
    measure: str
    name: str | None
    message: str | None
    enabled: bool


def alert_body(a: Alert) -> AlertBody:
    channel: ChannelBody = {"type": "webhook"}
    if a.channel.webhook_id is not None:
        channel["webhookId"] = a.channel.webhook_id
    else:
        channel["url"] = a.channel.url
    return {
        "id": a.id,
        "name": a.name,
        "message": a.message,
        "source": a.source,
        "dashboardId": a.dashboard_id,
        "tileId": a.tile_id,
        "measure": a.measure,
        "threshold": a.threshold,
        "thresholdType": a.threshold_type,
        "interval": a.interval,
        "channel": channel,
        "channels": [channel],
        "enabled": a.enabled,
        "state": a.state.value,
        "lastValue": a.last_value,
        "silenced": None,
        "executionErrors": [{"timestamp": e.timestamp, "type": e.type, "message": e.message}
                            for e in a.execution_errors],
        "teamId": a.pixel_id,
        "createdAt": iso_z(a.created_at),
        "updatedAt": iso_z(a.updated_at),
    }


def _unsupported(body: dict[str, Any]) -> list[FieldError]:
    errors = []
    for name, neutral in _UNSUPPORTED.items():
        value = body.get(name)
        if value is None or (type(value) is int and value == neutral):
            continue
        errors.append(FieldError(f"{name} is not supported by this gateway"
                                 + ("" if neutral is None else f" (only {neutral})"), (name,)))
    return errors


def _channel(body: dict[str, Any], errors: list[FieldError]) -> JSONValue:
    """The one channel: `channel`, or the single entry of `channels` (equal when both)."""
    channel = body.get("channel")
    channels = body.get("channels")
    where: tuple[str | int, ...] = ("channel",)
    if channels is not None:
        if not isinstance(channels, list) or not channels:
            errors.append(FieldError("channels must be a list of one channel", ("channels",)))
        elif len(channels) > 1:
            errors.append(FieldError("this gateway notifies one channel per alert; send one",
                                     ("channels",)))
        elif channel is not None and channel != channels[0]:
            errors.append(FieldError("channel must equal channels[0] when both are sent",
                                     ("channel",)))
        elif channel is None:
            channel, where = channels[0], ("channels", 0)
    if isinstance(channel, dict):
        errors.extend(unknown_fields(channel, _CHANNEL_FIELDS, where=where))
    return channel


async def _draft(ctx: Context, request: Request) -> AlertDraft:
    body = await read_json(request, ctx.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput.field("body must be a JSON object", "body")
    errors = unknown_fields(body, (*_FIELDS, *_UNSUPPORTED), ignored=_READ_ONLY)
    errors.extend(_unsupported(body))
    channel = _channel(body, errors)
    return AlertDraft(
        threshold=body.get("threshold"), threshold_type=body.get("thresholdType"),
        interval=body.get("interval"), channel=channel, source=body.get("source"),
        dashboard_id=body.get("dashboardId"), tile_id=body.get("tileId"),
        measure=body.get("measure"), name=body.get("name"), message=body.get("message"),
        enabled=body.get("enabled", True), body_errors=tuple(errors))


async def list_alerts(ctx: Context, request: Request) -> Any:
    """The pixel's alerts, a page at a time"""
    limit, offset = page_params(request)
    found, total = await resolvers.alerts_page(resolver_info(ctx), limit, offset)
    return paged([alert_body(a) for a in found], total, limit, offset)


async def create_alert(ctx: Context, request: Request) -> OneAlert:
    """Create an alert on a dashboard tile or a measure"""
    created = await resolvers.create_alert(resolver_info(ctx), await _draft(ctx, request))
    return {"data": alert_body(created)}


async def get_alert(ctx: Context, request: Request) -> OneAlert:
    """One alert, with its state"""
    found = await resolvers.resolve_alert(resolver_info(ctx), request.path_params["id"])
    return {"data": alert_body(found)}


async def replace_alert(ctx: Context, request: Request) -> OneAlert:
    """Replace an alert (a full body; a GET body can be sent back)"""
    draft = await _draft(ctx, request)
    replaced = await resolvers.replace_alert(resolver_info(ctx), request.path_params["id"],
                                             draft)
    return {"data": alert_body(replaced)}


async def delete_alert(ctx: Context, request: Request) -> Empty:
    """Delete an alert"""
    await resolvers.resolve_delete_alert(resolver_info(ctx), request.path_params["id"])
    return {}


def routes() -> list[Route]:
    return [
        surface.route("GET", BASE, list_alerts, twin="Query.alerts", scope=_READ,
                      query=PageQuery, response=Page[AlertBody]),
        surface.route("POST", BASE, create_alert, twin="Mutation.createAlert", scope=_WRITE,
                      body=AlertInput, response=OneAlert),
        surface.route("GET", BASE + "/{id}", get_alert, twin="Query.alert", scope=_READ,
                      response=OneAlert),
        surface.route("PUT", BASE + "/{id}", replace_alert, twin="Mutation.updateAlert",
                      scope=_WRITE, body=AlertInput, response=OneAlert),
        surface.route("DELETE", BASE + "/{id}", delete_alert, twin="Mutation.deleteAlert",
                      scope=_WRITE, response=Empty),
    ]
