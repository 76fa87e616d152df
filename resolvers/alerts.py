"""Alert and webhook fields and mutations."""

from __future__ import annotations

from typing import Any

import strawberry

from gateway.context import Info
from gateway.drafts import AlertDraft, WebhookDraft
from gateway.services import alerts as service
from gateway.services import webhooks as webhook_service
from gateway.types.alerts import Alert, AlertHistoryEntry, Webhook

__all__ = [
    "AlertsMutation",
    "AlertsQuery",
    "alerts_page",
    "create_alert",
    "create_webhook",
    "replace_alert",
    "replace_webhook",
    "resolve_alert",
    "resolve_alert_history",
    "resolve_delete_alert",
    "resolve_delete_webhook",
    "webhooks_page",
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
    secret: str | None = strawberry.field(
        default=strawberry.UNSET, description="Signs deliveries (HMAC-SHA256); write-only. "
        "On updateWebhook, omit it to keep the stored secret; null removes it.")


def _draft(i: AlertInput) -> AlertDraft:
    """The alert as ClickStack's body spells it, so the service checks one shape."""
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


def _webhook_draft(i: WebhookInput, *, replacing: bool) -> WebhookDraft:
    unset = i.secret is strawberry.UNSET
    return WebhookDraft(name=i.name, url=i.url, service=i.service, description=i.description,
                        secret=None if unset else i.secret, keep_secret=replacing and unset)


async def alerts_page(info: Info, limit: int = 1000,
                      offset: int = 0) -> tuple[list[Alert], int]:
    """A page of alerts and the total (`alerts` and ClickStack's paginated list)."""
    rows, total = await service.list_alerts(info.context.db, info.context.principal,
                                            limit=limit, offset=offset)
    return [Alert.from_row(r) for r in rows], total


async def resolve_alerts(info: Info, limit: int = 1000, offset: int = 0) -> list[Alert]:
    return (await alerts_page(info, limit, offset))[0]


async def resolve_alert(info: Info, id: strawberry.ID) -> Alert:
    return Alert.from_row(await service.get_alert(info.context.db, info.context.principal,
                                                  str(id)))


async def resolve_alert_history(info: Info, alert: Alert, limit: int) -> list[AlertHistoryEntry]:
    ctx = info.context
    rows = await service.alert_history(ctx.loaders.alert_history, ctx.principal, str(alert.id),
                                       alert.pixel_id, limit)
    return [AlertHistoryEntry.from_row(r) for r in rows]


async def create_alert(info: Info, draft: AlertDraft) -> Alert:
    """`createAlert`, from the draft its input or a ClickStack body makes."""
    ctx = info.context
    return Alert.from_row(await service.create_alert(ctx.db, ctx.principal, draft,
                                                     now=ctx.now(), guard=ctx.state.egress))


async def replace_alert(info: Info, alert_id: str, draft: AlertDraft) -> Alert:
    """`updateAlert` (a full replace, as ClickStack's PUT)."""
    ctx = info.context
    return Alert.from_row(await service.replace_alert(ctx.db, ctx.principal, alert_id, draft,
                                                      now=ctx.now(), guard=ctx.state.egress))


async def resolve_create_alert(info: Info, input: AlertInput) -> Alert:
    return await create_alert(info, _draft(input))


async def resolve_update_alert(info: Info, id: strawberry.ID, input: AlertInput) -> Alert:
    return await replace_alert(info, str(id), _draft(input))


async def resolve_delete_alert(info: Info, id: strawberry.ID) -> strawberry.ID:
    await service.delete_alert(info.context.db, info.context.principal, str(id))
    return id


async def webhooks_page(info: Info, limit: int = 1000,
                        offset: int = 0) -> tuple[list[Webhook], int]:
    """A page of webhooks and the total (`webhooks` and ClickStack's paginated list)."""
    rows, total = await webhook_service.list_webhooks(info.context.db, info.context.principal,
                                                      limit=limit, offset=offset)
    return [Webhook.from_row(r) for r in rows], total


async def resolve_webhooks(info: Info) -> list[Webhook]:
    return (await webhooks_page(info))[0]


async def create_webhook(info: Info, draft: WebhookDraft) -> Webhook:
    """`createWebhook`, from the draft its input or a ClickStack body makes."""
    ctx = info.context
    return Webhook.from_row(await webhook_service.create_webhook(
        ctx.db, ctx.principal, draft, now=ctx.now(), guard=ctx.state.egress,
        box=ctx.state.webhook_secrets))


async def replace_webhook(info: Info, webhook_id: str, draft: WebhookDraft) -> Webhook:
    """`updateWebhook` (a full replace, as ClickStack's PUT)."""
    ctx = info.context
    return Webhook.from_row(await webhook_service.replace_webhook(
        ctx.db, ctx.principal, webhook_id, draft, now=ctx.now(), guard=ctx.state.egress,
        box=ctx.state.webhook_secrets))


async def resolve_create_webhook(info: Info, input: WebhookInput) -> Webhook:
    return await create_webhook(info, _webhook_draft(input, replacing=False))


async def resolve_update_webhook(info: Info, id: strawberry.ID, input: WebhookInput) -> Webhook:
    return await replace_webhook(info, str(id), _webhook_draft(input, replacing=True))


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
    update_webhook: Webhook = strawberry.field(
        resolver=resolve_update_webhook, description="Replace a webhook (all fields, as "
        "ClickStack's PUT; alerts:write). Without `secret` the stored one is kept.")
    delete_webhook: strawberry.ID = strawberry.field(
        resolver=resolve_delete_webhook, description="Delete a webhook; CONFLICT while an "
        "alert uses it.")
