"""Users of browser apps: create, list, log in, log out.

Rules:
- A user belongs to one organization with a role (owner, admin, member, viewer); the role's
  scopes are in `gateway.auth.scopes.ROLES`. A user may be restricted to some pixels of the
  organization (`pixel_ids`; None = every pixel), and its login sessions are confined to them
  exactly like a key.
- No escalation (the rule is `gateway/auth/grants.py`): a role is granted only by an actor
  holding every scope of it, only an owner (or the local operator) makes owners, and a
  pixel-restricted actor makes only users restricted to a subset of its own pixels.
- A pixel-restricted actor lists only the users within its pixel reach.
- Passwords are hashed with argon2 off the event loop; a wrong email and a wrong password
  answer the same error after the same work.
- Logins are throttled before any argon2 work (gateway/auth/throttle.py): per account, per
  client address and per process. A throttled attempt answers RATE_LIMITED whatever the
  password (no oracle), and is audited as `user.login` / `denied`.
- Login issues a short-lived JWT whose `jti` is a session row; logout revokes that row, which
  ends the token in every process on its next request.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from gateway.audit import AuditTrail
from gateway.auth.grants import grantable_pixels, grantable_role, reaches
from gateway.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    verify_password,
)
from gateway.auth.policy import require_authenticated, require_scope
from gateway.auth.principal import Principal
from gateway.auth.sessions import TokenClaims, encode_token
from gateway.auth.throttle import LoginThrottle
from gateway.errors import Conflict, InvalidCredentials, InvalidInput, RateLimited
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.models import SessionRow, UserRow
from gateway.storage.users import (
    find_user_by_email,
    insert_session,
    insert_user,
    list_users,
    revoke_session,
)

__all__ = ["LoginResult", "create_user", "list_org_users", "log_in", "log_out"]


@dataclass(frozen=True)
class LoginResult:
    token: str
    csrf_token: str
    expires_at: datetime
    user: UserRow


def _normalize_email(email: str) -> str:
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > 320:
        raise InvalidInput.field("not a valid email address", "email")
    return value


async def create_user(db: Database, settings: Settings, actor: Principal | None, *, email: str,
                      password: str, role: str, now: datetime,
                      pixel_ids: Sequence[str] | None = None,
                      audit: AuditTrail | None = None) -> UserRow:
    """A user in the actor's organization, reaching `pixel_ids` (None: every pixel). Raises
    InsufficientScope when the role or the pixels would give more than the actor holds,
    NotFound for a pixel of another organization, Conflict when the email is taken."""
    found = require_scope(actor, "users:admin")
    grantable_role(found, role)
    stored_pixels = await grantable_pixels(db, found, pixel_ids)
    address = _normalize_email(email)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput.field(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            "password")
    row = UserRow(organization_id=found.organization_id, email=address,
                  password_hash=await hash_password(password, settings), role=role,
                  pixel_ids=stored_pixels, created_at=now)
    try:
        async with db.session() as session:
            await insert_user(session, row)
            await session.commit()
    except IntegrityError as exc:
        raise Conflict(f"A user with email {address} already exists") from exc
    if audit is not None:
        pixels = "every pixel" if stored_pixels is None else ", ".join(stored_pixels)
        audit.record("user.create", principal=found, target=address,
                     detail=f"role: {role}; pixels: {pixels}")
    return row


async def list_org_users(db: Database, actor: Principal | None) -> list[UserRow]:
    """Users of the actor's organization within its pixel reach."""
    found = require_scope(actor, "users:admin")
    async with db.session() as session:
        rows = await list_users(session, found.organization_id)
    return [r for r in rows if reaches(found, r.pixel_ids)]


async def log_in(db: Database, settings: Settings, *, email: str, password: str, now: datetime,
                 throttle: LoginThrottle, client_host: str | None,
                 audit: AuditTrail | None = None) -> LoginResult:
    """Check the password and open a session; InvalidCredentials for any mismatch,
    RateLimited (before any password work) when the account, the client address or the
    process has had too many attempts.

    >>> await log_in(db, settings, email="ada@example.com", password="...", now=ctx.now(),
    ...              throttle=state.login_throttle, client_host="203.0.113.7", audit=trail)
    """
    address = email.strip().lower()
    label = address[:320]  # what the audit log keeps of an unchecked email
    try:
        attempt = throttle.admit(address, client_host, now)
    except RateLimited as exc:
        # One indexed read (no password work), so the organization's admins see the entry.
        _audit_throttled(audit, label, await _find_user(db, address), exc)
        raise
    user = await _find_user(db, address)
    try:
        async with throttle.verification():
            ok = await verify_password(password[:MAX_PASSWORD_LENGTH],
                                       None if user is None else user.password_hash, settings)
    except RateLimited as exc:
        attempt.cancel()  # the password was not checked: the attempt does not count
        _audit_throttled(audit, label, user, exc)
        raise
    if user is None or not ok:
        if audit is not None:
            audit.record("user.login", "failure", label=label,
                         organization_id=None if user is None else user.organization_id,
                         detail="wrong email or password")
        raise InvalidCredentials()
    attempt.succeeded()
    expires = now + timedelta(seconds=settings.session_seconds)
    row = SessionRow(id=str(uuid.uuid4()), user_id=user.id, created_at=now, expires_at=expires)
    async with db.session() as session:
        await insert_session(session, row)
        user.last_login_at = now
        session.add(user)
        await session.commit()
    token = encode_token(settings.secret, TokenClaims(
        user_id=user.id, organization_id=user.organization_id, session_id=row.id,
        issued_at=now, expires_at=expires))
    if audit is not None:
        audit.record("user.login", organization_id=user.organization_id, label=user.email,
                     target=user.email)
    return LoginResult(token=token, csrf_token=secrets.token_urlsafe(32), expires_at=expires,
                       user=user)


async def _find_user(db: Database, address: str) -> UserRow | None:
    if len(address) > 320:  # no account has a longer address (create_user refuses them)
        return None
    async with db.session() as session:
        return await find_user_by_email(session, address)


def _audit_throttled(audit: AuditTrail | None, label: str, user: UserRow | None,
                     exc: RateLimited) -> None:
    if audit is not None:
        audit.record("user.login", "denied", label=label,
                     organization_id=None if user is None else user.organization_id,
                     detail=f"{exc.code}: {exc.message}")


async def log_out(db: Database, actor: Principal | None, *, now: datetime,
                  audit: AuditTrail | None = None) -> bool:
    """Revoke the caller's login session (the token stops working at once)."""
    found = require_authenticated(actor)
    if found.session_id is None:
        raise InvalidInput("Logout ends a login session; revoke an API key instead")
    async with db.session() as session:
        changed = await revoke_session(session, found.session_id, now)
        await session.commit()
    if audit is not None:
        audit.record("user.logout", principal=found, target=found.label)
    return changed
