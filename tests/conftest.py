from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness
from tests.support_alerts import Dns


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on the test's own SQLite file. argon2 at 1 MiB and one pass: a test user
    costs ~1 ms instead of ~0.3 s of CPU (180 hashes and checks took a minute of the suite);
    tests about that cost (tests/auth/test_login_throttle.py) restore the defaults."""
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite3'}",
                    secret="test-secret-" + "x" * 32,
                    password_memory_kib=1024, password_passes=1, password_lanes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dns() -> Dns:
    """The names the app's egress guard can resolve (none until a test adds them)."""
    return Dns()


@pytest.fixture
async def harness(settings: Settings, clock: Clock, dns: Dns) -> AsyncIterator[Harness]:
    """A fresh app on its own SQLite file, with one organization and one pixel."""
    async with open_harness(settings, clock, resolver=dns, tenant=True) as h:
        yield h
