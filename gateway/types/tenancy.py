"""Pixels and the caller's own view of itself."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.auth.principal import Principal
from gateway.context import Info
from gateway.storage.models import PixelRow
from gateway.types.keys import RateTier

__all__ = ["Pixel", "Viewer"]


@strawberry.type(description="One tracked site or app (Databuddy: website, Dashtray: project).")
class Pixel:
    id: strawberry.ID
    name: str
    timezone: str
    currency: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: PixelRow) -> Pixel:
        return cls(id=strawberry.ID(row.id), name=row.name, timezone=row.timezone,
                   currency=row.currency, created_at=row.created_at)


@strawberry.type(description="The credential this request was made with.")
class Viewer:
    kind: str
    organization_id: strawberry.ID
    scopes: list[str] = strawberry.field(description="Canonical scopes, implications included.")
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        description="Pixels the credential is restricted to; null means every pixel.")
    key_id: strawberry.ID | None
    label: str = strawberry.field(description="Key prefix and start, or the user's email.")
    rate_tier: RateTier = strawberry.field(
        description="The tier this credential's rate limits follow (a user's: its role's).")
    pixel_id: strawberry.Private[str | None]

    @strawberry.field(description="The pixel this request targets (x-pixel-id or the only one).")  # type: ignore[untyped-decorator]  # field(...) w/o resolver is typed Any
    async def pixel(self, info: Info) -> Pixel | None:
        if self.pixel_id is None:
            return None
        row = await info.context.loaders.pixel.load(self.pixel_id)
        return None if row is None else Pixel.from_row(row)

    @classmethod
    def from_principal(cls, p: Principal) -> Viewer:
        return cls(
            kind=p.kind,
            organization_id=strawberry.ID(p.organization_id),
            scopes=sorted(p.scopes),
            pixel_ids=None if p.pixel_ids is None
            else [strawberry.ID(i) for i in sorted(p.pixel_ids)],
            key_id=None if p.key_id is None else strawberry.ID(p.key_id),
            label=p.label,
            rate_tier=RateTier(p.rate_tier),
            pixel_id=p.pixel_id,
        )
