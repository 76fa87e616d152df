"""API keys: the whole lifecycle (create, list, get, rotate, revoke, update).

Rules:
- The secret is returned once, by `create_key` and `rotate_key`, and never stored: only its
  HMAC. Afterwards a key shows its prefix and `start`.
- No privilege escalation through key management (the rule is `gateway/auth/grants.py`):
  nobody grants scopes or pixels they do not hold themselves, and nobody rotates or edits a
  key that holds more than they do (rotation would hand them its powers).
- A caller sees only keys within its pixel reach: a pixel-restricted caller sees the keys
  restricted to a subset of its pixels, and every other key is absent from its list and
  NotFound by id, for revocation too. Another organization's key is NotFound.
- Pixel restrictions must name pixels of the caller's organization (else NotFound).
- Revocation is final: a revoked key is never rotated, updated or re-activated (Conflict).
- Every change that can end or narrow a key is announced on the cross-process key signal
  after the commit (gateway/auth/revocation.py), so every process's key cache forgets the
  old state before its next request. `signal`: the calling process's running signal (the
  app passes its own, so the announcement waits for its echo); None announces once (CLI).
- Each administrative action is recorded on the `audit` trail (None: not recorded, for test
  arrangements only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from gateway.audit import AuditTrail
from gateway.auth.grants import grantable_pixels, grantable_scopes, reaches, require_holds
from gateway.auth.keys import mint_key
from gateway.auth.policy import require_scope
from gateway.auth.principal import Principal
from gateway.auth.revocation import KeySignal, announce_key_change
from gateway.errors import Conflict, FieldError, InvalidInput, NotFound
from gateway.limits import as_utc
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.keys import find_key, insert_key, list_keys, update_key
from gateway.storage.models import ApiKeyRow

__all__ = ["RATE_TIERS", "UNSET", "CreatedKey", "Unset", "create_key", "get_key",
           "list_org_keys", "revoke_key", "rotate_key", "update_key_settings"]

RATE_TIERS = ("standard", "premium", "enterprise")
MAX_NAME_CHARS = 200
MAX_SCOPES = 64  # the scope table has ~20; more is not a key, it is a payload


class Unset(Enum):
    """"Not given" in a partial update, distinct from None ("clear it")."""

    UNSET = "UNSET"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKeyRow
    secret: str


def _record(audit: AuditTrail | None, action: str, actor: Principal, row: ApiKeyRow,
            detail: str | None = None) -> None:
    if audit is not None:
        audit.record(action, principal=actor, target=f"{row.prefix}{row.start} ({row.id})",
                     detail=detail)


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput.field("name is required", "name")
    if len(name.strip()) > MAX_NAME_CHARS:
        raise InvalidInput.field(f"name is at most {MAX_NAME_CHARS} characters", "name")
    return name.strip()


def _check_scopes(actor: Principal, scopes: Sequence[str]) -> list[str]:
    if not scopes:
        raise InvalidInput.field("at least one scope is required", "scopes")
    if len(scopes) > MAX_SCOPES:
        raise InvalidInput.field(f"at most {MAX_SCOPES} scopes", "scopes")
    return grantable_scopes(actor, scopes)


async def create_key(db: Database, settings: Settings, actor: Principal | None, *, name: str,
                     scopes: Sequence[str], pixel_ids: Sequence[str] | None, now: datetime,
                     expires_at: datetime | None = None, rate_tier: str = "standard",
                     audit: AuditTrail | None = None,
                     body_errors: Sequence[FieldError] = ()) -> CreatedKey:
    """Mint a key in the actor's organization.

    `pixel_ids=None` grants every pixel of the organization (only to an actor that has that
    itself). Raises InsufficientScope when asking for more than the actor holds, InvalidInput
    for a bad field or for `body_errors` (the REST body's shape: unknown fields; reported
    after the scope check).
    """
    found = require_scope(actor, "keys:admin")
    if body_errors:
        raise InvalidInput("Bad Request", details=body_errors)
    clean_name = _clean_name(name)
    granted = _check_scopes(found, scopes)
    if rate_tier not in RATE_TIERS:
        raise InvalidInput.field(f"rate tier must be one of {', '.join(RATE_TIERS)}", "rateTier")
    if expires_at is not None:
        expires_at = as_utc(expires_at, "expiresAt")
        if expires_at <= now:
            raise InvalidInput.field("expiry must be in the future", "expiresAt")
    stored_pixels = await grantable_pixels(db, found, pixel_ids)
    minted = mint_key(settings.key_prefix, settings.secret)
    row = ApiKeyRow(
        organization_id=found.organization_id,
        name=clean_name,
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
    _record(audit, "key.create", found, row, detail=f"scopes: {', '.join(granted)}")
    return CreatedKey(row=row, secret=minted.secret)


async def list_org_keys(db: Database, actor: Principal | None) -> list[ApiKeyRow]:
    """Keys of the actor's organization within its pixel reach."""
    found = require_scope(actor, "keys:read")
    async with db.session() as session:
        rows = await list_keys(session, found.organization_id)
    return [r for r in rows if reaches(found, r.pixel_ids)]


