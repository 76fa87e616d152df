"""What the rate limiter costs a request (issue #12), in process, median of rounds.

    python benchmarks/ratelimit.py [--requests 20000] [--rounds 5] [--redis URL]

1. `LocalLimiter.take`: the GCRA check alone;
2. one request's whole limiter work as a surface does it: its bucket (`Rates.meter`), the
   unit of entry (`RateMeter.take`, awaited) and the three headers (`RateMeter.headers`);
3. the same against Redis (`SharedLimiter`, one Lua script per request, loopback), when
   `--redis` is given (default redis://127.0.0.1:6379/0; `--redis ''` skips it).

Buckets cycle over 1,000 keys so the dict is not one hot entry; limits are never reached
(the admitted path is the common one).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.auth.principal import Principal
from gateway.rate_policy import X_RATELIMIT, RateLimits, RatePolicy, Rates
from gateway.ratelimit import Limiter, LocalLimiter, SharedLimiter, open_redis
from gateway.settings import Settings

POLICY = RatePolicy("upstack", X_RATELIMIT)
SETTINGS = Settings(rate_limits={**Settings().rate_limits, "upstack": (1_000_000, 1.0)})


def _principals(n: int) -> list[Principal]:
    return [Principal(kind="api_key", organization_id="o", scopes=frozenset(), pixel_ids=None,
                      pixel_id=f"p{i % 7}", key_id=f"k{i}") for i in range(n)]


def _clock() -> int:
    return time.time_ns() // 1000  # the app's limiter clock (gateway/app.py _micros)


def bench_take(requests: int) -> float:
    limiter = LocalLimiter(_clock)
    buckets = [f"upstack|k:{i}|p" for i in range(1000)]
    start = time.perf_counter()
    for i in range(requests):
        limiter.take(buckets[i % 1000], 1_000_000, 1_000_000)
    return (time.perf_counter() - start) / requests * 1e6


async def bench_request(limiter: Limiter, requests: int) -> float:
    rates = Rates(limiter, RateLimits(SETTINGS))
    principals = _principals(1000)
    start = time.perf_counter()
    for i in range(requests):
        meter = rates.meter(POLICY, principals[i % 1000], "127.0.0.1")
        assert meter is not None
        await meter.take(1)
        meter.headers()
    return (time.perf_counter() - start) / requests * 1e6


async def _run(requests: int, rounds: int, redis_url: str) -> None:
    rows: dict[str, list[float]] = {}
    shared = None
    if redis_url:
        shared = SharedLimiter(open_redis(redis_url, timeout=1.0), LocalLimiter(_clock),
                               prefix=f"bench:{uuid.uuid4().hex}:", retry_seconds=5.0)
    try:
        for _ in range(rounds):
            rows.setdefault("LocalLimiter.take (the check alone)", []).append(
                bench_take(requests))
            rows.setdefault("a request's limiter work, in process", []).append(
                await bench_request(LocalLimiter(_clock), requests))
            if shared is not None:
                rows.setdefault("a request's limiter work, Redis", []).append(
                    await bench_request(shared, max(1, requests // 10)))
        if shared is not None:
            assert shared.fallbacks == 0, "Redis did not answer: the figure would be local"
            keys = [k async for k in shared.redis.scan_iter(match=shared.prefix + "*")]
            for i in range(0, len(keys), 500):
                await shared.redis.delete(*keys[i:i + 500])
    finally:
        if shared is not None:
            await shared.close()
    print(f"rate limiter, {requests:,} requests x {rounds} rounds (Redis: a tenth), "
          "median µs per request")
    print("| path | µs |\n| --- | ---: |")
    for label, values in rows.items():
        print(f"| {label} | {statistics.median(values):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    asyncio.run(_run(args.requests, args.rounds, args.redis))


if __name__ == "__main__":
    main()
