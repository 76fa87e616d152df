"""API key fields and mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.context import Info
from gateway.services import keys as service
from gateway.types.keys import ApiKey, CreatedApiKey

__all__ = ["KeysMutation", "KeysQuery"]


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[str] = strawberry.field(
        description="Canonical names or accepted aliases (db_query, read:data, …).")
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Restrict to these pixels; omit for every pixel.")
    expires_at: datetime | None = None
    rate_tier: str = "standard"


async def resolve_api_keys(info: Info) -> list[ApiKey]:
    ctx = info.context
    now = ctx.now()
    return [ApiKey.from_row(r, now) for r in await service.list_org_keys(ctx.db, ctx.principal)]


async def resolve_create_api_key(info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
    ctx = info.context
    created = await service.create_key(
        ctx.db, ctx.settings, ctx.principal, name=input.name, scopes=input.scopes,
        pixel_ids=None if input.pixel_ids is None else [str(p) for p in input.pixel_ids],
        expires_at=input.expires_at, rate_tier=input.rate_tier, now=ctx.now(),
    )
    return CreatedApiKey(key=ApiKey.from_row(created.row, ctx.now()), secret=created.secret)


@strawberry.type
class KeysQuery:
    api_keys: list[ApiKey] = strawberry.field(resolver=resolve_api_keys,
                                              description="Keys of your organization.")


@strawberry.type
class KeysMutation:
    create_api_key: CreatedApiKey = strawberry.field(
        resolver=resolve_create_api_key,
        description="Mint a key (scope keys:admin). The secret is in this response only.")