async def get_key(db: Database, actor: Principal | None, key_id: str) -> ApiKeyRow:
    """One key of the actor's organization within its pixel reach; NotFound otherwise (also
    another tenant's, and a key reaching pixels the actor does not)."""
    found = require_scope(actor, "keys:read")
    async with db.session() as session:
        row = await find_key(session, key_id)
    if (row is None or row.organization_id != found.organization_id
            or not reaches(found, row.pixel_ids)):
        raise NotFound("API key not found")
    return row


async def _load_for_change(db: Database, actor: Principal | None,
                           key_id: str) -> tuple[Principal, ApiKeyRow]:
    found = require_scope(actor, "keys:admin")
    row = await get_key(db, found, key_id)
    if row.revoked_at is not None:
        raise Conflict("This API key is revoked; revocation is final")
    return found, row


async def rotate_key(db: Database, settings: Settings, actor: Principal | None, key_id: str, *,
                     now: datetime, audit: AuditTrail | None = None,
                     signal: KeySignal | None = None) -> CreatedKey:
    """A new secret for the same key (id, scopes, access, expiry kept). The old secret stops
    working on the next request in every process; there is no grace period."""
    found, row = await _load_for_change(db, actor, key_id)
    require_holds(found, row.scopes, row.pixel_ids)
    minted = mint_key(settings.key_prefix, settings.secret)
    row.key_hash, row.prefix, row.start = minted.key_hash, minted.prefix, minted.start
    row.updated_at = now
    async with db.session() as session:
        await update_key(session, row)
        await session.commit()
    await announce_key_change(settings, db, signal)
    _record(audit, "key.rotate", found, row)
    return CreatedKey(row=row, secret=minted.secret)


async def revoke_key(db: Database, settings: Settings, actor: Principal | None, key_id: str, *,
                     now: datetime, audit: AuditTrail | None = None,
                     signal: KeySignal | None = None) -> ApiKeyRow:
    """Revoke at once and for good, a key within the actor's pixel reach (NotFound otherwise,
    as for reading it); its scopes may exceed the actor's, since revoking only takes power
    away. Revoking a revoked key changes nothing."""
    found = require_scope(actor, "keys:admin")
    row = await get_key(db, found, key_id)
    if row.revoked_at is not None:
        return row
    row.revoked_at = now
    row.updated_at = now
    async with db.session() as session:
        await update_key(session, row)
        await session.commit()
    await announce_key_change(settings, db, signal)
    _record(audit, "key.revoke", found, row)
    return row


async def update_key_settings(
        db: Database, settings: Settings, actor: Principal | None, key_id: str, *,
        now: datetime, name: str | Unset = UNSET, scopes: Sequence[str] | Unset = UNSET,
        pixel_ids: Sequence[str] | Unset | None = UNSET,
        expires_at: datetime | Unset | None = UNSET, rate_tier: str | Unset = UNSET,
        audit: AuditTrail | None = None, body_errors: Sequence[FieldError] = (),
        signal: KeySignal | None = None) -> ApiKeyRow:
    """Change what is given; `pixel_ids=None` means every pixel, `expires_at=None` means no
    expiry. The result must stay within the actor's own scopes and pixels."""
    found, row = await _load_for_change(db, actor, key_id)
    require_holds(found, row.scopes, row.pixel_ids)
    if body_errors:
        raise InvalidInput("Bad Request", details=body_errors)
    changed: list[str] = []
    if not isinstance(name, Unset):
        row.name = _clean_name(name)
        changed.append("name")
    if not isinstance(scopes, Unset):
        row.scopes = _check_scopes(found, scopes)
        changed.append("scopes")
    if not isinstance(pixel_ids, Unset):
        row.pixel_ids = await grantable_pixels(db, found, pixel_ids)
        changed.append("pixelIds")
    if not isinstance(expires_at, Unset):
        if expires_at is not None:
            expires_at = as_utc(expires_at, "expiresAt")
            if expires_at <= now:
                raise InvalidInput.field("expiry must be in the future", "expiresAt")
        row.expires_at = expires_at
        changed.append("expiresAt")
    if not isinstance(rate_tier, Unset):
        if rate_tier not in RATE_TIERS:
            raise InvalidInput.field(f"rate tier must be one of {', '.join(RATE_TIERS)}",
                                     "rateTier")
        row.rate_tier = rate_tier
        changed.append("rateTier")
    row.updated_at = now
    async with db.session() as session:
        await update_key(session, row)
        await session.commit()
    await announce_key_change(settings, db, signal)
    _record(audit, "key.update", found, row, detail=f"changed: {', '.join(changed) or 'nothing'}")
    return row
