"""The rate limiter: GCRA over cost-weighted units, in process or shared through Redis.

`await limiter.acquire(bucket, limit, period, units)` admits `units` against `limit` units
per `period` seconds, or refuses them and changes nothing, and answers a `Decision`
(allowed, limit, remaining, reset, retry_after). The algorithm is GCRA (the generic cell rate
algorithm, a leaky bucket kept as one number): each bucket holds a *level*, the work it has
admitted and not yet drained; it drains at `limit / period` units per second and holds at
most `limit` units, so a quiet client may burst the whole limit at once, then gets one unit
every `period / limit` seconds. Exact: the N+1th unit inside a burst of N is refused, under
any concurrency (the in-process check does not yield between reading and writing; Redis runs
it as one Lua script).

Integer arithmetic only, so no rounding ever admits or refuses a unit wrongly: time is in
microseconds, a level in *ticks* of 1/limit µs, so one unit costs `period_us` ticks and a
full bucket is `period_us * limit` ticks. Both backends run the same arithmetic (Redis's
Lua numbers are doubles, exact below 2^53: `Settings` bounds limit × period to keep every
value there).

Backends:

- `LocalLimiter`: one dict per process, time from the app's clock (tests advance it). At
  most `max_tracked` buckets; past that, drained buckets are dropped, then the oldest (a
  dropped bucket forgets its level: memory is bounded, at worst one client's burst resets).
- `SharedLimiter`: Redis (redis-py asyncio), the check as one Lua script keyed by bucket,
  time from Redis's own clock (`TIME`), so every gateway process sharing the Redis agrees.
  When Redis cannot answer (refused, timed out, killed connection, an error reply), the
  request is decided by the process's `LocalLimiter` instead, and Redis is tried again after
  `retry_seconds`: limits stay enforced, per process, during an outage (neither open to
  everyone nor refusing everyone). A warning is logged when that starts (then at most one a
  minute while it lasts) and an info line when Redis answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["MAX_TICKS", "Decision", "Limiter", "LocalLimiter", "SharedLimiter", "micros",
           "open_redis"]

log = logging.getLogger("gateway.ratelimit")

# limit × period in µs stays below this, so Lua's doubles hold every level exactly.
MAX_TICKS = 2**52
MAX_TRACKED = 100_000  # buckets per process (~200 bytes each)
MAX_CONNECTIONS = 16  # to Redis, per process (open_redis)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = datetime.resolution
_WARN_EVERY_US = 60_000_000


def micros(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly."""
    return (moment - _EPOCH) // _ONE_US


class Decision(NamedTuple):  # a tuple: built on every request, ~5x cheaper than a dataclass
    """What the limiter decided. `reset`: epoch seconds when the bucket is full again
    (`reset_after` seconds from now); `retry_after`: whole seconds until the units asked for
    would be admitted (0 when they were)."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    reset_after: int
    retry_after: int


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _decision(allowed: bool, limit: int, period_us: int, level: int, over: int,
              now_us: int, *, never: bool = False) -> Decision:
    """The Decision for a bucket at `level` ticks after the check; `over`: by how many ticks
    the refused units did not fit (0 when admitted); `never`: they were more than the whole
    limit, so they never fit (retry_after then says when the bucket is full: the cost budget
    refuses such requests before they get here)."""
    full_in = -(-level // limit)  # µs until the level has drained to zero (ceil)
    if allowed:
        retry = 0
    elif never:
        retry = max(1, _ceil_div(full_in, 1_000_000))
    else:
        retry = max(1, _ceil_div(_ceil_div(over, limit), 1_000_000))
    remaining = (period_us * limit - level) // period_us
    return Decision(allowed, limit, remaining if remaining > 0 else 0,
                    -(-(now_us + full_in) // 1_000_000), -(-full_in // 1_000_000), retry)


class Limiter(Protocol):
    async def acquire(self, bucket: str, limit: int, period: float,
                      units: int = 1) -> Decision: ...

    async def close(self) -> None: ...


class LocalLimiter:
    """GCRA in this process (module docstring). `clock` gives epoch microseconds.

    >>> limiter = LocalLimiter(lambda: micros(datetime.now(UTC)))
    >>> decision = limiter.take("upstack|k:42|p:7", limit=600, period_us=60_000_000)
    """

    def __init__(self, clock: Callable[[], int], *, max_tracked: int = MAX_TRACKED) -> None:
        self.clock = clock
        self.max_tracked = max_tracked
        # bucket -> (level in ticks, at µs, µs when it will have drained to zero)
        self._levels: dict[str, tuple[int, int, int]] = {}

    def __len__(self) -> int:
        return len(self._levels)

    def take(self, bucket: str, limit: int, period_us: int, units: int = 1) -> Decision:
        """Admit `units` (all or none) and say so; synchronous, hence atomic on the loop."""
        now = self.clock()
        found = self._levels.get(bucket)
        level = 0
        if found is not None:
            elapsed = now - found[1]
            if elapsed > period_us:  # a full period drains everything
                elapsed = period_us
            level = found[0] - elapsed * limit if elapsed > 0 else found[0]
            if level < 0:
                level = 0
        new = level + (units if units <= limit else limit + 1) * period_us
        over = new - period_us * limit
        if over > 0:
            return _decision(False, limit, period_us, level, over, now, never=units > limit)
        if found is None and len(self._levels) >= self.max_tracked:
            self._sweep(now)
        self._levels[bucket] = (new, now, now - (-new // limit))
        return _decision(True, limit, period_us, new, 0, now)

    async def acquire(self, bucket: str, limit: int, period: float,
                      units: int = 1) -> Decision:
        return self.take(bucket, limit, round(period * 1_000_000), units)

    def _sweep(self, now: int) -> None:
        """Make room: drop the buckets that have drained (they are as good as absent), then
        the oldest tenth if that freed too little."""
        drained = [b for b, (_, _, empty_at) in self._levels.items() if empty_at <= now]
        for bucket in drained:
            del self._levels[bucket]
        if len(self._levels) >= self.max_tracked:
            for bucket in list(self._levels)[: max(1, self.max_tracked // 10)]:
                del self._levels[bucket]

    async def close(self) -> None:
        return None


# KEYS[1] the bucket; ARGV period_us, limit, units. Returns {allowed, level, over, now_us}:
# the same arithmetic as LocalLimiter.take, on Redis's clock. Every number stays an integer
# below 2^53 (MAX_TICKS), which Lua's doubles hold exactly; redis converts numbers to
# arguments without losing digits.
_SCRIPT = """
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'l', 't')
local level = 0
if state[1] then
  local elapsed = now - tonumber(state[2])
  if elapsed < 0 then elapsed = 0 end
  if elapsed > period then elapsed = period end
  level = tonumber(state[1]) - elapsed * limit
  if level < 0 then level = 0 end
