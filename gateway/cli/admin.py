"""Administration commands: pixels, keys, schema, migrations. The CLI holds the database
directly, so it acts as the organization's operator (`system_principal`)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.auth.principal import system_principal
from gateway.errors import GatewayError
from gateway.schema import export_sdl
from gateway.services import keys as key_service
from gateway.services import tenancy
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.models import ApiKeyRow, PixelRow
from gateway.storage.tenancy import list_pixels as query_pixels

__all__ = ["CommandError", "create_key", "create_pixel", "list_keys", "list_pixels", "migrate",
           "print_schema"]

T = TypeVar("T")


class CommandError(Exception):
    """A user-facing failure: printed as `error: ...`, exit status 2."""


def run_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database (migrating it), run `work`, close it; GatewayError -> CommandError."""

    async def go() -> T:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await work(db)
        except GatewayError as exc:
            detail = "; ".join(f"{d.key}: {d.message}" for d in exc.details)
            raise CommandError(detail or exc.message) from exc
        finally:
            await db.dispose()

    return asyncio.run(go())


async def _org_id(db: Database, wanted: str | None) -> str:
    if wanted:
        return wanted
    return (await tenancy.default_organization(db, datetime.now(UTC))).id


def _parse_when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--expires: not an ISO 8601 date: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _pixel_json(row: PixelRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "organization_id": row.organization_id,
            "timezone": row.timezone, "currency": row.currency,
            "created_at": row.created_at.isoformat()}


def _key_json(row: ApiKeyRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "start": row.start,
            "scopes": row.scopes, "pixel_ids": row.pixel_ids, "rate_tier": row.rate_tier,
            "organization_id": row.organization_id, "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> None:
        return None

    run_db(settings, work)
    print(f"database is up to date: {settings.database_url}")
    return 0


def print_schema(settings: Settings, args: argparse.Namespace) -> int:
    print(export_sdl(), end="")
    return 0


def create_pixel(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> PixelRow:
        org = await _org_id(db, args.org)
        return await tenancy.create_pixel(db, org, args.name, datetime.now(UTC),
                                          timezone=args.timezone, currency=args.currency)

    row = run_db(settings, work)
    if args.json:
        print(json.dumps(_pixel_json(row)))
    else:
        print(f"created pixel {row.id}  {row.name}  ({row.timezone}, {row.currency})")
    return 0


def list_pixels(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> list[PixelRow]:
        org = await _org_id(db, args.org)
        async with db.session() as session:
            return await query_pixels(session, org)

    rows = run_db(settings, work)
    if args.json:
        print(json.dumps([_pixel_json(r) for r in rows]))
    else:
        for r in rows:
            print(f"{r.id}  {r.name}  ({r.timezone}, {r.currency})")
    return 0


def create_key(settings: Settings, args: argparse.Namespace) -> int:
    expires = _parse_when(args.expires) if args.expires else None

    async def work(db: Database) -> key_service.CreatedKey:
        org = await _org_id(db, args.org)
        return await key_service.create_key(
            db, settings, system_principal(org), name=args.name, scopes=args.scopes,
            pixel_ids=args.pixels, expires_at=expires, rate_tier=args.rate_tier,
            now=datetime.now(UTC))

    created = run_db(settings, work)
    if args.json:
        print(json.dumps({**_key_json(created.row), "key": created.secret}))
    else:
        print(f"created key {created.row.id} ({created.row.name}); scopes: "
              f"{', '.join(created.row.scopes)}")
        print(f"secret (shown once, store it now): {created.secret}")
    return 0


def list_keys(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> list[ApiKeyRow]:
        org = await _org_id(db, args.org)
        return await key_service.list_org_keys(db, system_principal(org))

    rows = run_db(settings, work)
    if args.json:
        print(json.dumps([_key_json(r) for r in rows]))
    else:
        for r in rows:
            print(f"{r.id}  {r.prefix}{r.start}…  {r.name}  [{', '.join(r.scopes)}]")
    return 0
