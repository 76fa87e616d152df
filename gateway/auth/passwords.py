"""Password hashing for users: argon2id via passlib (libpass), always off the event loop.

An argon2 hash takes tens of milliseconds of CPU by design; run on the loop it would stall
every other request, so both operations go through a worker thread. New hashes use the cost
of `Settings` (`password_memory_kib`, `password_passes`, `password_lanes`); a stored hash
is verified with the parameters it carries.
"""

from __future__ import annotations

from functools import cache

from anyio import to_thread
from passlib.context import CryptContext  # type: ignore[import-untyped]  # libpass ships no stubs

from gateway.settings import Settings

__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 has no 72-byte limit; this bounds the work per attempt


@cache
def _context(memory_kib: int, passes: int, lanes: int) -> CryptContext:
    """One context per cost (a handful per process: the settings of each app)."""
    return CryptContext(schemes=["argon2"], deprecated="auto", argon2__memory_cost=memory_kib,
                        argon2__rounds=passes, argon2__parallelism=lanes)


def _context_of(settings: Settings) -> CryptContext:
    return _context(settings.password_memory_kib, settings.password_passes,
                    settings.password_lanes)


@cache
def _dummy_hash(memory_kib: int, passes: int, lanes: int) -> str:
    """Verified when the email is unknown, so a miss costs as long as a wrong password
    (hashed at the same cost as new users' passwords)."""
    context = _context(memory_kib, passes, lanes)
    return str(context.hash("not a real password, only for constant timing"))


async def hash_password(password: str, settings: Settings) -> str:
    return str(await to_thread.run_sync(_context_of(settings).hash, password))


async def verify_password(password: str, password_hash: str | None, settings: Settings) -> bool:
    """True when `password` matches; with `password_hash=None` spends the same time and
    returns False."""
    context = _context_of(settings)
    if password_hash is None:
        dummy = await to_thread.run_sync(_dummy_hash, settings.password_memory_kib,
                                         settings.password_passes, settings.password_lanes)
        await to_thread.run_sync(context.verify, password, dummy)
        return False
    return bool(await to_thread.run_sync(context.verify, password, password_hash))
