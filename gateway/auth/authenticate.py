"""Turn request headers into a `Principal`, once per request.

Credentials: `x-api-key: <key>` or `Authorization: Bearer <key or login token>`, or the
`gateway_session` cookie; `x-pixel-id` picks the pixel. Each authenticator returns None for a
credential that is not its kind and raises for its kind gone bad; a presented credential that
no authenticator claims is an `InvalidApiKey`, never a silent fall-back to anonymous.

Key look-ups are cached per process (`KeyCache`) because a database round trip per request
would dominate small requests. The cache can never extend a key's life:
- expiry is checked against the clock on every hit;
- every change to a key (rotate, revoke, update) announces itself on the cross-process
  `KeySignal` after committing (a file beside SQLite; LISTEN/NOTIFY on PostgreSQL; Redis
  pub/sub when configured: gateway/auth/revocation.py), and a cache seeing a new generation
  drops every entry before answering, so the next request in *any* process reads the
  committed row;
- without a signal (SQLite `:memory:`), or while a broadcast signal is disconnected,
  nothing is cached.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.auth.keys import START_LENGTH, has_valid_checksum, hash_key
from gateway.auth.principal import Principal
from gateway.auth.revocation import KeySignal
from gateway.auth.scopes import expand_scopes
from gateway.auth.usage import KeyUsage
from gateway.errors import AccessDenied, GatewayError, InvalidApiKey
from gateway.storage import Database
from gateway.storage.keys import find_key_by_hash
from gateway.storage.models import ApiKeyRow
from gateway.storage.tenancy import find_pixel, list_pixels

__all__ = ["SESSION_COOKIE", "ApiKeyAuthenticator", "Authenticator", "Credentials", "KeyCache",
           "KeyRecord", "PixelTargets", "audit_organization_of", "credential_label",
           "read_credentials", "tag_failure"]

SESSION_COOKIE = "gateway_session"


@dataclass(frozen=True)
class Credentials:
    """What the request presented, before any look-up."""

    token: str | None
    pixel_id: str | None
    cookie_token: str | None = None


def read_credentials(headers: Mapping[str, str], cookies: Mapping[str, str] | None = None,
                     cookie_name: str = SESSION_COOKIE) -> Credentials:
    token = headers.get("x-api-key")
    if not token:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    pixel = headers.get("x-pixel-id") or None
    cookie = cookies.get(cookie_name) if cookies else None
    return Credentials(token=token or None, pixel_id=pixel, cookie_token=cookie)


def credential_label(credentials: Credentials, key_prefix: str) -> str:
    """What the audit log may show of a presented credential: a key's prefix + start, or the
    kind of token. Never the secret."""
    token = credentials.token
    if token is None:
        return "session cookie" if credentials.cookie_token else ""
    if token.startswith(key_prefix):
        return token[:len(key_prefix) + START_LENGTH]
    return "bearer token"


def tag_failure(error: GatewayError, organization_id: str | None) -> GatewayError:
    """Tag an authentication failure with the organization it concerns (for the audit log)."""
    error.audit_organization_id = organization_id  # type: ignore[attr-defined]  # audit-only tag
    return error


def audit_organization_of(error: GatewayError) -> str | None:
    value: str | None = getattr(error, "audit_organization_id", None)
    return value


@dataclass(frozen=True)
class KeyRecord:
    """The part of a key row authentication needs, immutable so it can be cached."""

    id: str
    organization_id: str
    scopes: frozenset[str]
    pixel_ids: frozenset[str] | None
    expires_at: datetime | None
    revoked_at: datetime | None
    label: str

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> KeyRecord:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            scopes=expand_scopes(row.scopes),
            pixel_ids=None if row.pixel_ids is None else frozenset(row.pixel_ids),
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            label=f"{row.prefix}{row.start}",
        )


class KeyCache:
    """key hash -> KeyRecord, each entry kept at most `ttl` seconds and dropped as soon as the
    revocation signal moves. Without a signal the cache stores nothing.

    >>> generation = cache.generation()   # before reading the row
    >>> cache.put(key_hash, record, generation)
    """

    def __init__(self, ttl: float, *, signal: KeySignal | None = None,
                 max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.signal = signal
        self.max_entries = max_entries
        self._entries: dict[str, tuple[KeyRecord, float]] = {}
        self._generation = -1

    def generation(self) -> int:
        """The signal's generation now; entries of an older generation are gone."""
        if self.signal is None:
            return -1
        current = self.signal.current()
        if current != self._generation:
            self._entries.clear()
            self._generation = current
        return current

    def get(self, key_hash: str) -> KeyRecord | None:
        if self.signal is None:
            return None
        self.generation()
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        record, loaded = entry
        if time.monotonic() - loaded > self.ttl:
            del self._entries[key_hash]
            return None
        return record

    def put(self, key_hash: str, record: KeyRecord, generation: int) -> None:
        """Keep `record`, read after `generation()` returned `generation`; a record read before
        a concurrent revocation is not kept (the generation has moved on)."""
        if self.signal is None or self.generation() != generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (record, time.monotonic())

    def invalidate(self, key_id: str) -> None:
        """Forget every cached entry of key `key_id` (its hash may have changed by rotation)."""
        for key_hash in [h for h, (r, _) in self._entries.items() if r.id == key_id]:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self._entries.clear()


