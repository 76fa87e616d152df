"""The limiter itself (issue #12): GCRA arithmetic, in process and in the real Redis.

The in-process limiter runs on a clock the test moves; the Redis one on Redis's own clock
(`TIME`), so its tests use long periods that cannot drain while they run. Redis tests use the
server at 127.0.0.1:6379 (`.ci/run` starts it) with a key prefix of their own, so parallel
runs do not share buckets; an outage is a closed port, a killed connection, or a private
`redis-server` on a Unix socket that the test stops and starts again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.ratelimit import LocalLimiter, SharedLimiter, open_redis
from gateway.settings import Settings
from tests.support import Clock, open_harness, wrong_key

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_PORT_URL = "redis://127.0.0.1:9149/0"  # our port range; nothing listens there
HOUR = 3_600_000_000
T0 = 1_795_176_000_000_000  # µs


class Ticks:
    """An integer µs clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def test_a_burst_of_the_limit_then_one_unit_per_interval() -> None:
    """GCRA: `limit` units at once, then one every period/limit; remaining, reset (when the
    bucket is full again) and retry_after (until the refused units fit) are exact."""
    clock = Ticks()
    limiter = LocalLimiter(clock)
    decisions = [limiter.take("b", 3, 60_000_000) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.reset - T0 // 1_000_000 for d in decisions] == [20, 40, 60, 60]
    assert [d.retry_after for d in decisions] == [0, 0, 0, 20]
    clock.now += 19_999_999
    assert not limiter.take("b", 3, 60_000_000).allowed
    clock.now += 1
    assert limiter.take("b", 3, 60_000_000).allowed
    assert not limiter.take("b", 3, 60_000_000).allowed
    clock.now += 3 * 60_000_000  # long idle: full again, never more than full
    assert [limiter.take("b", 3, 60_000_000).allowed for _ in range(4)] == [True] * 3 + [False]


def test_units_are_all_or_nothing_and_more_than_the_limit_never_fits() -> None:
    clock = Ticks()
    limiter = LocalLimiter(clock)
    assert limiter.take("b", 10, 60_000_000, 7).remaining == 3
    refused = limiter.take("b", 10, 60_000_000, 4)
    assert not refused.allowed and refused.remaining == 3 and refused.retry_after == 6
    assert limiter.take("b", 10, 60_000_000, 3).remaining == 0
    never = limiter.take("c", 10, 60_000_000, 11)
    assert not never.allowed and never.remaining == 10 and never.retry_after == 1
    assert limiter.take("c", 10, 60_000_000, 10).allowed  # and it spent nothing


def test_large_limits_stay_exact() -> None:
    """An enterprise hour (20,000 units in 3,600 s, a non-integer interval of 180 ms): the
    20,001st is refused, and one interval later exactly one more passes."""
    clock = Ticks()
    limiter = LocalLimiter(clock)
    allowed = sum(limiter.take("e", 20_000, HOUR).allowed for _ in range(20_001))
    assert allowed == 20_000
    clock.now += HOUR // 20_000
    assert limiter.take("e", 20_000, HOUR).allowed
    assert not limiter.take("e", 20_000, HOUR).allowed


def test_memory_is_bounded() -> None:
    """Past `max_tracked` buckets, drained ones are dropped first, then the oldest."""
    clock = Ticks()
    limiter = LocalLimiter(clock, max_tracked=10)
    for i in range(10):
        limiter.take(f"old{i}", 5, 1_000_000)
    clock.now += 1_000_000  # all drained
    limiter.take("new", 5, 1_000_000)
    assert len(limiter) == 1
    for i in range(30):
        limiter.take(f"busy{i}", 5, HOUR)
    assert len(limiter) <= 10


# -- Redis -------------------------------------------------------------------------------------

@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the real Redis; its keys are deleted afterwards."""
    client = Redis.from_url(REDIS_URL)
    try:
        try:
            await client.ping()
        except Exception as exc:  # noqa: BLE001  # any failure: say what to do
            pytest.fail(f"Redis at {REDIS_URL} does not answer ({exc}); start it "
                        "(`redis-server --daemonize yes`, as .ci/run does)")
        prefix = f"test:{uuid.uuid4().hex}:"
        yield prefix
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# Tests of what Redis decides give it a generous timeout: on this shared machine a connect
# can take longer than production's 0.25 s, and a timeout (rightly) decides locally.
PATIENT = 5.0


def _shared(prefix: str, url: str = REDIS_URL, clock: Ticks | None = None,
            timeout: float = PATIENT) -> SharedLimiter:
    return SharedLimiter(open_redis(url, timeout=timeout), LocalLimiter(clock or Ticks()),
                         prefix=prefix, retry_seconds=5.0)


async def test_redis_runs_the_same_arithmetic(redis_prefix: str) -> None:
    limiter = _shared(redis_prefix)
    try:
        decisions = [await limiter.acquire("b", 5, 3600.0) for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
        assert decisions[-1].retry_after in (719, 720)  # Redis's clock moved a little
        assert abs(decisions[-1].reset - (time.time() + 3600)) < 5
        assert (await limiter.acquire("b", 5, 3600.0, units=0)).allowed  # a peek
        assert not (await limiter.acquire("b", 5, 3600.0)).allowed
        assert limiter.fallbacks == 0
        ttl = await limiter.redis.pttl(redis_prefix + "b")
        assert 3_500_000 < ttl <= 3_601_000  # gone once drained
    finally:
        await limiter.close()


async def test_redis_is_exact_under_concurrency(redis_prefix: str) -> None:
    """200 concurrent acquisitions from two clients (as two processes) against a limit of
    50: exactly 50 pass."""
    first, second = _shared(redis_prefix), _shared(redis_prefix)
    try:
        decisions = await asyncio.gather(*(
            (first if i % 2 else second).acquire("c", 50, 3600.0) for i in range(200)))
        assert first.fallbacks == second.fallbacks == 0  # every decision was Redis's
        assert sum(d.allowed for d in decisions) == 50
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(50))
    finally:
        await first.close()
        await second.close()


async def test_two_gateway_processes_share_one_limit(settings: Settings, clock: Clock,
                                                     redis_prefix: str) -> None:
    """Issue #12: two app instances on one Redis (two processes' worth: each its own state)
    count one key's requests together: 6 of a limit of 6 pass over both, the 7th is refused
    by either."""
    shared = dataclasses.replace(settings, redis_url=REDIS_URL, redis_key_prefix=redis_prefix,
                                 redis_timeout_seconds=PATIENT,
                                 rate_limits={**settings.rate_limits, "upstack": (6, 3600.0)})
    async with open_harness(shared, clock, tenant=True) as one, \
            open_harness(shared, clock) as two:
        key = await one.mint("analytics:read")
        statuses = [(await (one if i % 2 else two).client.get(
            "/db-mgmt/api/measures", headers=one.headers(key))).status_code for i in range(6)]
        assert statuses == [200] * 6
        for h in (one, two):
            refused = await h.client.get("/db-mgmt/api/measures", headers=one.headers(key))
            assert refused.status_code == 429
            assert refused.headers["x-ratelimit-remaining"] == "0"
        bad = [await h.client.get("/db-mgmt/api/measures", headers=h.headers(wrong_key(key)))
               for h in (one, two) for _ in range(10)]
        assert sorted(r.status_code for r in bad) == [401] * 20  # under the failure limit
        for h in (one, two):
            limiter = h.state.rates.limiter
            assert isinstance(limiter, SharedLimiter) and limiter.fallbacks == 0


async def test_a_killed_connection_is_replaced_at_once(redis_prefix: str) -> None:
    """A connection Redis dropped (CLIENT KILL, an idle timeout) is replaced on the next
    call: the count goes on in Redis, nothing is decided locally."""
    limiter = _shared(redis_prefix)
    admin = Redis.from_url(REDIS_URL)
    try:
        for _ in range(3):
            assert (await limiter.acquire("k", 4, 3600.0)).allowed
        own = await limiter.redis.client_id()  # the pool's one connection
        assert await admin.client_kill_filter(_id=str(own)) == 1
        assert (await limiter.acquire("k", 4, 3600.0)).allowed
        assert not (await limiter.acquire("k", 4, 3600.0)).allowed
        assert limiter.fallbacks == 0
    finally:
        await admin.aclose()
        await limiter.close()


async def test_an_unreachable_redis_limits_per_process_with_one_warning(
        settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    """Issue #12: Redis refusing connections is neither open nor an outage: each process
    enforces the limits itself (exactly), logs one warning, and tries Redis again after
    GATEWAY_REDIS_RETRY_SECONDS (still down: no second warning within the minute)."""
    down = dataclasses.replace(settings, redis_url=CLOSED_PORT_URL, redis_retry_seconds=5.0,
                               rate_limits={**settings.rate_limits, "upstack": (4, 60.0)})
    caplog.set_level(logging.WARNING, logger="gateway.ratelimit")
    async with open_harness(down, clock, tenant=True) as h:
        key = await h.mint("analytics:read")
        statuses = [(await h.client.get("/db-mgmt/api/measures", headers=h.headers(key))
                     ).status_code for _ in range(5)]
        assert statuses == [200] * 4 + [429]
        clock.advance(seconds=6)  # Redis is tried again: still refused
        assert (await h.client.get("/db-mgmt/api/measures", headers=h.headers(key))
                ).status_code == 429  # 6 s drained half a unit: still nothing
        warnings = [r for r in caplog.records if r.name == "gateway.ratelimit"]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "unreachable" in warnings[0].getMessage()
        assert "per process" in warnings[0].getMessage()
        clock.advance(seconds=61)
        assert (await h.client.get("/db-mgmt/api/measures", headers=h.headers(key))
                ).status_code == 200
        assert len([r for r in caplog.records if r.name == "gateway.ratelimit"]) == 2


@pytest.fixture
def private_redis() -> Iterator[tuple[str, Path]]:
    """A redis-server of this test's own on a Unix socket: (its URL, the socket path)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (.ci/run needs it too)")
    folder = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))
    socket = folder / "r.sock"
    yield f"unix://{socket}", socket
    shutil.rmtree(folder, ignore_errors=True)


