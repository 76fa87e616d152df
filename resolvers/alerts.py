"""Alert and webhook fields and mutations."""

from __future__ import annotations

from typing import Any

import strawberry

from gateway.context import Info
from gateway.services import alerts as service
from gateway.services import webhooks as webhook_service
from gateway.services.alerts import AlertDraft
from gateway.services.webhooks import WebhookDraft
from gateway.types.alerts import Alert, AlertHistoryEntry, Webhook

__all__ = [
    "AlertsMutation",
    "AlertsQuery",
    "resolve_alert",
    "resolve_alert_history",
    "resolve_alerts_page",
    "resolve_create_alert_draft",
    "resolve_create_webhook_draft",
    "resolve_delete_alert",
    "resolve_delete_webhook",
    "resolve_replace_alert_draft",
    "resolve_replace_webhook_draft",
    "resolve_webhooks_page",
]


@strawberry.input(description='{"type": "webhook"} with a webhookId, or an inline url.')
class AlertChannelInput:
    type: str = "webhook"
    webhook_id: strawberry.ID | None = None
    url: str | None = None


@strawberry.input(description="An alert on a dashboard widget (source tile, dashboardId + "
                  "tileId) or on a measure (source measure, measure key or title).")
class AlertInput:
    threshold: float
    threshold_type: str = strawberry.field(description="above or below.")
    interval: str = strawberry.field(description="1m, 5m, 15m, 30m, 1h, 6h, 12h or 1d.")
    channel: AlertChannelInput
    source: str | None = None
    dashboard_id: strawberry.ID | None = None
    tile_id: str | None = None
    measure: str | None = None
    name: str | None = None
    message: str | None = None
    enabled: bool = True


@strawberry.input
class WebhookInput:
    name: str
    url: str
    service: str = "generic"
    description: str | None = None
    secret: str | None = strawberry.field(default=None, description="Signs deliveries "
                                          "(HMAC-SHA256); write-only.")


def _draft(i: AlertInput) -> AlertDraft:
    channel: dict[str, Any] = {"type": i.channel.type}
    if i.channel.webhook_id is not None:
        channel["webhookId"] = str(i.channel.webhook_id)
    if i.channel.url is not None:
        channel["url"] = i.channel.url
    return AlertDraft(
        threshold=i.threshold, threshold_type=i.threshold_type, interval=i.interval,
        channel=channel, source=i.source,
        dashboard_id=None if i.dashboard_id is None else str(i.dashboard_id), tile_id=i.tile_id,
        measure=i.measure, name=i.name, message=i.message, enabled=i.enabled)


async def resolve_alerts_page(info: Info, limit: int = 1000,
                              offset: int = 0) -> tuple[list[Alert], int]:
    rows, total = await service.list_alerts(info.context.db, info.context.principal,
                                            limit=limit, offset=offset)
    return [Alert.from_row(r) for r in rows], total


async def resolve_alerts(info: Info, limit: int = 1000, offset: int = 0) -> list[Alert]:
    return (await resolve_alerts_page(info, limit, offset))[0]


async def resolve_alert(info: Info, id: strawberry.ID) -> Alert:
    return Alert.from_row(await service.get_alert(info.context.db, info.context.principal,
                                                  str(id)))


async def resolve_alert_history(info: Info, alert: Alert, limit: int) -> list[AlertHistoryEntry]:
    ctx = info.context
    rows = await service.alert_history(ctx.loaders.alert_history, ctx.principal, str(alert.id),
                                       alert.pixel_id, limit)
    return [AlertHistoryEntry.from_row(r) for r in rows]


async def resolve_create_alert_draft(info: Info, draft: AlertDraft) -> Alert:
    ctx = info.context
    return Alert.from_row(await service.create_alert(ctx.db, ctx.principal, draft,
                                                     now=ctx.now(), guard=ctx.state.egress))


async def resolve_replace_alert_draft(info: Info, alert_id: str, draft: AlertDraft) -> Alert:
    ctx = info.context
    return Alert.from_row(await service.replace_alert(ctx.db, ctx.principal, alert_id, draft,
                                                      now=ctx.now(), guard=ctx.state.egress))


async def resolve_create_alert(info: Info, input: AlertInput) -> Alert:
    return await resolve_create_alert_draft(info, _draft(input))


async def resolve_update_alert(info: Info, id: strawberry.ID, input: AlertInput) -> Alert:
    return await resolve_replace_alert_draft(info, str(id), _draft(input))


async def resolve_delete_alert(info: Info, id: strawberry.ID) -> strawberry.ID:
    await service.delete_alert(info.context.db, info.context.principal, str(id))
    return id


async def resolve_webhooks_page(info: Info, limit: int = 1000,
                                offset: int = 0) -> tuple[list[Webhook], int]:
    rows, total = await webhook_service.list_webhooks(info.context.db, info.context.principal,
                                                      limit=limit, offset=offset)
    return [Webhook.from_row(r) for r in rows], total


async def resolve_webhooks(info: Info) -> list[Webhook]:
    return (await resolve_webhooks_page(info))[0]


async def resolve_create_webhook_draft(info: Info, draft: WebhookDraft) -> Webhook:
    ctx = info.context
    return Webhook.from_row(await webhook_service.create_webhook(
        ctx.db, ctx.principal, draft, now=ctx.now(), guard=ctx.state.egress,
        box=ctx.state.webhook_secrets))


async def resolve_replace_webhook_draft(info: Info, webhook_id: str,
                                        draft: WebhookDraft) -> Webhook:
    ctx = info.context
    return Webhook.from_row(await webhook_service.replace_webhook(
        ctx.db, ctx.principal, webhook_id, draft, now=ctx.now(), guard=ctx.state.egress,
        box=ctx.state.webhook_secrets))


async def resolve_create_webhook(info: Info, input: WebhookInput) -> Webhook:
    return await resolve_create_webhook_draft(info, WebhookDraft(
        name=input.name, url=input.url, service=input.service, description=input.description,
        secret=input.secret))


async def resolve_delete_webhook(info: Info, id: strawberry.ID) -> strawberry.ID:
    await webhook_service.delete_webhook(info.context.db, info.context.principal, str(id))
    return id


@strawberry.type
class AlertsQuery:
    alerts: list[Alert] = strawberry.field(
        resolver=resolve_alerts, description="The pixel's alerts, oldest first (alerts:read).")
    alert: Alert = strawberry.field(resolver=resolve_alert,
                                    description="One alert with its state and history.")
    webhooks: list[Webhook] = strawberry.field(resolver=resolve_webhooks,
                                               description="The pixel's webhooks (alerts:read).")


@strawberry.type
class AlertsMutation:
    create_alert: Alert = strawberry.field(resolver=resolve_create_alert,
                                           description="Create an alert (alerts:write).")
    update_alert: Alert = strawberry.field(
        resolver=resolve_update_alert, description="Replace an alert (all fields, as "
        "ClickStack's PUT). Changing the condition resets its state to OK.")
    delete_alert: strawberry.ID = strawberry.field(resolver=resolve_delete_alert)
    create_webhook: Webhook = strawberry.field(
        resolver=resolve_create_webhook, description="Create a webhook (alerts:write). The "
        "secret is never returned.")
    delete_webhook: strawberry.ID = strawberry.field(
        resolver=resolve_delete_webhook, description="Delete a webhook; CONFLICT while an "
        "alert uses it.")
