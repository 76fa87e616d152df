from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.support import Clock, Harness


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite3'}",
                    secret="test-secret-" + "x" * 32)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def harness(settings: Settings, clock: Clock) -> AsyncIterator[Harness]:
    """A fresh app on its own SQLite file, with one organization and one pixel."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            h = Harness(client=client, state=app.state.gateway, clock=clock)
            h.organization_id = await h.create_organization()
            h.pixel_id = await h.create_pixel()
            yield h
