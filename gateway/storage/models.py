"""The tables. Every change here needs a migration in `migrations/versions/`
(tests/storage/test_migrations.py fails when the migrated schema and these models differ).

Tenancy: an organization owns pixels; a pixel is one tracked site or app (Databuddy's
"website", Dashtray's "project"). Events and every pixel-scoped object carry `pixel_id`.
Event times are epoch milliseconds (BIGINT) so bucketing is integer arithmetic on any backend.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.storage.types import UTCDateTime

# Ids of tables that grow with traffic (events, audit entries): 64-bit on PostgreSQL, where
# INTEGER stops at 2^31. SQLite keeps INTEGER: only `INTEGER PRIMARY KEY` is its 64-bit rowid.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")

__all__ = ["ApiKeyRow", "AuditRow", "EventRow", "OrganizationRow", "PixelRow", "SessionRow",
           "UserRow", "metadata", "new_id"]

metadata = SQLModel.metadata


def new_id() -> str:
    return str(uuid.uuid4())


class OrganizationRow(SQLModel, table=True):
    __tablename__ = "organization"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PixelRow(SQLModel, table=True):
    __tablename__ = "pixel"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    currency: str = Field(default="USD", max_length=3)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ApiKeyRow(SQLModel, table=True):
    """An API key. The secret itself is never stored: `key_hash` is HMAC-SHA256 of it."""

    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=32)
    start: str = Field(max_length=16)
    # Canonical scope names as granted (implications are expanded at request time).
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # None: every pixel of the organization, now and future. A list: exactly those pixels.
    pixel_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    rate_tier: str = Field(default="standard", max_length=32)
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class EventRow(SQLModel, table=True):
    """One tracked event. Columns cover the documented vocabulary (README, "Events");
    anything else goes to `properties`."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("pixel_id", "event_id", name="uq_event_pixel_event_id"),
        Index("ix_event_pixel_ts", "pixel_id", "ts"),
        Index("ix_event_pixel_name_ts", "pixel_id", "name", "ts"),
        # Covering index for the analytics engine's common scans (issue #5): revenue,
        # sessions and visitors by utm_source read no table rows. See benchmarks/query.py.
        Index("ix_event_analytics", "pixel_id", "name", "ts", "utm_source", "session_id",
              "anonymous_id", "revenue"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True))
    pixel_id: str = Field(foreign_key="pixel.id", max_length=36)
    # Client-supplied idempotency id; NULLs never collide.
    event_id: str | None = Field(default=None, max_length=128)
    name: str = Field(max_length=128)
    ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    anonymous_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    session_id: str | None = Field(default=None, max_length=128)
    url: str | None = Field(default=None, max_length=2048)
    path: str | None = Field(default=None, max_length=2048)
    referrer: str | None = Field(default=None, max_length=2048)
    utm_source: str | None = Field(default=None, max_length=256)
    utm_medium: str | None = Field(default=None, max_length=256)
    utm_campaign: str | None = Field(default=None, max_length=256)
    utm_content: str | None = Field(default=None, max_length=256)
    utm_term: str | None = Field(default=None, max_length=256)
    country: str | None = Field(default=None, max_length=2)
    device: str | None = Field(default=None, max_length=32)
    revenue: float | None = None
    currency: str | None = Field(default=None, max_length=3)
    order_id: str | None = Field(default=None, max_length=128)
    new_customer: bool | None = None
    # ad_spend events: one per platform, campaign and day.
    platform: str | None = Field(default=None, max_length=32)
    campaign: str | None = Field(default=None, max_length=256)
    spend: float | None = None
    # Whole numbers up to 2^53 - 1 (gateway/services/event_rules.py): 64-bit columns.
    impressions: int | None = Field(default=None, sa_column=Column(BigInteger))
    clicks: int | None = Field(default=None, sa_column=Column(BigInteger))
    properties: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class UserRow(SQLModel, table=True):
    """A person who logs in (browser apps). Only an argon2 hash of the password is stored."""

    __tablename__ = "user_account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    organization_id: str = Field(foreign_key="organization.id", index=True, max_length=36)
    email: str = Field(unique=True, max_length=320)
    password_hash: str = Field(max_length=255)
    # owner | admin | member | viewer; the scopes of each role are in gateway/auth/scopes.py.
    role: str = Field(max_length=16)
    # None: every pixel of the organization, now and future. A list: exactly those pixels
    # (the login session's principal is confined to them, like a restricted key's).
    pixel_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class SessionRow(SQLModel, table=True):
    """One issued login token, by its JWT id (`jti`): logout sets `revoked_at`."""

    __tablename__ = "user_session"

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=36)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class AuditRow(SQLModel, table=True):
    """One audit-log entry. Written in batches by `gateway.audit.AuditLog`, never per request
    on the response path. Keys appear by label (prefix + start) only."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_at", "organization_id", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # None for failures that name no organization (an unknown key).
    organization_id: str | None = Field(default=None, max_length=36)
    action: str = Field(max_length=64)
    outcome: str = Field(max_length=16)
    principal_kind: str | None = Field(default=None, max_length=16)
    # key id or user id; `principal_label` is the key's prefix+start or the user's email.
    principal_id: str | None = Field(default=None, max_length=36)
    principal_label: str | None = Field(default=None, max_length=320)
    target: str | None = Field(default=None, max_length=320)
    detail: str | None = Field(default=None, max_length=1000)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    request_id: str | None = Field(default=None, max_length=64)


# Issue #6 tables live in their own module; importing it registers them on `metadata`.
from gateway.storage import dashboard_tables as _dashboard_tables  # noqa: E402, F401  # last: it imports this module
from gateway.storage import rollups as _rollups  # noqa: E402, F401  # last: it imports this module