def _start(socket: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no",
         "--dir", str(socket.parent)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = SyncRedis(unix_socket_path=str(socket), socket_timeout=1)
    try:
        for _ in range(500):  # the socket file exists a moment before Redis answers on it
            try:
                if probe.ping():
                    return process
            except RedisError:
                time.sleep(0.01)
    finally:
        probe.close()
    process.kill()
    pytest.fail("the private redis-server did not start")


async def test_redis_going_away_and_coming_back(private_redis: tuple[str, Path],
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Redis stops mid-run: decisions go local at once (with the warning), Redis is retried
    after the backoff, and once it answers again decisions are Redis's again (logged)."""
    url, socket = private_redis
    caplog.set_level(logging.INFO, logger="gateway.ratelimit")
    clock = Ticks()
    server = _start(socket)
    limiter = _shared("p:", url, clock)
    try:
        assert [(await limiter.acquire("x", 3, 3600.0)).allowed for _ in range(2)] == [True] * 2
        server.terminate()
        server.wait(10)
        local = [await limiter.acquire("x", 3, 3600.0) for _ in range(4)]
        assert [d.allowed for d in local] == [True] * 3 + [False]  # a fresh local bucket
        assert limiter.fallbacks == 4
        server = _start(socket)
        assert not (await limiter.acquire("x", 3, 3600.0)).allowed  # still in its backoff
        assert limiter.fallbacks == 5
        clock.now += 5_000_000
        back = await limiter.acquire("x", 3, 3600.0)
        assert back.allowed and back.remaining == 2  # Redis's (restarted, empty) bucket
        assert limiter.fallbacks == 5
        messages = [r.getMessage() for r in caplog.records if r.name == "gateway.ratelimit"]
        assert len(messages) == 2 and "unreachable" in messages[0]
        assert "answers again" in messages[1]
    finally:
        await limiter.close()
        server.terminate()
        server.wait(10)
