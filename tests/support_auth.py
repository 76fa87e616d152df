"""Helpers for the auth tests (issue #3): users, logins, and a second app on the same file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gateway.app import create_app
from gateway.auth.principal import system_principal
from gateway.services import users as user_service
from gateway.settings import Settings
from tests.support import Clock, Harness

__all__ = ["PASSWORD", "add_user", "flush_background", "graphql", "login", "second_app"]

PASSWORD = "correct horse battery"


async def add_user(h: Harness, email: str, role: str, *, password: str = PASSWORD,
                   organization_id: str | None = None,
                   pixel_ids: list[str] | None = None) -> str:
    """A user made by the users service as the operator (reaching `pixel_ids`, None: every
    pixel); returns its id."""
    row = await user_service.create_user(
        h.state.db, h.state.settings, system_principal(organization_id or h.organization_id),
        email=email, password=password, role=role, pixel_ids=pixel_ids, now=h.clock())
    return row.id


async def login(h: Harness, email: str, password: str = PASSWORD) -> httpx.Response:
    return await h.client.post("/accounts/api/auth/login",
                               json={"email": email, "password": password})


async def flush_background(h: Harness) -> None:
    """Write what the background writers hold (the audit log and keys' lastUsedAt) now."""
    assert h.state.audit is not None and h.state.key_usage is not None
    await h.state.audit.flush()
    await h.state.key_usage.flush()


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=headers or {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@asynccontextmanager
async def second_app(settings: Settings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """Another gateway process on the same database file (its own caches and state)."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
