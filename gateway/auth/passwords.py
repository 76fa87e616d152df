"""Password hashing for users: argon2id via passlib (libpass), always off the event loop.

An argon2 hash takes tens of milliseconds of CPU by design; run on the loop it would stall
every other request, so both operations go through a worker thread.
"""

from __future__ import annotations

from functools import cache

from anyio import to_thread
from passlib.context import CryptContext  # type: ignore[import-untyped]  # libpass ships no stubs

__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 has no 72-byte limit; this bounds the work per attempt

_CONTEXT = CryptContext(schemes=["argon2"], deprecated="auto")


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so a miss costs as long as a wrong password."""
    return str(_CONTEXT.hash("not a real password, only for constant timing"))


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(_CONTEXT.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """True when `password` matches; with `password_hash=None` spends the same time and
    returns False."""
    if password_hash is None:
        await to_thread.run_sync(_CONTEXT.verify, password, await to_thread.run_sync(_dummy_hash))
        return False
    return bool(await to_thread.run_sync(_CONTEXT.verify, password, password_hash))
