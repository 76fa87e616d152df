"""Login throttling: bound the argon2 work anyone can make the gateway do.

A password check costs ~0.25 CPU-seconds and 64 MB by design, and login needs no credential,
so without a bound 200 wrong passwords cost 41.5 CPU-seconds (issue #10). Three limits, all
checked before any argon2 work:

- per account (the normalized email, known or not, so the limit says nothing about which
  accounts exist) and per client address (IPv6 by /64, which one host usually holds whole):
  token buckets. Each holds `burst` attempts and regains one every `interval` seconds; an
  attempt takes one from both buckets *before* its password is checked, so concurrent
  requests cannot all slip through before the first failure is counted. A successful login
  empties the account's record (its failures are forgiven) and gives the address back the
  attempt it took, so an office behind one address is throttled by its failures only.
- per process: at most `concurrency` verifications at once (default: one per core); an
  attempt waits up to `queue_seconds` for a free slot, then is refused. However many
  addresses an attacker holds, argon2 work per second stays bounded.

A throttled attempt is refused with `RateLimited` (retry after whole seconds) whatever the
password, so a lockout is no oracle: the right password is refused as the wrong one is.
Buckets use the app's clock (time is an input: tests advance it); the slot wait is real time,
as it waits for real work to finish.

State is per process, in memory: N worker processes allow N times the attempts. A shared
store (Redis) comes with the PostgreSQL / multi-process deployment.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import math
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import RateLimited

__all__ = ["LoginAttempt", "LoginThrottle", "TokenBuckets", "account_key", "address_key"]

# Tracked keys per bucket set. Each costs at most ~600 bytes (keys are bounded below), so
# ~12 MB per set; past the bound the least recently used key is forgotten (the per-process
# slot limit still bounds the work).
MAX_TRACKED = 20_000
_MAX_EMAIL = 320  # RFC 5321; create_user refuses longer addresses


def account_key(email: str) -> str:
    """The bucket key of a normalized email. No account has an address past 320 characters;
    longer ones are keyed by their hash, so a key never holds a megabyte of the body."""
    if len(email) <= _MAX_EMAIL:
        return email
    return "sha256:" + hashlib.sha256(email.encode()).hexdigest()


def address_key(host: str | None) -> str | None:
    """The bucket key of a client address: IPv4 as is, IPv6 by its /64 network; None when the
    address is unknown (a Unix socket without proxy headers), which skips the address limit
    rather than putting every such client in one bucket."""
    if not host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP (a test client's name): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TokenBuckets:
    """One token bucket per key: `burst` tokens, one more every `interval` seconds.

    >>> buckets = TokenBuckets(burst=10, interval=60.0)
    >>> buckets.wait(key, now)    # 0.0 when a token is there, else seconds until one is
    >>> buckets.take(key, now)    # spend one (call only after wait() said 0)
    """

    def __init__(self, *, burst: int, interval: float, max_tracked: int = MAX_TRACKED) -> None:
        self.burst = max(1, burst)
        self.interval = max(0.0, interval)
        self._max = max_tracked
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._state)

    def _tokens(self, key: str, now: float) -> float:
        found = self._state.get(key)
        if found is None:
            return float(self.burst)
        tokens, at = found
        if self.interval == 0:
            return float(self.burst)
        return min(float(self.burst), tokens + max(0.0, now - at) / self.interval)

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` has a token (0.0: it has one now)."""
        tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1 else (1 - tokens) * self.interval

    def _store(self, key: str, tokens: float, now: float) -> None:
        if tokens >= self.burst:
            self._state.pop(key, None)  # a full bucket is the same as no record
            return
        self._state[key] = (tokens, now)
        self._state.move_to_end(key)
        while len(self._state) > self._max:
            self._state.popitem(last=False)

    def take(self, key: str, now: float) -> None:
        self._store(key, self._tokens(key, now) - 1, now)

    def give_back(self, key: str, now: float) -> None:
        self._store(key, self._tokens(key, now) + 1, now)

    def forget(self, key: str) -> None:
        self._state.pop(key, None)


@dataclass
class LoginAttempt:
    """An admitted attempt: it holds one token of its account and of its address."""

    throttle: LoginThrottle
    account: str
    address: str | None
    at: float

    def succeeded(self) -> None:
        """The password was right: forget the account's failures, return the address's token."""
        self.throttle.accounts.forget(self.account)
        if self.address is not None:
            self.throttle.addresses.give_back(self.address, self.at)

    def cancel(self) -> None:
        """The password was never checked (no free slot): return both tokens."""
        self.throttle.accounts.give_back(self.account, self.at)
        if self.address is not None:
            self.throttle.addresses.give_back(self.address, self.at)


class LoginThrottle:
    """The login limits of one process (see the module docstring).

    >>> throttle = LoginThrottle(account_burst=10, account_interval=60, address_burst=20,
    ...                          address_interval=6, concurrency=2, queue_seconds=2)
    >>> attempt = throttle.admit(email, client_host, now)   # RateLimited when throttled
    >>> async with throttle.verification():                 # RateLimited when too busy
    ...     ok = await verify_password(...)
    >>> if ok: attempt.succeeded()
    """

    def __init__(self, *, account_burst: int, account_interval: float, address_burst: int,
                 address_interval: float, concurrency: int = 0,
                 queue_seconds: float = 2.0) -> None:
        self.accounts = TokenBuckets(burst=account_burst, interval=account_interval)
        self.addresses = TokenBuckets(burst=address_burst, interval=address_interval)
        self.concurrency = concurrency if concurrency > 0 else (os.cpu_count() or 1)
        self.queue_seconds = queue_seconds
        self._slots = asyncio.Semaphore(self.concurrency)
        self.verifications = 0  # password checks let through so far (for tests and metrics)

    def admit(self, account: str, host: str | None, now: datetime) -> LoginAttempt:
        """Take one attempt from the buckets of `account` (a normalized email) and of the
        client address `host`, or raise RateLimited (taking nothing) when either is empty."""
        at = now.timestamp()
        account = account_key(account)
        address = address_key(host)
        wait = self.accounts.wait(account, at)
        if address is not None:
            wait = max(wait, self.addresses.wait(address, at))
        if wait > 0:
            seconds = max(1, math.ceil(round(wait, 6)))  # 1.0000000000000036 is 1 s
            raise RateLimited(f"Too many login attempts; retry in {seconds} s",
                              retry_after=seconds)
        self.accounts.take(account, at)
        if address is not None:
            self.addresses.take(address, at)
        return LoginAttempt(self, account, address, at)

    @asynccontextmanager
    async def verification(self) -> AsyncIterator[None]:
        """Hold one of the process's verification slots; RateLimited (retry after 1 s) when
        none frees up within `queue_seconds`."""
        busy = RateLimited("Too many logins in progress; retry in 1 s", retry_after=1)
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
        elif self.queue_seconds <= 0:
            raise busy
        else:
            try:
                async with asyncio.timeout(self.queue_seconds):
                    await self._slots.acquire()
            except TimeoutError:
                raise busy from None
        try:
            self.verifications += 1
            yield
        finally:
            self._slots.release()
