"""Login throttling: per account, per client address and per process, before any argon2
work, answered RATE_LIMITED with Retry-After on both surfaces (issue #10, item 9).

The rules are about argon2's cost (no check for a throttled attempt, a cap on checks at
once), so this module hashes at the production cost (the suite's `settings` lowers it):
every password checked costs ~0.25 s here, so the limits are small and each test checks as
few passwords as its rule needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from gateway.app import create_app
from gateway.auth.throttle import LoginThrottle, TokenBuckets, account_key, address_key
from gateway.errors import RateLimited
from gateway.settings import Settings
from gateway.storage.models import AuditRow
from tests.support import Clock, Harness, assert_graphql_error, assert_upstack_error
from tests.support_auth import PASSWORD, add_user

# Slow (the fast subset skips it): every password checked costs argon2's production price.
pytestmark = pytest.mark.slow

WRONG = "not the password at all"
LOGIN = ("mutation($e: String!, $p: String!) { login(email: $e, password: $p) "
         "{ user { email } } }")


@dataclass
class Gateway:
    h: Harness
    client: Callable[[str], httpx.AsyncClient]  # a client calling from the given address

    @property
    def throttle(self) -> LoginThrottle:
        return self.h.state.login_throttle

    async def login(self, email: str, password: str = PASSWORD, *,
                    ip: str = "198.51.100.1") -> httpx.Response:
        return await self.client(ip).post("/accounts/api/auth/login",
                                          json={"email": email, "password": password})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with argon2 at its production cost (Settings' defaults)."""
    production = Settings()
    return replace(settings, password_memory_kib=production.password_memory_kib,
                   password_passes=production.password_passes,
                   password_lanes=production.password_lanes)


def _limits(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, login_account_burst=3, login_account_interval_seconds=60.0,
                   login_address_burst=4, login_address_interval_seconds=30.0, **changes)


async def _gateway(settings: Settings, clock: Clock,
                   stack: AsyncExitStack) -> Gateway:
    app = create_app(settings, clock=clock)
    await stack.enter_async_context(app.router.lifespan_context(app))
    clients: dict[str, httpx.AsyncClient] = {}

    def client(ip: str) -> httpx.AsyncClient:
        if ip not in clients:
            transport = httpx.ASGITransport(app=app, client=(ip, 40000))
            clients[ip] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            stack.push_async_callback(clients[ip].aclose)
        return clients[ip]

    h = Harness(client=client("198.51.100.1"), state=app.state.gateway, clock=clock)
    h.organization_id = await h.create_organization()
    h.pixel_id = await h.create_pixel()
    return Gateway(h, client)


@pytest.fixture
async def gw(settings: Settings, clock: Clock) -> AsyncIterator[Gateway]:
    async with AsyncExitStack() as stack:
        yield await _gateway(_limits(settings), clock, stack)


async def test_wrong_logins_then_429_and_the_right_password_is_refused_until_the_window(
        gw: Gateway) -> None:
    """After the account's burst of failures: 429 RATE_LIMITED with Retry-After, for the
    right password too (no oracle), without checking it; after the window, login works and
    resets the account's failures (issue #10)."""
    await add_user(gw.h, "ada@example.com", "viewer")
    cpu = time.process_time()
    for _ in range(3):
        assert_upstack_error(await gw.login("ada@example.com", WRONG), 401)
    one_check = (time.process_time() - cpu) / 3
    checked = gw.throttle.verifications

    cpu = time.process_time()  # all threads of this process: argon2 runs in a worker thread
    refused = [await gw.login("Ada@Example.com ", pw) for pw in (WRONG, PASSWORD) * 3]
    cpu = time.process_time() - cpu
    for response in refused:
        assert_upstack_error(response, 429, message="Too many login attempts")
        assert response.headers["retry-after"] == "60"
        assert "token" not in response.json()
    assert refused[0].json() == refused[1].json()  # right and wrong password: same answer
    assert gw.throttle.verifications == checked  # no password was checked
    assert cpu < one_check, (cpu, one_check)  # six throttled requests < one argon2 check

    gw.h.clock.advance(seconds=59)
    still = await gw.login("ada@example.com")
    assert_upstack_error(still, 429)
    assert still.headers["retry-after"] == "1"
    gw.h.clock.advance(seconds=1)
    assert (await gw.login("ada@example.com")).status_code == 200
    # The success forgave the failures: a typo now is a 401, not a 429 (one regained token
    # alone would have been spent by the success).
    assert_upstack_error(await gw.login("ada@example.com", WRONG), 401)

    assert gw.h.state.audit is not None
    await gw.h.state.audit.flush()
    async with gw.h.state.db.session() as session:
        rows = (await session.execute(select(AuditRow).where(
            col(AuditRow.action) == "user.login", col(AuditRow.outcome) == "denied"))
        ).scalars().all()
    assert len(rows) == 7
    assert {r.principal_label for r in rows} == {"ada@example.com"}
    assert {r.organization_id for r in rows} == {gw.h.organization_id}  # admins see them
    assert all(r.detail and r.detail.startswith("RATE_LIMITED") for r in rows)
    assert {r.ip for r in rows} == {"198.51.100.1"}


async def test_graphql_login_throttled_with_retry_after_in_extensions_and_header(
        gw: Gateway) -> None:
    """GraphQL `login` shares the throttle: extensions.code RATE_LIMITED with retryAfter,
    and the HTTP response carries Retry-After (issue #10)."""
    for _ in range(3):
        body = await gw.h.graphql(LOGIN, {"e": "nobody@example.com", "p": WRONG})
        assert_graphql_error(body, "INVALID_CREDENTIALS")
    response = await gw.h.client.post("/graphql", json={
        "query": LOGIN, "variables": {"e": "nobody@example.com", "p": WRONG}})
    assert response.status_code == 200
    assert_graphql_error(response.json(), "RATE_LIMITED", path=["login"])
    assert response.json()["errors"][0]["extensions"]["retryAfter"] == 60
    assert response.headers["retry-after"] == "60"
    rest = await gw.login("nobody@example.com")  # and REST sees the same account locked
    assert_upstack_error(rest, 429)


