"""Administration commands: pixels, keys, users, schema, migrations. The CLI holds the database
directly, so it acts as the organization's operator (`system_principal`). Key and user
administration is audited like the API's (principal "cli", user agent "gateway-cli")."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.audit import AuditLog, AuditTrail
from gateway.auth.principal import Principal, system_principal
from gateway.errors import GatewayError
from gateway.services import keys as key_service
from gateway.services import tenancy
from gateway.services import users as user_service
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.keys import find_key
from gateway.storage.models import ApiKeyRow, PixelRow, UserRow
from gateway.storage.tenancy import list_pixels as query_pixels

__all__ = ["CommandError", "create_key", "create_pixel", "create_user", "list_keys",
           "list_pixels", "list_users", "migrate", "print_schema", "revoke_key", "rotate_key",
           "show_key", "update_key"]

T = TypeVar("T")


class CommandError(Exception):
    """A user-facing failure: printed as `error: ...`, exit status 2."""


def run_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database (migrating it), run `work`, close it; GatewayError -> CommandError."""

    async def go() -> T:
        db = Database.for_settings(settings)
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _status(row: ApiKeyRow, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at is not None and row.expires_at <= now else "active"


def _key_json(row: ApiKeyRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "start": row.start,
            "scopes": row.scopes, "pixel_ids": row.pixel_ids, "rate_tier": row.rate_tier,
            "organization_id": row.organization_id, "created_at": row.created_at.isoformat(),
            "created_by": row.created_by, "updated_at": _iso(row.updated_at),
            "last_used_at": _iso(row.last_used_at), "expires_at": _iso(row.expires_at),
            "revoked_at": _iso(row.revoked_at), "status": _status(row, datetime.now(UTC))}


def _user_json(row: UserRow) -> dict[str, Any]:
    return {"id": row.id, "email": row.email, "role": row.role, "pixel_ids": row.pixel_ids,
            "organization_id": row.organization_id, "created_at": row.created_at.isoformat(),
            "last_login_at": _iso(row.last_login_at)}


def _user_pixels(row: UserRow) -> str:
    return "every pixel" if row.pixel_ids is None else "pixels " + ", ".join(row.pixel_ids)


def _print_key(row: ApiKeyRow) -> None:
    pixels = "every pixel" if row.pixel_ids is None else ", ".join(row.pixel_ids)
    print(f"{row.id}  {row.prefix}{row.start}…  {row.name}  [{', '.join(row.scopes)}]  "
          f"{_status(row, datetime.now(UTC))}")
    print(f"  pixels: {pixels}; rate tier: {row.rate_tier}; created {row.created_at:%Y-%m-%d}"
          f"{'; expires ' + row.expires_at.isoformat() if row.expires_at else ''}"
          f"{'; last used ' + row.last_used_at.isoformat() if row.last_used_at else ''}")


async def _audited(db: Database, work: Callable[[AuditTrail], Awaitable[T]]) -> T:
    """Run `work` with an audit trail for this command, and write the trail before returning."""
    log = AuditLog(db)
    trail = AuditTrail(log, lambda: datetime.now(UTC), user_agent="gateway-cli",
                       request_id=uuid.uuid4().hex)
    try:
        return await work(trail)
    finally:
        await log.flush()


async def _key_operator(db: Database, key_id: str) -> Principal:
    """The operator of the organization that owns `key_id`."""
    async with db.session() as session:
        row = await find_key(session, key_id)
    if row is None:
        raise CommandError(f"no API key {key_id}")
    return system_principal(row.organization_id)


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> None:
        return None

    run_db(settings, work)
    print(f"database is up to date: {settings.database_url}")
    return 0


def print_schema(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the schema (strawberry and every GraphQL type) is half of the CLI's
    # start-up time, and only this command needs it.
    from gateway.schema import export_sdl

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
        return await _audited(db, lambda trail: key_service.create_key(
            db, settings, system_principal(org), name=args.name, scopes=args.scopes,
            pixel_ids=args.pixels, expires_at=expires, rate_tier=args.rate_tier,
            now=datetime.now(UTC), audit=trail))

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
            print(f"{r.id}  {r.prefix}{r.start}…  {r.name}  [{', '.join(r.scopes)}]  "
                  f"{_status(r, datetime.now(UTC))}")
    return 0


def show_key(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> ApiKeyRow:
        return await key_service.get_key(db, await _key_operator(db, args.key_id), args.key_id)

    row = run_db(settings, work)
    if args.json:
        print(json.dumps(_key_json(row)))
    else:
        _print_key(row)
    return 0


def rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> key_service.CreatedKey:
        actor = await _key_operator(db, args.key_id)
        return await _audited(db, lambda trail: key_service.rotate_key(
            db, settings, actor, args.key_id, now=datetime.now(UTC), audit=trail))

    rotated = run_db(settings, work)
    if args.json:
        print(json.dumps({**_key_json(rotated.row), "key": rotated.secret}))
    else:
        print(f"rotated key {rotated.row.id}; the old secret no longer works")
        print(f"new secret (shown once, store it now): {rotated.secret}")
    return 0


def revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> ApiKeyRow:
        actor = await _key_operator(db, args.key_id)
        return await _audited(db, lambda trail: key_service.revoke_key(
            db, settings, actor, args.key_id, now=datetime.now(UTC), audit=trail))

    row = run_db(settings, work)
    if args.json:
        print(json.dumps(_key_json(row)))
    else:
        print(f"revoked key {row.id} ({row.prefix}{row.start}…) at {_iso(row.revoked_at)}")
    return 0


def update_key(settings: Settings, args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.scopes:
        changes["scopes"] = args.scopes
    if args.all_pixels:
        changes["pixel_ids"] = None
    elif args.pixels:
        changes["pixel_ids"] = args.pixels
    if args.no_expiry:
        changes["expires_at"] = None
    elif args.expires:
        changes["expires_at"] = _parse_when(args.expires)
    if args.rate_tier is not None:
        changes["rate_tier"] = args.rate_tier
    if not changes:
        raise CommandError("nothing to change: give --name, --scope, --pixel, --all-pixels, "
                           "--expires, --no-expiry or --rate-tier")

    async def work(db: Database) -> ApiKeyRow:
        actor = await _key_operator(db, args.key_id)
        return await _audited(db, lambda trail: key_service.update_key_settings(
            db, settings, actor, args.key_id, now=datetime.now(UTC), audit=trail, **changes))

    row = run_db(settings, work)
    if args.json:
        print(json.dumps(_key_json(row)))
    else:
        _print_key(row)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """From stdin when it is not a terminal (first line), else prompted twice."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise CommandError("passwords differ")
    return first


def create_user(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def work(db: Database) -> UserRow:
        org = await _org_id(db, args.org)
        return await _audited(db, lambda trail: user_service.create_user(
            db, settings, system_principal(org), email=args.email, password=password,
            role=args.role, pixel_ids=args.pixels, now=datetime.now(UTC), audit=trail))

    row = run_db(settings, work)
    if args.json:
        print(json.dumps(_user_json(row)))
    else:
        print(f"created user {row.id}  {row.email}  ({row.role}; {_user_pixels(row)})")
    return 0


def list_users(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> list[UserRow]:
        org = await _org_id(db, args.org)
        return await user_service.list_org_users(db, system_principal(org))

    rows = run_db(settings, work)
    if args.json:
        print(json.dumps([_user_json(r) for r in rows]))
    else:
        for r in rows:
            print(f"{r.id}  {r.email}  ({r.role}; {_user_pixels(r)})")
    return 0
