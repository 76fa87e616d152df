"""API keys as clients see them: never the secret or its hash after creation."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from gateway.storage.models import ApiKeyRow

__all__ = ["ApiKey", "ApiKeyStatus", "CreatedApiKey", "RateTier"]


@strawberry.enum
class ApiKeyStatus(Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@strawberry.enum(description="How much of each surface's rate limit a key gets: the standard "
                 "tier's limit, multiplied by the tier's factor (README, \"Rate limits\").")
class RateTier(Enum):
    # The values are gateway/auth/tiers.py RATE_TIERS (tests/test_rate_tiers.py checks).
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


@strawberry.type(description="An API key. The secret is shown once, by createApiKey.")
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str
    start: str = strawberry.field(description="First characters after the prefix.")
    scopes: list[str]
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        description="Pixels the key may touch; null means every pixel of the organization.")
    rate_tier: RateTier
    created_at: datetime
    created_by: strawberry.ID | None
    updated_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    status: ApiKeyStatus

    @classmethod
    def from_row(cls, row: ApiKeyRow, now: datetime) -> ApiKey:
        if row.revoked_at is not None:
            status = ApiKeyStatus.REVOKED
        elif row.expires_at is not None and row.expires_at <= now:
            status = ApiKeyStatus.EXPIRED
        else:
            status = ApiKeyStatus.ACTIVE
        return cls(
            id=strawberry.ID(row.id), name=row.name, prefix=row.prefix, start=row.start,
            scopes=list(row.scopes),
            pixel_ids=None if row.pixel_ids is None else [strawberry.ID(p) for p in row.pixel_ids],
            rate_tier=RateTier(row.rate_tier), created_at=row.created_at,
            created_by=None if row.created_by is None else strawberry.ID(row.created_by),
            updated_at=row.updated_at, last_used_at=row.last_used_at,
            expires_at=row.expires_at, revoked_at=row.revoked_at, status=status,
        )


@strawberry.type(description="A key just created: `secret` is shown here and never again.")
class CreatedApiKey:
    key: ApiKey
    secret: str