class Authenticator(Protocol):
    async def authenticate(self, credentials: Credentials) -> Principal | None: ...


def _valid_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class PixelTargets:
    """Which pixel a request targets, for any kind of credential (keys and users)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # pixel id -> organization id; pixels never change organization, so entries never go
        # stale. Only positive answers are kept: a pixel created by another process is found.
        self._pixel_orgs: dict[str, str] = {}

    async def target(self, organization_id: str, pixel_ids: frozenset[str] | None,
                     requested: str | None) -> str | None:
        """The requested pixel when the credential reaches it (else AccessDenied); without a
        request, the credential's only pixel, or None when it reaches several."""
        if requested is not None:
            known = requested in self._pixel_orgs  # a known pixel id is a valid UUID
            if not (pixel_ids is None or requested in pixel_ids) or not (
                    known or _valid_uuid(requested)):
                raise tag_failure(AccessDenied("This credential cannot access that pixel"),
                              organization_id)
            if await self._organization_of(requested) != organization_id:
                raise tag_failure(AccessDenied("This credential cannot access that pixel"),
                              organization_id)
            return requested
        if pixel_ids is not None:
            return next(iter(pixel_ids)) if len(pixel_ids) == 1 else None
        async with self._db.session() as session:
            pixels = await list_pixels(session, organization_id)
        return pixels[0].id if len(pixels) == 1 else None

    async def _organization_of(self, pixel_id: str) -> str | None:
        org = self._pixel_orgs.get(pixel_id)
        if org is None:
            async with self._db.session() as session:
                row = await find_pixel(session, pixel_id)
            if row is None:
                return None
            org = self._pixel_orgs[pixel_id] = row.organization_id
        return org


class ApiKeyAuthenticator:
    """Authenticates `upstack_...` keys (the configured prefix)."""

    def __init__(self, db: Database, *, server_secret: str, prefix: str,
                 cache: KeyCache, clock: Callable[[], datetime],
                 pixels: PixelTargets | None = None, usage: KeyUsage | None = None) -> None:
        self._db = db
        self._secret = server_secret
        self._prefix = prefix
        self.cache = cache
        self._clock = clock
        self._pixels = pixels or PixelTargets(db)
        self._usage = usage

    async def authenticate(self, credentials: Credentials) -> Principal | None:
        token = credentials.token
        if token is None or not token.startswith(self._prefix):
            return None
        key_hash = hash_key(self._secret, token)
        record = self.cache.get(key_hash)
        if record is None:
            # Only keys that passed this check are ever cached, so a hit needs no re-check.
            if not has_valid_checksum(token, self._prefix):
                raise InvalidApiKey("Invalid API key")
            generation = self.cache.generation()
            async with self._db.session() as session:
                row = await find_key_by_hash(session, key_hash)
            if row is None:
                raise InvalidApiKey("Invalid API key")
            record = KeyRecord.from_row(row)
            self.cache.put(key_hash, record, generation)
        now = self._clock()
        if record.revoked_at is not None:
            raise tag_failure(InvalidApiKey("API key has been revoked"), record.organization_id)
        if record.expires_at is not None and record.expires_at <= now:
            raise tag_failure(InvalidApiKey("API key has expired"), record.organization_id)
        pixel_id = await self._pixels.target(record.organization_id, record.pixel_ids,
                                             credentials.pixel_id)
        if self._usage is not None:
            self._usage.touch(record.id, now)
        return Principal(
            kind="api_key",
            organization_id=record.organization_id,
            scopes=record.scopes,
            pixel_ids=record.pixel_ids,
            pixel_id=pixel_id,
            key_id=record.id,
            label=record.label,
        )
