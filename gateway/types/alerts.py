"""Alerts, their state and history, and webhooks as GraphQL types (never a webhook secret)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from gateway.context import Info
from gateway.storage.dashboard_tables import AlertHistoryRow, AlertRow, WebhookRow

__all__ = ["Alert", "AlertChannel", "AlertExecutionError", "AlertHistoryEntry", "AlertState",
           "Webhook"]


@strawberry.enum(description="OK and ALERT come from evaluations; DISABLED while not enabled.")
class AlertState(Enum):
    OK = "OK"
    ALERT = "ALERT"
    DISABLED = "DISABLED"


@strawberry.type(description="Where notifications go: a webhook resource or an inline URL.")
class AlertChannel:
    type: str
    webhook_id: strawberry.ID | None
    url: str | None


@strawberry.type
class AlertExecutionError:
    timestamp: str
    type: str = strawberry.field(description="QUERY_ERROR or WEBHOOK_ERROR.")
    message: str


@strawberry.type(description="One evaluated window.")
class AlertHistoryEntry:
    window_start: datetime
    window_end: datetime
    state: str = strawberry.field(description="OK, ALERT, or ERROR when the query failed.")
    value: float | None
    notified: bool = strawberry.field(description="The state changed, so a notification was due.")
    delivery_status: str | None = strawberry.field(description="delivered or failed (the "
                                                   "same for every cause of failure).")
    attempts: int = strawberry.field(description="Attempts until delivered; for a failed "
                                     "delivery, the retry budget it had.")
    error: str | None = strawberry.field(description="Why the query failed (state ERROR), or "
                                         "\"webhook delivery failed\".")
    created_at: datetime

    @classmethod
    def from_row(cls, row: AlertHistoryRow) -> AlertHistoryEntry:
        return cls(window_start=row.window_start, window_end=row.window_end, state=row.state,
                   value=row.value, notified=row.notified, delivery_status=row.delivery_status,
                   attempts=row.attempts, error=row.error, created_at=row.created_at)


@strawberry.type(description="A threshold on a measure, or on a dashboard widget's measure.")
class Alert:
    id: strawberry.ID
    name: str | None
    message: str | None
    source: str = strawberry.field(description="tile (a dashboard widget) or measure.")
    dashboard_id: strawberry.ID | None
    tile_id: str | None
    measure: str
    threshold: float
    threshold_type: str = strawberry.field(description="above (value >= threshold) or below.")
    interval: str
    channel: AlertChannel
    enabled: bool
    state: AlertState
    last_value: float | None
    last_window_end: datetime | None
    execution_errors: list[AlertExecutionError]
    created_at: datetime
    updated_at: datetime
    pixel_id: strawberry.Private[str]

    @strawberry.field(description="Evaluated windows, newest first.")  # type: ignore[untyped-decorator]  # field(...) w/o resolver is typed Any
    async def history(self, info: Info, limit: int = 20) -> list[AlertHistoryEntry]:
        from resolvers.alerts import resolve_alert_history

        return await resolve_alert_history(info, self, limit)

    @classmethod
    def from_row(cls, row: AlertRow) -> Alert:
        return cls(
            id=strawberry.ID(row.id), name=row.name, message=row.message, source=row.source,
            dashboard_id=None if row.dashboard_id is None else strawberry.ID(row.dashboard_id),
            tile_id=row.tile_id, measure=row.measure, threshold=row.threshold,
            threshold_type=row.threshold_type, interval=row.interval,
            channel=AlertChannel(
                type="webhook",
                webhook_id=None if row.webhook_id is None else strawberry.ID(row.webhook_id),
                url=row.url),
            enabled=row.enabled,
            state=AlertState(row.state) if row.enabled else AlertState.DISABLED,
            last_value=row.last_value, last_window_end=row.last_window_end,
            execution_errors=[AlertExecutionError(**e) for e in row.execution_errors],
            created_at=row.created_at, updated_at=row.updated_at, pixel_id=row.pixel_id,
        )


@strawberry.type(description="A notification target. Its signing secret is write-only.")
class Webhook:
    id: strawberry.ID
    name: str
    service: str
    url: str
    description: str | None
    has_secret: bool = strawberry.field(description="Deliveries carry an HMAC signature.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: WebhookRow) -> Webhook:
        return cls(id=strawberry.ID(row.id), name=row.name, service=row.service, url=row.url,
                   description=row.description,
                   has_secret=bool(row.sealed_secret or row.secret),
                   created_at=row.created_at, updated_at=row.updated_at)
