"""API key fields and mutations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from gateway.context import Info
from gateway.errors import FieldError
from gateway.services import keys as service
from gateway.types.keys import ApiKey, CreatedApiKey

__all__ = ["CreateApiKeyInput", "KeysMutation", "KeysQuery", "UpdateApiKeyInput",
           "create_api_key", "update_api_key"]


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[str] = strawberry.field(
        description="Canonical names or accepted aliases (db_query, read:data, …).")
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Restrict to these pixels; omit for every pixel.")
    expires_at: datetime | None = None
    rate_tier: str = "standard"


@strawberry.input(description="Fields to change; an omitted field is kept.")
class UpdateApiKeyInput:
    name: str | None = strawberry.UNSET
    scopes: list[str] | None = strawberry.UNSET
    pixel_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="null: every pixel of the organization.")
    expires_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="null: never expires.")
    rate_tier: str | None = strawberry.UNSET


def _given(value: object) -> object:
    return service.UNSET if value is strawberry.UNSET else value


async def resolve_api_keys(info: Info) -> list[ApiKey]:
    ctx = info.context
    now = ctx.now()
    return [ApiKey.from_row(r, now) for r in await service.list_org_keys(ctx.db, ctx.principal)]


async def resolve_api_key(info: Info, id: strawberry.ID) -> ApiKey:
    ctx = info.context
    return ApiKey.from_row(await service.get_key(ctx.db, ctx.principal, str(id)), ctx.now())


async def resolve_create_api_key(info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
    return await create_api_key(info, input)


async def create_api_key(info: Info, input: CreateApiKeyInput,
                         body_errors: Sequence[FieldError] = ()) -> CreatedApiKey:
    """`createApiKey`, plus what the REST adapter found wrong in the body's shape (reported
    by the service after its scope check)."""
    ctx = info.context
    created = await service.create_key(
        ctx.db, ctx.settings, ctx.principal, name=input.name, scopes=input.scopes,
        pixel_ids=None if input.pixel_ids is None else [str(p) for p in input.pixel_ids],
        expires_at=input.expires_at, rate_tier=input.rate_tier, now=ctx.now(), audit=ctx.audit,
        body_errors=body_errors,
    )
    return CreatedApiKey(key=ApiKey.from_row(created.row, ctx.now()), secret=created.secret)


async def resolve_rotate_api_key(info: Info, id: strawberry.ID) -> CreatedApiKey:
    ctx = info.context
    rotated = await service.rotate_key(ctx.db, ctx.settings, ctx.principal, str(id),
                                       now=ctx.now(), audit=ctx.audit,
                                       signal=ctx.key_signal)
    return CreatedApiKey(key=ApiKey.from_row(rotated.row, ctx.now()), secret=rotated.secret)


async def resolve_revoke_api_key(info: Info, id: strawberry.ID) -> ApiKey:
    ctx = info.context
    row = await service.revoke_key(ctx.db, ctx.settings, ctx.principal, str(id), now=ctx.now(),
                                   audit=ctx.audit, signal=ctx.key_signal)
    return ApiKey.from_row(row, ctx.now())


async def resolve_update_api_key(info: Info, id: strawberry.ID,
                                 input: UpdateApiKeyInput) -> ApiKey:
    return await update_api_key(info, id, input)


async def update_api_key(info: Info, id: strawberry.ID, input: UpdateApiKeyInput,
                         body_errors: Sequence[FieldError] = ()) -> ApiKey:
    """`updateApiKey`, plus the REST adapter's body-shape errors (as for create)."""
    ctx = info.context
    pixels = input.pixel_ids
    row = await service.update_key_settings(
        ctx.db, ctx.settings, ctx.principal, str(id), now=ctx.now(), audit=ctx.audit,
        body_errors=body_errors, signal=ctx.key_signal,
        name=_given(input.name),  # type: ignore[arg-type]  # UNSET or the given value
        scopes=_given(input.scopes),  # type: ignore[arg-type]  # UNSET or the given value
        pixel_ids=(service.UNSET if pixels is strawberry.UNSET else
                   None if pixels is None else [str(p) for p in pixels]),
        expires_at=_given(input.expires_at),  # type: ignore[arg-type]  # UNSET or the given value
        rate_tier=_given(input.rate_tier),  # type: ignore[arg-type]  # UNSET or the given value
    )
    return ApiKey.from_row(row, ctx.now())


@strawberry.type
class KeysQuery:
    api_keys: list[ApiKey] = strawberry.field(
        resolver=resolve_api_keys,
        description="Keys of your organization within your pixel reach (scope keys:read).")
    api_key: ApiKey = strawberry.field(
        resolver=resolve_api_key,
        description="One key of your organization within your pixel reach (scope keys:read).")


@strawberry.type
class KeysMutation:
    create_api_key: CreatedApiKey = strawberry.field(
        resolver=resolve_create_api_key,
        description="Mint a key (scope keys:admin). The secret is in this response only.")
    rotate_api_key: CreatedApiKey = strawberry.field(
        resolver=resolve_rotate_api_key,
        description="A new secret for the same key (scope keys:admin); the old one stops "
        "working at once. The new secret is in this response only.")
    revoke_api_key: ApiKey = strawberry.field(
        resolver=resolve_revoke_api_key,
        description="Revoke a key within your pixel reach at once and for good (scope "
        "keys:admin).")
    update_api_key: ApiKey = strawberry.field(
        resolver=resolve_update_api_key,
        description="Change name, scopes, pixel access, expiry or rate tier (scope "
        "keys:admin); never beyond your own scopes and pixels.")
