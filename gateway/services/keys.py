"""API keys: mint and list (the lifecycle beyond that grows here).

Rules:
- The secret is returned once, by `create_key`, and never stored: only its HMAC.
- Nobody mints a key beyond their own scopes and pixels (no escalation through key admin).
- Pixel restrictions must name pixels of the caller's organization (else NotFound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.auth.keys import mint_key
from gateway.auth.policy import require_scope
from gateway.auth.principal import Principal
from gateway.auth.scopes import canonical_scopes, expand_scopes
from gateway.errors import InsufficientScope, InvalidInput, NotFound
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.keys import insert_key, list_keys
from gateway.storage.models import ApiKeyRow
from gateway.storage.tenancy import find_pixels

__all__ = ["CreatedKey", "create_key", "list_org_keys"]

RATE_TIERS = ("standard", "premium", "enterprise")


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKeyRow
    secret: str


async def _check_pixels(db: Database, actor: Principal, pixel_ids: Sequence[str]) -> list[str]:
    unique = sorted(set(pixel_ids))
    async with db.session() as session:
        rows = await find_pixels(session, unique)
    for index, pixel_id in enumerate(pixel_ids):
        row = rows.get(pixel_id)
        if row is None or row.organization_id != actor.organization_id:
            raise NotFound(f"Pixel {pixel_id} not found")
        if not actor.can_reach(pixel_id):
            raise InsufficientScope("pixel access", f"You cannot grant access to pixel {pixel_id}")
    return unique


async def create_key(db: Database, settings: Settings, actor: Principal | None, *, name: str,
                     scopes: Sequence[str], pixel_ids: Sequence[str] | None, now: datetime,
                     expires_at: datetime | None = None,
                     rate_tier: str = "standard") -> CreatedKey:
    """Mint a key in the actor's organization.

    `pixel_ids=None` grants every pixel of the organization (only to an actor that has that
    itself). Raises InsufficientScope when asking for more than the actor holds.
    """
    found = require_scope(actor, "keys:admin")
    if not name.strip():
        raise InvalidInput.field("name is required", "name")
    if not scopes:
        raise InvalidInput.field("at least one scope is required", "scopes")
    granted = canonical_scopes(scopes)
    beyond = expand_scopes(granted) - found.scopes
    if beyond:
        raise InsufficientScope(sorted(beyond)[0],
                                f"You cannot grant scopes you do not hold: {', '.join(sorted(beyond))}")
    if rate_tier not in RATE_TIERS:
        raise InvalidInput.field(f"rate tier must be one of {', '.join(RATE_TIERS)}", "rateTier")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput.field("expiry must be in the future", "expiresAt")
    if pixel_ids is None:
        if found.pixel_ids is not None:
            raise InsufficientScope("pixel access", "You cannot grant access to every pixel")
        stored_pixels = None
    else:
        if not pixel_ids:
            raise InvalidInput.field("pixel list is empty: omit it for every pixel", "pixelIds")
        stored_pixels = await _check_pixels(db, found, pixel_ids)
    minted = mint_key(settings.key_prefix, settings.secret)
    row = ApiKeyRow(
        organization_id=found.organization_id,
        name=name.strip(),
        key_hash=minted.key_hash,
        prefix=minted.prefix,
        start=minted.start,
        scopes=granted,
        pixel_ids=stored_pixels,
        rate_tier=rate_tier,
        created_by=found.user_id,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )
    async with db.session() as session:
        await insert_key(session, row)
        await session.commit()
    return CreatedKey(row=row, secret=minted.secret)


async def list_org_keys(db: Database, actor: Principal | None) -> list[ApiKeyRow]:
    found = require_scope(actor, "keys:read")
    async with db.session() as session:
        return await list_keys(session, found.organization_id)
