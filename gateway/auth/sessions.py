"""Login tokens for users of browser apps: short-lived JWTs backed by a session row.

A token is an HS256 JWT (pyjwt) under the server secret with `sub` (user id), `org`, `jti`
(the session row's id), `iat` and `exp`. It is accepted as `Authorization: Bearer` or as the
HttpOnly `gateway_session` cookie. Every request reads the session row by `jti` (one indexed
join), so logout — which sets `revoked_at` — ends the token on the next request in every
process; `exp` is compared with the gateway's clock, not the wall clock pyjwt would use.

Cookie-authenticated writes must pass the CSRF check (`gateway/auth/csrf.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import jwt

from gateway.auth.authenticate import Credentials, PixelTargets, tag_failure
from gateway.auth.principal import Principal
from gateway.auth.scopes import ROLES, expand_scopes
from gateway.auth.tiers import DEFAULT_TIER, ROLE_TIERS
from gateway.errors import InvalidSession
from gateway.storage import Database
from gateway.storage.users import find_session_user

__all__ = ["SessionAuthenticator", "TokenClaims", "decode_token", "encode_token",
           "looks_like_jwt"]

_ALGORITHM = "HS256"
_AUDIENCE = "gateway"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    organization_id: str
    session_id: str
    issued_at: datetime
    expires_at: datetime


def encode_token(secret: str, claims: TokenClaims) -> str:
    return jwt.encode({
        "sub": claims.user_id, "org": claims.organization_id, "jti": claims.session_id,
        "iat": int(claims.issued_at.timestamp()), "exp": int(claims.expires_at.timestamp()),
        "aud": _AUDIENCE,
    }, secret, algorithm=_ALGORITHM)


def decode_token(secret: str, token: str, now: datetime) -> TokenClaims:
    """The claims of a token signed by us and not expired at `now`; raises InvalidSession."""
    try:
        data = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE,
                          options={"require": ["sub", "org", "jti", "iat", "exp"],
                                   # expiry is checked below against the gateway's clock
                                   "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise InvalidSession("Invalid session token") from exc
    if int(data["exp"]) <= now.timestamp():
        raise InvalidSession("Session has expired; log in again")
    return TokenClaims(
        user_id=str(data["sub"]), organization_id=str(data["org"]), session_id=str(data["jti"]),
        issued_at=datetime.fromtimestamp(int(data["iat"]), tz=now.tzinfo),
        expires_at=datetime.fromtimestamp(int(data["exp"]), tz=now.tzinfo),
    )


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class SessionAuthenticator:
    """Authenticates login tokens: a JWT bearer token, or the session cookie when no header
    credential was sent."""

    def __init__(self, db: Database, *, secret: str, clock: Callable[[], datetime],
                 pixels: PixelTargets | None = None) -> None:
        self._db = db
        self._secret = secret
        self._clock = clock
        self._pixels = pixels or PixelTargets(db)

    async def authenticate(self, credentials: Credentials) -> Principal | None:
        if credentials.token is not None:
            if not looks_like_jwt(credentials.token):
                return None
            token = credentials.token
        elif credentials.cookie_token is not None:
            token = credentials.cookie_token
        else:
            return None
        now = self._clock()
        claims = decode_token(self._secret, token, now)
        async with self._db.session() as session:
            found = await find_session_user(session, claims.session_id)
        if found is None:
            raise InvalidSession("Unknown session; log in again")
        row, user = found
        if row.user_id != claims.user_id or user.organization_id != claims.organization_id:
            raise InvalidSession("Invalid session token")
        if row.revoked_at is not None:
            raise tag_failure(InvalidSession("Logged out; log in again"), user.organization_id)
        if row.expires_at <= now:
            raise tag_failure(InvalidSession("Session has expired; log in again"),
                          user.organization_id)
        # A pixel-restricted user's session is confined exactly like a restricted key.
        pixel_ids = None if user.pixel_ids is None else frozenset(user.pixel_ids)
        pixel_id = await self._pixels.target(user.organization_id, pixel_ids,
                                             credentials.pixel_id)
        return Principal(
            kind="user", organization_id=user.organization_id,
            scopes=expand_scopes(ROLES.get(user.role, ())), pixel_ids=pixel_ids,
            pixel_id=pixel_id,
            user_id=user.id, session_id=row.id, role=user.role, label=user.email,
            rate_tier=ROLE_TIERS.get(user.role, DEFAULT_TIER),
        )
