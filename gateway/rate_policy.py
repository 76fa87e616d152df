"""Which bucket a request pays into, how much it may spend, and the headers that say so.

Every surface declares its policy in one line: `Surface("clickstack", …,
rate_limit=RatePolicy("clickstack", IETF_RATELIMIT))`, and a route may name its own
(`surface.route("POST", "/v1/query", …, rate_limit="databuddy.query")`, same dialect); GraphQL
declares `RatePolicy("graphql", X_RATELIMIT)`. The numbers are not here but in
`Settings.rate_limits` (units per period of the standard tier, by policy name) and
`Settings.rate_tiers` (a factor per tier); `RateLimits` resolves them once at start, and
`create_app` refuses to start when a declared policy has no numbers.

A request's bucket (`Rates.meter`):

- an authenticated caller: per policy, per credential (a key; a logged-in user, whichever
  session it uses) and per pixel the request targets, limited by the credential's tier;
- no credential: the `anonymous` numbers, per client address (IPv6 per /64), one bucket for
  every surface; a request whose address is unknown (a Unix socket) is not limited;
- a bad credential pays nothing here: it is answered 401 and counted by `AuthFailures`.

Every request pays one unit on entry (`Context.enter`); `Context.charge(units)` adds what the
cost budget estimates. Headers are the policy's dialect, from the last decision:
`X-RateLimit-Limit/Remaining/Reset` (reset: epoch seconds; Upstack, Databuddy, Dashtray,
GraphQL) or `RateLimit-Limit/Remaining/Reset` (reset: seconds from now, as HyperDX's
express-rate-limit sends them with `standardHeaders`; ClickStack).

`AuthFailures`: failed authentications with a header credential (`x-api-key`, a Bearer key
or token; not the session cookie, which a browser resends on its own) per client address:
every 401 of one (bad, unknown, revoked or expired key or token, and a pixel the credential
cannot reach: probing pixel ids is guessing too, and an unknown one costs a look-up).
After `auth_failure_limit` in `auth_failure_seconds` the address is refused (429) before any
key look-up, until a failure's worth has drained. Failures go through the limiter (so with
Redis every process counts them together); the "refuse before looking up" state is per
process, so each further process may do one more look-up (whose failure is then refused too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.auth.principal import Principal
from gateway.auth.throttle import address_key
from gateway.auth.tiers import DEFAULT_TIER, RATE_TIERS
from gateway.errors import RateLimited
from gateway.ratelimit import Decision, Limiter
from gateway.settings import ANONYMOUS_POLICY, Settings, SettingsError

__all__ = ["IETF_RATELIMIT", "X_RATELIMIT", "AuthFailures", "HeaderDialect", "RateLimits",
           "RateMeter", "RatePolicy", "Rates", "rate_limited"]

Header = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class HeaderDialect:
    """Names of the three headers, and whether the reset is a delay instead of a time."""

    limit: bytes
    remaining: bytes
    reset: bytes
    reset_is_delay: bool

    @property
    def names(self) -> tuple[bytes, bytes, bytes]:
        return (self.limit, self.remaining, self.reset)

    def headers(self, d: Decision) -> list[Header]:
        reset = d.reset_after if self.reset_is_delay else d.reset
        return [(self.limit, str(d.limit).encode()), (self.remaining, str(d.remaining).encode()),
                (self.reset, str(reset).encode())]


X_RATELIMIT = HeaderDialect(b"x-ratelimit-limit", b"x-ratelimit-remaining",
                            b"x-ratelimit-reset", reset_is_delay=False)
IETF_RATELIMIT = HeaderDialect(b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset",
                               reset_is_delay=True)


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """A name in `Settings.rate_limits` and the header dialect its responses speak."""

    name: str
    dialect: HeaderDialect = X_RATELIMIT

    def named(self, name: str) -> RatePolicy:
        """The same dialect, another row of numbers (a route's own limit)."""
        return RatePolicy(name, self.dialect)


def _per(period: float) -> str:
    for seconds, unit in ((3600.0, "hour"), (60.0, "minute"), (1.0, "second")):
        if period == seconds:
            return unit
    return f"{period:g} s"


def rate_limited(d: Decision, period: float) -> RateLimited:
    """The error for a refused decision: its numbers ride along for the bodies that carry
    them (Databuddy's, GraphQL's extensions)."""
    return RateLimited(f"Rate limit exceeded: {d.limit} per {_per(period)}; retry in "
                       f"{d.retry_after} s", retry_after=d.retry_after, limit=d.limit,
                       remaining=d.remaining, reset=d.reset)


class RateLimits:
    """`Settings.rate_limits` × `Settings.rate_tiers`, resolved once: (policy, tier) ->
    (units, period seconds); a tier's units are the standard ones times its factor, at
    least 1."""

    def __init__(self, settings: Settings) -> None:
        self._table = {
            (name, tier): (max(1, math.floor(units * settings.rate_tiers[tier])), period)
            for name, (units, period) in settings.rate_limits.items() for tier in RATE_TIERS}

    def of(self, policy: str, tier: str) -> tuple[int, float]:
        found = self._table.get((policy, tier))
        return found if found is not None else self._table[(policy, DEFAULT_TIER)]

    def require(self, names: Iterable[str]) -> None:
        """SettingsError naming each declared policy without numbers."""
        missing = sorted({n for n in names if (n, DEFAULT_TIER) not in self._table})
        if missing:
            raise SettingsError(f"no rate limit configured for {', '.join(missing)} "
                                "(GATEWAY_RATE_LIMITS)")


class RateMeter:
    """One request's account with the limiter: its bucket, its limit, the last decision."""

    __slots__ = ("bucket", "decision", "dialect", "limit", "limiter", "period")

    def __init__(self, limiter: Limiter, dialect: HeaderDialect, bucket: str, limit: int,
                 period: float) -> None:
        self.limiter = limiter
        self.dialect = dialect
        self.bucket = bucket
        self.limit = limit
        self.period = period
        self.decision: Decision | None = None

    async def take(self, units: int) -> None:
        """Spend `units` (all or none); RateLimited when they do not fit."""
        decision = await self.limiter.acquire(self.bucket, self.limit, self.period, units)
        self.decision = decision
        if not decision.allowed:
            raise rate_limited(decision, self.period)

    def headers(self) -> list[Header]:
        return [] if self.decision is None else self.dialect.headers(self.decision)


class Rates:
    """The process's limiter with its numbers: hands each request its `RateMeter`."""

    def __init__(self, limiter: Limiter, limits: RateLimits) -> None:
        self.limiter = limiter
        self.limits = limits

    def meter(self, policy: RatePolicy, principal: Principal | None,
              host: str | None) -> RateMeter | None:
        """The bucket of this caller (module docstring); None when it is not limited."""
        if principal is None:
            address = address_key(host)
            if address is None:
                return None
            limit, period = self.limits.of(ANONYMOUS_POLICY, DEFAULT_TIER)
            return RateMeter(self.limiter, policy.dialect, f"{ANONYMOUS_POLICY}|{address}",
                             limit, period)
        who = (f"k:{principal.key_id}" if principal.key_id is not None
               else f"u:{principal.user_id}")
        limit, period = self.limits.of(policy.name, principal.rate_tier)
        return RateMeter(self.limiter, policy.dialect,
                         f"{policy.name}|{who}|{principal.pixel_id or '*'}", limit, period)


MAX_BLOCKED = 10_000  # addresses remembered as refused, per process


class AuthFailures:
    """Failed header-credential authentications per client address (module docstring).

    >>> refused = failures.refusal(host)        # no I/O: RateLimited or None, before look-up
    >>> refused = await failures.failed(host)   # after a failure: RateLimited once over
    """

    def __init__(self, limiter: Limiter, *, limit: int, period: float,
                 clock: Callable[[], int]) -> None:
        self.limiter = limiter
        self.limit = max(1, limit)
        self.period = period
        self.clock = clock
        self._blocked: dict[str, int] = {}  # address -> µs until which it is refused

    def refusal(self, host: str | None) -> RateLimited | None:
        """RateLimited when `host`'s address is refused now, else None (a dict look-up)."""
        if not self._blocked:  # the usual case: nobody is refused
            return None
        address = address_key(host)
        until = None if address is None else self._blocked.get(address)
        if address is None or until is None:
            return None
        now = self.clock()
        if now >= until:
            del self._blocked[address]
            return None
        return self._error(until - now)

    async def failed(self, host: str | None) -> RateLimited | None:
        """Count one failure of `host`; RateLimited when it was one too many (the caller
        answers that instead of 401). Once the allowance is spent the address is refused
        before look-ups until the next failure would fit."""
        address = address_key(host)
        if address is None:
            return None
        d = await self.limiter.acquire(f"authfail|{address}", self.limit, self.period)
        if d.allowed and d.remaining > 0:
            return None
        # Refused: until the retry time. Spent just now: for one emission interval, the most
        # it takes for the next failure's unit to drain.
        wait = (d.retry_after * 1_000_000 if not d.allowed
                else math.ceil(self.period * 1_000_000 / self.limit))
        if len(self._blocked) >= MAX_BLOCKED:
            now = self.clock()
            self._blocked = {a: u for a, u in self._blocked.items() if u > now}
            if len(self._blocked) >= MAX_BLOCKED:
                self._blocked.clear()
        self._blocked[address] = self.clock() + wait
        return None if d.allowed else self._error(wait)

    def _error(self, wait_us: int) -> RateLimited:
        seconds = max(1, math.ceil(wait_us / 1_000_000))
        return RateLimited(f"Too many failed authentications from this address; retry in "
                           f"{seconds} s", retry_after=seconds)
