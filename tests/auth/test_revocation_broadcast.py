"""Key changes reach every process on PostgreSQL, through LISTEN/NOTIFY or Redis pub/sub,
so the key cache is on there too (issue #16): two app instances on one database, each with
its own cache and its own subscription; a lost subscription turns its cache off until it is
back. (On SQLite the same rules hold through the signal file: tests/auth/test_revocation.py.)
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import text

from gateway.auth.revocation import BroadcastSignal, redis_channel
from gateway.settings import Settings
from gateway.storage.notify import LISTENER_NAME
from tests.auth.test_revocation import PIXELS, _key_id, count_statements
from tests.support import Clock, Harness, open_harness
from tests.support_auth import graphql, second_app

pytestmark = pytest.mark.postgres_only("LISTEN/NOTIFY and the broadcast signal are "
                                       "PostgreSQL's (SQLite uses its signal file)")

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["listen", "redis"])
def transport(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The settings of both apps: PostgreSQL LISTEN/NOTIFY, or Redis pub/sub."""
    return settings if request.param == "listen" else replace(settings, redis_url=REDIS)


async def test_revoke_and_rotate_reach_the_other_process_at_once(
        transport: Settings, clock: Clock) -> None:
    """A revocation through one app is refused by the other on its very next request, with
    both caches on (the announcement returns once every subscriber has emptied its cache);
    the same for a rotation's old secret."""
    async with open_harness(transport, clock, tenant=True) as harness, \
            second_app(transport, clock) as other:
        assert isinstance(harness.state.key_cache.signal, BroadcastSignal)
        admin = await harness.mint("keys:admin", "analytics:read")
        doomed = await harness.mint("analytics:read")
        rotating = await harness.mint("analytics:read")
        for secret in (doomed, rotating):
            for _ in range(2):  # the second is a hit in the other process's cache
                assert "errors" not in await graphql(other, PIXELS,
                                                     headers={"x-api-key": secret})
        doomed_id = await _key_id(harness, admin, doomed)
        body = await harness.graphql("mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
                                     {"id": doomed_id}, key=admin)
        assert body["data"]["revokeApiKey"]["status"] == "REVOKED"
        refused = await graphql(other, PIXELS, headers={"x-api-key": doomed})
        assert refused["errors"][0]["extensions"]["code"] == "INVALID_API_KEY"
        rotated = await harness.graphql(
            "mutation($id: ID!) { rotateApiKey(id: $id) { secret } }",
            {"id": await _key_id(harness, admin, rotating)}, key=admin)
        old = await graphql(other, PIXELS, headers={"x-api-key": rotating})
        assert old["errors"][0]["extensions"]["code"] == "INVALID_API_KEY"
        new = rotated["data"]["rotateApiKey"]["secret"]
        assert "errors" not in await graphql(other, PIXELS, headers={"x-api-key": new})


async def test_a_lost_listener_turns_its_cache_off_until_it_is_back(harness: Harness) -> None:
    """While the LISTEN connection is down a revocation could go unheard, so the process
    caches nothing and serves nothing from its cache (each request reads its key row); the
    listener reconnects by itself and the cache is on again."""
    signal = harness.state.key_cache.signal
    assert isinstance(signal, BroadcastSignal) and signal.connected
    secret = await harness.mint("analytics:read")
    assert "errors" not in await harness.graphql(PIXELS, key=secret)  # cached
    notifier = harness.state.db.notifier
    assert notifier is not None
    notifier.first_backoff = 0.5  # the outage lasts long enough to be looked at
    async with harness.state.db.engine.begin() as conn:
        killed = (await conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "datname = current_database() AND application_name = :name"),
            {"name": LISTENER_NAME})).scalars().all()
    assert killed == [True]
    for _ in range(100):
        if not signal.connected:
            break
        await asyncio.sleep(0.01)
    assert not signal.connected
    with count_statements(harness.state.db) as seen:
        for _ in range(2):
            assert "errors" not in await harness.graphql(PIXELS, key=secret)
    assert not signal.connected
    assert len([s for s in seen if "FROM api_key" in s]) == 2  # each request read its key
    for _ in range(300):
        if signal.connected:
            break
        await asyncio.sleep(0.01)
    assert signal.connected
    assert "errors" not in await harness.graphql(PIXELS, key=secret)
    with count_statements(harness.state.db) as seen:
        assert "errors" not in await harness.graphql(PIXELS, key=secret)
    assert not [s for s in seen if "FROM api_key" in s]  # cached again


def test_deployments_sharing_a_redis_have_their_own_channel() -> None:
    """Two gateways on one Redis (staging and production) never empty each other's caches:
    the channel is named by a digest of the deployment's secret, which it does not reveal."""
    a, b = redis_channel("a" * 40), redis_channel("b" * 40)
    assert a != b and a == redis_channel("a" * 40)
    assert "a" * 8 not in a.removeprefix("gateway_key_changes:")
