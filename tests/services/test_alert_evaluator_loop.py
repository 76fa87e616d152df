"""The evaluator loop started by the app's lifespan (issue #6)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from gateway.settings import Settings
from tests.services.test_alert_evaluator import SECRET, T0, _alert, _purchases
from tests.support import Harness
from tests.support_alerts import Receiver, valid_signature


@pytest.fixture
def settings(new_database: Callable[..., str]) -> Settings:
    return Settings(database_url=new_database(),
                    secret="test-secret-" + "x" * 32, webhook_backoff_seconds=0.01,
                    alert_tick_seconds=0.05,
                    webhook_allow_private=True)  # the receiver is on loopback (issue #10)


async def test_the_running_loop_notifies(harness: Harness) -> None:
    """The evaluator task started by the app's lifespan evaluates on its own (the harness
    clock stands at 12:00, so the 11:00-12:00 window is due)."""
    key = await harness.mint("alerts:write")
    await _purchases(harness, (T0 + timedelta(minutes=30), 250))
    async with Receiver() as receiver:
        alert = await _alert(harness, key, receiver.url)
        await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
        assert receiver.requests[0].json()["alertId"] == alert["id"]
        assert valid_signature(SECRET, receiver.requests[0])