async def test_account_limit_follows_the_email_across_addresses_not_other_accounts(
        gw: Gateway) -> None:
    """Per account: a locked account is locked from every address, while another account
    logs in from the attacker's own address (issue #10)."""
    await add_user(gw.h, "bob@example.com", "viewer")
    for _ in range(3):
        assert_upstack_error(await gw.login("ada@example.com", WRONG, ip="203.0.113.9"), 401)
    elsewhere = await gw.login("ada@example.com", ip="192.0.2.77")
    assert_upstack_error(elsewhere, 429)
    assert elsewhere.headers["retry-after"] == "60"
    assert (await gw.login("bob@example.com", ip="203.0.113.9")).status_code == 200


async def test_address_limit_across_emails_leaves_other_addresses_alone(gw: Gateway) -> None:
    """Per client address: four failures on four emails exhaust the address; a fifth email
    from it is refused while the same email from another address is checked (issue #10).
    IPv6 clients share the bucket of their /64."""
    for i in range(4):
        wrong = await gw.login(f"guess{i}@example.com", WRONG, ip="2001:db8:1:2::10")
        assert_upstack_error(wrong, 401)
    same_net = await gw.login("fresh@example.com", WRONG, ip="2001:db8:1:2:ffff::1")
    assert_upstack_error(same_net, 429)
    assert same_net.headers["retry-after"] == "30"
    assert_upstack_error(await gw.login("fresh@example.com", WRONG, ip="2001:db8:1:3::10"),
                         401)
    gw.h.clock.advance(seconds=30)  # one attempt regained
    assert_upstack_error(await gw.login("fresh@example.com", WRONG, ip="2001:db8:1:2::10"),
                         401)


async def test_password_checks_per_process_are_capped(settings: Settings,
                                                      clock: Clock) -> None:
    """Per process: with one verification slot and no queue, concurrent logins from many
    addresses beyond the slot answer RATE_LIMITED (Retry-After 1) without a check, and the
    refused attempt is not charged to its account (issue #10)."""
    async with AsyncExitStack() as stack:
        gw = await _gateway(_limits(settings, login_concurrency=1, login_queue_seconds=0.0),
                            clock, stack)
        responses = await asyncio.gather(*(
            gw.login(f"user{i}@example.com", WRONG, ip=f"192.0.2.{i}") for i in range(4)))
        statuses = [r.status_code for r in responses]
        assert 429 in statuses and 401 in statuses, statuses
        assert gw.throttle.verifications == statuses.count(401)
        for r in responses:
            if r.status_code == 429:
                assert r.headers["retry-after"] == "1"
                assert "in progress" in r.json()["message"]
        busy = statuses.index(429)
        assert len(gw.throttle.accounts) == statuses.count(401)  # the refused one: no record
        assert_upstack_error(await gw.login(f"user{busy}@example.com", WRONG,
                                            ip=f"192.0.2.{busy}"), 401)


async def test_password_checks_wait_briefly_for_a_slot(settings: Settings, clock: Clock) -> None:
    """Beyond the cap an attempt waits up to `login_queue_seconds` for a slot rather than
    being refused at once (issue #10)."""
    async with AsyncExitStack() as stack:
        gw = await _gateway(_limits(settings, login_concurrency=1, login_queue_seconds=30.0),
                            clock, stack)
        responses = await asyncio.gather(*(
            gw.login(f"user{i}@example.com", WRONG, ip=f"192.0.2.{i}") for i in range(2)))
        assert [r.status_code for r in responses] == [401, 401]
        assert gw.throttle.verifications == 2


def test_bucket_keys_are_bounded() -> None:
    """Keys never hold a body's worth of text, IPv6 is keyed by /64, an unknown address has
    no bucket (so it is not shared by every such client), and the set of tracked keys is
    bounded (issue #10)."""
    assert account_key("ada@example.com") == "ada@example.com"
    assert len(account_key("a" * 1_000_000)) < 80
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key(None) is None and address_key("") is None
    buckets = TokenBuckets(burst=2, interval=10.0, max_tracked=3)
    for i in range(10):
        buckets.take(f"k{i}", 0.0)
    assert len(buckets) == 3  # the least recently used keys were forgotten
    assert buckets.wait("k9", 0.0) == 0.0  # one of two left
    buckets.take("k9", 0.0)
    assert buckets.wait("k9", 0.0) == 10.0
    assert buckets.wait("k9", 5.0) == 5.0
    buckets.give_back("k9", 5.0)
    buckets.give_back("k9", 5.0)
    assert buckets.wait("k9", 5.0) == 0.0
    assert len(buckets) == 2  # a full bucket keeps no record


def test_the_throttle_runs_on_the_time_it_is_given() -> None:
    """Time is an input: the buckets run on the datetime the service passes in (the app's
    clock), never the wall clock (issue #10)."""
    throttle = LoginThrottle(account_burst=1, account_interval=60, address_burst=5,
                             address_interval=1)
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    throttle.admit("ada@example.com", None, t0)
    with pytest.raises(RateLimited) as refused:
        throttle.admit("ada@example.com", None, t0.replace(second=30))
    assert refused.value.retry_after == 30
    throttle.admit("ada@example.com", None, t0.replace(minute=1))
