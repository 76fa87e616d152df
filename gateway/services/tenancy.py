"""Organizations and pixels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.auth.policy import require_authenticated
from gateway.auth.principal import Principal
from gateway.errors import InvalidInput, NotFound
from gateway.limits import find_zone
from gateway.storage import Database
from gateway.storage.models import OrganizationRow, PixelRow
from gateway.storage.tenancy import (
    find_pixel,
    find_pixels,
    insert_organization,
    insert_pixel,
    list_organizations,
    list_pixels,
)

__all__ = [
    "create_organization",
    "create_pixel",
    "default_organization",
    "find_reachable_pixels",
    "get_pixel",
    "list_visible_pixels",
]


async def create_organization(db: Database, name: str, now: datetime) -> OrganizationRow:
    """Local administration (CLI, demo); there is no API for creating organizations."""
    if not name.strip():
        raise InvalidInput.field("name is required", "name")
    async with db.session() as session:
        row = await insert_organization(session, name.strip(), now)
        await session.commit()
    return row


async def default_organization(db: Database, now: datetime) -> OrganizationRow:
    """The first organization, created as "Default" on an empty database (CLI convenience)."""
    async with db.session() as session:
        orgs = await list_organizations(session)
    if orgs:
        return orgs[0]
    return await create_organization(db, "Default", now)


async def create_pixel(db: Database, organization_id: str, name: str, now: datetime, *,
                       timezone: str = "UTC", currency: str = "USD") -> PixelRow:
    errors = []
    if not name.strip():
        errors.append(InvalidInput.field("name is required", "name"))
    if find_zone(timezone) is None:
        errors.append(InvalidInput.field(f"unknown IANA time zone {timezone[:64]!r}",
                                         "timezone"))
    if len(currency) != 3 or not currency.isalpha():
        errors.append(InvalidInput.field("currency must be a 3-letter ISO code", "currency"))
    if errors:
        raise InvalidInput(details=[d for e in errors for d in e.details])
    async with db.session() as session:
        row = await insert_pixel(session, organization_id, name.strip(), now,
                                 timezone=timezone, currency=currency.upper())
        await session.commit()
    return row


async def list_visible_pixels(db: Database, principal: Principal | None) -> list[PixelRow]:
    """Pixels the credential can reach, oldest first."""
    found = require_authenticated(principal)
    async with db.session() as session:
        rows = await list_pixels(session, found.organization_id)
    return [r for r in rows if found.can_reach(r.id)]


async def find_reachable_pixels(db: Database, principal: Principal | None,
                                pixel_ids: Sequence[str]) -> dict[str, PixelRow]:
    """Pixels by id (the request's batching loader): only those the credential can reach;
    the others are absent, as if missing."""
    found = require_authenticated(principal)
    async with db.session() as session:
        rows = await find_pixels(session, list(pixel_ids))
    return {i: r for i, r in rows.items()
            if r.organization_id == found.organization_id and found.can_reach(r.id)}


async def get_pixel(db: Database, principal: Principal | None, pixel_id: str) -> PixelRow:
    found = require_authenticated(principal)
    async with db.session() as session:
        row = await find_pixel(session, pixel_id)
    if row is None or row.organization_id != found.organization_id or not found.can_reach(row.id):
        raise NotFound("Pixel not found")
    return row
