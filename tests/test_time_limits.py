"""Time limits and fairness of analytics queries, through the real app (issue #12).

The slow statement is a real hostile query (tests/support_heavy.py): a backtracking
`contains` filter over a few dozen rows, seconds of SQLite work. Statement ends are read
from the app's own admission counters (`db.admission`), never from mocks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from tests.support import Clock, Harness, assert_graphql_error, assert_upstack_error, open_harness
from tests.support_alerts import Dns
from tests.support_heavy import (
    ANALYTICS_GRAPHQL,
    FAST_QUERY,
    SLOW_FILTER,
    SLOW_QUERY,
    seed_slow_rows,
)

QUERY = "/db-mgmt/api/query"


@pytest.fixture
def limits() -> dict[str, Any]:
    """The query_* settings of the test (overridden by parametrizing the fixture)."""
    return {}


@pytest.fixture
async def harness(settings: Settings, clock: Clock, dns: Dns, limits: dict[str, Any]
                  ) -> AsyncIterator[Harness]:
    tuned = dataclasses.replace(settings, alerts_enabled=False, **limits)
    async with open_harness(tuned, clock, resolver=dns, tenant=True) as h:
        yield h


async def _until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait (polling the app's state) until `check()` holds; fail after `seconds`."""
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, "condition not reached"
        await asyncio.sleep(0.01)


def _post(h: Harness, key: str, body: dict[str, Any], pixel: str | None = None
          ) -> Awaitable[httpx.Response]:
    return h.client.post(QUERY, json=body, headers=h.headers(key, pixel or h.pixel_id))


@pytest.mark.parametrize("limits", [{"query_timeout_seconds": 0.3}])
async def test_a_slow_query_is_cancelled_at_the_limit_on_rest_and_graphql(
        harness: Harness) -> None:
    """Rule (issue #12): past GATEWAY_QUERY_TIMEOUT_SECONDS an analytics query is cancelled,
    its statement stopped in the database, and the client reads QUERY_TIMEOUT: 504 in the
    Upstack body on REST, `extensions.code` (and the limit) on GraphQL. The statement would
    run for seconds (60 rows at ~80 ms); the answer comes near the limit. Afterwards the
    pool is whole and the same connections answer normal queries (nothing poisoned)."""
    await seed_slow_rows(harness, harness.pixel_id, rows=60)
    key = await harness.mint("analytics:read")
    started = time.monotonic()
    response = await _post(harness, key, SLOW_QUERY)
    assert time.monotonic() - started < 2.0
    assert_upstack_error(response, 504, message="time limit of 0.3 s")
    assert set(response.json()) == {"message"}

    started = time.monotonic()
    body = await harness.graphql(ANALYTICS_GRAPHQL, {"f": SLOW_FILTER}, key=key,
                                 pixel=harness.pixel_id)
    assert time.monotonic() - started < 2.0
    assert_graphql_error(body, "QUERY_TIMEOUT", path=["analytics"])
    assert body["errors"][0]["extensions"]["timeoutSeconds"] == 0.3

    db = harness.state.db
    assert db.admission.running == 0
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # a QueuePool
    for _ in range(3):
        fast = await _post(harness, key, FAST_QUERY)
        assert fast.status_code == 200, fast.text
        assert fast.json()["results"][0]["measureDetails"][0]["primaryTotal"] == 60
    fast_graphql = await harness.graphql(ANALYTICS_GRAPHQL, {"f": None}, key=key,
                                         pixel=harness.pixel_id)
    assert fast_graphql["data"]["analytics"]["totals"] == [
        {"measure": "web.page_views", "value": 60}]


@pytest.mark.parametrize("limits", [{"query_timeout_seconds": 0.8,
                                     "query_pixel_concurrency": 2, "query_concurrency": 4}])
async def test_the_pixel_cap_admits_the_next_query_only_when_one_finishes(
        harness: Harness) -> None:
    """Rule (issue #12): at most GATEWAY_QUERY_PIXEL_CONCURRENCY queries of one pixel run
    at once. With two slow queries of pixel A running, A's third query (a fast one) waits,
    and is answered only after one of them has finished (here: at its time limit); a query
    of pixel B meanwhile is admitted and answered at once."""
    other = await harness.create_pixel(name="other")
    await seed_slow_rows(harness, harness.pixel_id, rows=60)
    key = await harness.mint("analytics:read", pixels=None)
    admission = harness.state.db.admission
    done_at: dict[str, float] = {}

    async def timed(name: str, body: dict[str, Any], pixel: str | None = None
                    ) -> httpx.Response:
        response = await _post(harness, key, body, pixel)
        done_at[name] = time.monotonic()
        return response

    slow = [asyncio.create_task(timed(f"slow{i}", SLOW_QUERY)) for i in range(2)]
    await _until(lambda: admission.running_for(harness.pixel_id) == 2)
    third = asyncio.create_task(timed("third", FAST_QUERY))
    await asyncio.sleep(0.2)
    assert not third.done()  # waiting for one of the two

    b = await timed("b", FAST_QUERY, other)
    assert b.status_code == 200, b.text
    assert admission.running_for(harness.pixel_id) == 2  # B did not wait for A's queries

    for task in slow:
        assert_upstack_error(await task, 504)
    answer = await third
    assert answer.status_code == 200, answer.text
    assert done_at["third"] >= min(done_at["slow0"], done_at["slow1"])
    assert done_at["b"] < min(done_at["slow0"], done_at["slow1"])


@pytest.mark.parametrize("limits", [{"query_timeout_seconds": 0.8,
                                     "query_pixel_concurrency": 1,
                                     "query_queue_seconds": 0.2, "query_queue_depth": 1}])
async def test_a_query_that_finds_no_slot_in_time_is_429_with_retry_after(
        harness: Harness) -> None:
    """Decision (issue #12, docs/decisions.md): a query waits for its slot in arrival order,
    at most GATEWAY_QUERY_QUEUE_SECONDS and behind at most GATEWAY_QUERY_QUEUE_DEPTH queries
    of its pixel; past either it is refused with 429 RATE_LIMITED and Retry-After (the
    whole seconds by which every running query has ended), on REST and GraphQL alike."""
    await seed_slow_rows(harness, harness.pixel_id, rows=60)
    key = await harness.mint("analytics:read")
    admission = harness.state.db.admission
    slow = asyncio.create_task(_post(harness, key, SLOW_QUERY))
    await _until(lambda: admission.running_for(harness.pixel_id) == 1)

    started = time.monotonic()
    waited, refused = await asyncio.gather(_post(harness, key, FAST_QUERY),
                                           _post(harness, key, FAST_QUERY))
    for response in (waited, refused):
        assert_upstack_error(response, 429, message="retry later")
        assert response.headers["retry-after"] == "1"
    assert "waiting already" in refused.text  # the queue (depth 1) was full: at once
    assert time.monotonic() - started >= 0.2  # the other waited its 0.2 s first

    body = await harness.graphql(ANALYTICS_GRAPHQL, {"f": None}, key=key,
                                 pixel=harness.pixel_id)
    assert_graphql_error(body, "RATE_LIMITED", path=["analytics"])
    assert body["errors"][0]["extensions"]["retryAfter"] == 1
    assert_upstack_error(await slow, 504)
    after = await _post(harness, key, FAST_QUERY)
    assert after.status_code == 200, after.text