end
local new = level + units * period
local over = new - period * limit
if over > 0 then
  return {0, level, over, now}
end
redis.call('HSET', KEYS[1], 'l', new, 't', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(new / limit / 1000) + 1)
return {1, new, 0, now}
"""


def open_redis(url: str, *, timeout: float, name: str = "gateway-limiter") -> Redis:
    """A redis-py asyncio client for the limiter: short timeouts (a slow Redis must not
    stall requests: past `timeout` seconds the request is decided locally), one immediate
    retry on a broken connection (a killed or idle-closed connection is replaced at once),
    none on a timeout (the script may have run). At most `MAX_CONNECTIONS`, which requests
    wait for (one call takes well under a millisecond): without the bound a burst of
    concurrent requests on a cold pool opens one connection each, and on a busy machine the
    connects time out together (measured: 200 at once, tests/test_ratelimit.py)."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=max(1.0, 4 * timeout),
        socket_timeout=timeout, socket_connect_timeout=timeout, client_name=name,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
    client: Redis = Redis.from_pool(pool)
    return client


class SharedLimiter:
    """GCRA in Redis, shared by every process using the same Redis and `prefix`; the
    process's `LocalLimiter` decides while Redis is unreachable (module docstring)."""

    def __init__(self, redis: Redis, local: LocalLimiter, *, prefix: str,
                 retry_seconds: float, where: str = "Redis") -> None:
        self.redis = redis
        self.local = local
        self.prefix = prefix
        self.retry_us = round(retry_seconds * 1_000_000)
        self.where = where
        self._script: AsyncScript = redis.register_script(_SCRIPT)
        self._down_until = 0  # local clock µs; 0: Redis is believed up
        self._warned_at: int | None = None
        self.fallbacks = 0  # decisions taken locally (for tests and metrics)

    async def acquire(self, bucket: str, limit: int, period: float,
                      units: int = 1) -> Decision:
        period_us = round(period * 1_000_000)
        now = self.local.clock()
        if now < self._down_until:
            self.fallbacks += 1
            return self.local.take(bucket, limit, period_us, units)
        try:
            # More than limit + 1 can never fit either; the cap keeps Lua's numbers small.
            reply: Any = await self._script(keys=[self.prefix + bucket],
                                            args=[period_us, limit, min(units, limit + 1)])
        except Exception as exc:  # noqa: BLE001  # any Redis failure: decide locally (docstring)
            self._went_down(now, exc)
            self.fallbacks += 1
            return self.local.take(bucket, limit, period_us, units)
        if self._down_until:
            self._down_until = 0
            log.info("%s answers again: rate limits are shared again", self.where)
        allowed, level, over, redis_now = (int(v) for v in reply)
        return _decision(bool(allowed), limit, period_us, level, over, redis_now,
                         never=units > limit)

    def _went_down(self, now: int, exc: Exception) -> None:
        self._down_until = now + self.retry_us
        if self._warned_at is None or now - self._warned_at >= _WARN_EVERY_US:
            self._warned_at = now
            log.warning("%s is unreachable (%s: %s): rate limits are enforced per process "
                        "until it answers; retrying every %.0f s", self.where,
                        type(exc).__name__, exc, self.retry_us / 1e6)

    async def close(self) -> None:
        await self.redis.aclose()
