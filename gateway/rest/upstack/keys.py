"""Upstack API keys: `/accounts/api/api-keys` (list, create, get, update, rotate, revoke).

The secret appears only in the create and rotate responses, as `key`. Create and update
bodies carry only `name`, `scopes`, `pixelIds`, `expiresAt`, `rateTier`; any other field
(read-only ones such as `id` or `status` included) is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.errors import FieldError
from gateway.rest.base import read_json, resolver_info, unknown_fields
from gateway.rest.upstack.surface import surface
from gateway.rest.upstack.wire import object_body, parse_time, string_field, strings_field
from gateway.rest.wire import iso_offset
from gateway.types.keys import ApiKey, CreatedApiKey, RateTier
from resolvers.keys import (
    CreateApiKeyInput,
    UpdateApiKeyInput,
    create_api_key,
    resolve_api_key,
    resolve_api_keys,
    resolve_revoke_api_key,
    resolve_rotate_api_key,
    update_api_key,
)

__all__ = ["ApiKeyBody", "key_body", "routes"]

_FIELDS = ("name", "scopes", "pixelIds", "expiresAt", "rateTier")


class ApiKeyBody(TypedDict):
    id: str
    name: str
    prefix: str
    start: str
    scopes: list[str]
    pixelIds: Sequence[str] | None  # null: every pixel of the organization
    rateTier: str
    status: str
    createdAt: str
    createdBy: str | None
    updatedAt: str
    lastUsedAt: str | None
    expiresAt: str | None
    revokedAt: str | None


class OneKey(TypedDict):
    apiKey: ApiKeyBody


class KeyList(TypedDict):
    apiKeys: list[ApiKeyBody]


class CreatedKey(TypedDict):
    apiKey: ApiKeyBody
    key: str  # the secret: shown here once, never again


class KeyInput(TypedDict, total=False):
    name: str
    scopes: list[str]
    pixelIds: list[str] | None
    expiresAt: str | None  # ISO 8601
    rateTier: str


def key_body(k: ApiKey) -> ApiKeyBody:
    return {
        "id": k.id, "name": k.name, "prefix": k.prefix, "start": k.start, "scopes": k.scopes,
        "pixelIds": k.pixel_ids, "rateTier": k.rate_tier.value, "status": k.status.value,
        "createdAt": iso_offset(k.created_at), "createdBy": k.created_by,
        "updatedAt": iso_offset(k.updated_at), "lastUsedAt": iso_offset(k.last_used_at),
        "expiresAt": iso_offset(k.expires_at), "revokedAt": iso_offset(k.revoked_at),
    }


def _rate_tier(body: dict[str, Any], errors: list[FieldError]) -> RateTier | None:
    """The body's `rateTier`, None when absent; a value that is no tier is a field error,
    reported with the body's other shape errors after the scope check."""
    value = string_field(body, "rateTier")
    try:
        return RateTier(value)
    except ValueError:
        names = ", ".join(t.value for t in RateTier)
        errors.append(FieldError(f"rateTier must be one of {names}", ("rateTier",)))
        return None


def _created_body(c: CreatedApiKey) -> CreatedKey:
    return {"apiKey": key_body(c.key), "key": c.secret}


async def list_keys(ctx: Context, request: Request) -> KeyList:
    """The organization's API keys (never their secrets)"""
    return {"apiKeys": [key_body(k) for k in await resolve_api_keys(resolver_info(ctx))]}


async def get_key(ctx: Context, request: Request) -> OneKey:
    """One API key"""
    key = await resolve_api_key(resolver_info(ctx), strawberry.ID(request.path_params["key_id"]))
    return {"apiKey": key_body(key)}


async def create_key(ctx: Context, request: Request) -> CreatedKey:
    """Create an API key; the answer holds its secret, shown this once"""
    body = object_body(await read_json(request, ctx.settings.max_body_bytes))
    pixels = strings_field(body, "pixelIds")
    errors = unknown_fields(body, _FIELDS)
    tier = _rate_tier(body, errors) if "rateTier" in body else None
    data = CreateApiKeyInput(
        name=string_field(body, "name", ""), scopes=strings_field(body, "scopes") or [],
        pixel_ids=None if pixels is None else [strawberry.ID(p) for p in pixels],
        expires_at=parse_time(body.get("expiresAt"), "expiresAt"),
        rate_tier=tier or RateTier.STANDARD)
    return _created_body(await create_api_key(resolver_info(ctx), data, errors))


async def update_key(ctx: Context, request: Request) -> OneKey:
    """Change a key's name, scopes, pixels, expiry or rate tier"""
    body = object_body(await read_json(request, ctx.settings.max_body_bytes))
    errors = unknown_fields(body, _FIELDS)
    data = UpdateApiKeyInput()
    if "name" in body:
        data.name = string_field(body, "name")
    if "scopes" in body:
        data.scopes = strings_field(body, "scopes") or []
    if "pixelIds" in body:
        pixels = strings_field(body, "pixelIds")
        data.pixel_ids = None if pixels is None else [strawberry.ID(p) for p in pixels]
    if "expiresAt" in body:
        data.expires_at = parse_time(body["expiresAt"], "expiresAt")
    if "rateTier" in body:
        tier = _rate_tier(body, errors)
        if tier is not None:
            data.rate_tier = tier
    key = await update_api_key(resolver_info(ctx), strawberry.ID(request.path_params["key_id"]),
                               data, errors)
    return {"apiKey": key_body(key)}


async def rotate_key(ctx: Context, request: Request) -> CreatedKey:
    """A new secret for the key; the old one stops working at once"""
    rotated = await resolve_rotate_api_key(resolver_info(ctx),
                                           strawberry.ID(request.path_params["key_id"]))
    return _created_body(rotated)


async def revoke_key(ctx: Context, request: Request) -> OneKey:
    """Revoke the key for good"""
    key = await resolve_revoke_api_key(resolver_info(ctx),
                                       strawberry.ID(request.path_params["key_id"]))
    return {"apiKey": key_body(key)}


def routes() -> list[Route]:
    base = "/accounts/api/api-keys"
    return [
        surface.route("GET", base, list_keys, twin="Query.apiKeys", scope="keys:read",
                      response=KeyList),
        surface.route("POST", base, create_key, twin="Mutation.createApiKey", status=201,
                      scope="keys:admin", body=KeyInput, response=CreatedKey),
        surface.route("GET", base + "/{key_id}", get_key, twin="Query.apiKey",
                      scope="keys:read", response=OneKey),
        surface.route("PATCH", base + "/{key_id}", update_key, twin="Mutation.updateApiKey",
                      scope="keys:admin", body=KeyInput, response=OneKey),
        surface.route("POST", base + "/{key_id}/rotate", rotate_key,
                      twin="Mutation.rotateApiKey", scope="keys:admin", response=CreatedKey),
        surface.route("POST", base + "/{key_id}/revoke", revoke_key,
                      twin="Mutation.revokeApiKey", scope="keys:admin", response=OneKey),
    ]
