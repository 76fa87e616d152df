"""Tables for dashboard views, webhooks, alerts, alert history and evaluation leases.

A view's `configuration` is stored as the Upstack document (widgets with layout and
dataConfig, dateRange, filters, grid, …), already validated and normalized by the service,
so REST returns it as stored and GraphQL reads typed fields out of it.

`alert_lease` is how several gateway processes share the evaluator: the first process to
INSERT (alert_id, window_start) owns that window; the unique constraint refuses the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.storage.types import UTCDateTime

__all__ = ["AlertHistoryRow", "AlertLeaseRow", "AlertRow", "DashboardViewRow", "WebhookRow"]


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


class DashboardViewRow(SQLModel, table=True):
    __tablename__ = "dashboard_view"
    __table_args__ = (Index("ix_dashboard_view_pixel_type", "pixel_id", "type"),)

    id: str = Field(default_factory=_new_id, primary_key=True, max_length=36)
    pixel_id: str = Field(foreign_key="pixel.id", max_length=36)
    type: str = Field(default="view", max_length=32)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    configuration: dict[str, Any] = Field(default_factory=dict,
                                          sa_column=Column(JSON, nullable=False))
    order: int | None = None
    # Optimistic concurrency: every write bumps it; a write naming an older one is refused.
    version: int = 1
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # User ids; None for writes made with an API key (Upstack leaves them empty too).
    created_by: str | None = Field(default=None, max_length=36)
    updated_by: str | None = Field(default=None, max_length=36)


class WebhookRow(SQLModel, table=True):
    """A notification target. Its signing secret (HMAC-SHA256) must be readable to sign, so
    it is kept sealed (AES-GCM under a key derived from GATEWAY_SECRET, see
    `gateway/secret_box.py`) in `sealed_secret`, and never returned or logged. `secret` is
    the clear-text column of databases written before issue #10: the gateway seals what it
    holds on start and empties it; nothing writes it any more."""

    __tablename__ = "webhook"

    id: str = Field(default_factory=_new_id, primary_key=True, max_length=36)
    pixel_id: str = Field(foreign_key="pixel.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    service: str = Field(default="generic", max_length=32)
    url: str = Field(max_length=2048)
    # ClickStack's WebhookInput.description maxLength (gateway/services/webhooks.py); the
    # column was 2000 until migration 0010, which SQLite never enforced and PostgreSQL did.
    description: str | None = Field(default=None, max_length=2048)
    secret: str | None = Field(default=None, max_length=256)
    # "v1:" + base64(nonce + ciphertext + tag); longer than the clear text it replaces.
    sealed_secret: str | None = Field(default=None, max_length=2048)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AlertRow(SQLModel, table=True):
    """A threshold on a measure (directly, or the measure of a dashboard widget)."""

    __tablename__ = "alert"

    id: str = Field(default_factory=_new_id, primary_key=True, max_length=36)
    pixel_id: str = Field(foreign_key="pixel.id", index=True, max_length=36)
    name: str | None = Field(default=None, max_length=512)
    message: str | None = Field(default=None, max_length=4096)
    source: str = Field(max_length=16)  # "tile" | "measure"
    dashboard_id: str | None = Field(default=None, foreign_key="dashboard_view.id",
                                     index=True, max_length=36)
    tile_id: str | None = Field(default=None, max_length=64)
    measure: str = Field(max_length=128)
    threshold: float
    threshold_type: str = Field(max_length=16)  # "above" | "below"
    interval: str = Field(max_length=8)
    webhook_id: str | None = Field(default=None, foreign_key="webhook.id", index=True,
                                   max_length=36)
    url: str | None = Field(default=None, max_length=2048)  # inline channel
    enabled: bool = True
    state: str = Field(default="OK", max_length=24)
    last_value: float | None = None
    last_window_end: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # The errors of the latest evaluation: [{timestamp, type, message}].
    execution_errors: list[dict[str, Any]] = Field(default_factory=list,
                                                   sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=36)


class AlertHistoryRow(SQLModel, table=True):
    """One evaluated window of one alert."""

    __tablename__ = "alert_history"
    __table_args__ = (Index("ix_alert_history_alert_window", "alert_id", "window_start"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(foreign_key="alert.id", max_length=36)
    window_start: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    window_end: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state: str = Field(max_length=24)  # OK | ALERT | ERROR
    value: float | None = None
    # A notification was due (state changed) and how it went.
    notified: bool = False
    delivery_status: str | None = Field(default=None, max_length=16)  # delivered | failed
    attempts: int = 0
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AlertLeaseRow(SQLModel, table=True):
    """Claim of one alert's window by one evaluator process (INSERT = claim)."""

    __tablename__ = "alert_lease"
    __table_args__ = (UniqueConstraint("alert_id", "window_start", name="uq_alert_lease_window"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(foreign_key="alert.id", max_length=36)
    window_start: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    owner: str = Field(max_length=64)
    claimed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
