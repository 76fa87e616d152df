"""Test harness: the real app on a real SQLite file, arranged through public operations.

`Harness` wraps an httpx client over `ASGITransport` (with the app's lifespan entered) and
offers the arrangements every test needs: organizations, pixels and keys made by the same
services the CLI uses, and one-line GraphQL/REST calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth.principal import system_principal
from gateway.context import AppState
from gateway.egress import Resolver
from gateway.services import keys as key_service
from gateway.services import tenancy
from gateway.settings import Settings
from tests.support_alerts import Dns

__all__ = ["Clock", "Harness", "assert_graphql_error", "assert_upstack_error", "open_harness",
           "wrong_key"]


@dataclass
class Clock:
    """Controllable time: `clock.advance(minutes=5)`."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def wrong_key(key: str) -> str:
    """`key` with its last character changed: it fails the checksum (never the same key, as
    `key[:-1] + "x"` is for one key in 62)."""
    return key[:-1] + ("y" if key.endswith("x") else "x")


@dataclass
class Harness:
    client: httpx.AsyncClient
    state: AppState
    clock: Clock
    organization_id: str = ""
    pixel_id: str = ""
    app: Starlette | None = None

    async def create_organization(self, name: str = "Acme") -> str:
        return (await tenancy.create_organization(self.state.db, name, self.clock())).id

    async def create_pixel(self, organization_id: str | None = None, name: str = "site",
                           timezone: str = "UTC") -> str:
        row = await tenancy.create_pixel(self.state.db, organization_id or self.organization_id,
                                         name, self.clock(), timezone=timezone)
        return row.id

    async def mint(self, *scopes: str, pixels: list[str] | str | None = "default",
                   organization_id: str | None = None, name: str = "test key",
                   expires_at: datetime | None = None, rate_tier: str = "standard") -> str:
        """A key secret. `pixels="default"` restricts it to the harness pixel; None = all."""
        pixel_ids = [self.pixel_id] if pixels == "default" else pixels
        created = await key_service.create_key(
            self.state.db, self.state.settings,
            system_principal(organization_id or self.organization_id), name=name,
            scopes=list(scopes), pixel_ids=pixel_ids,  # type: ignore[arg-type]  # None (every pixel) or a list, once 'default' is replaced
            now=self.clock(), expires_at=expires_at, rate_tier=rate_tier)
        return created.secret

    @staticmethod
    def headers(key: str | None = None, pixel: str | None = None) -> dict[str, str]:
        h = {}
        if key is not None:
            h["x-api-key"] = key
        if pixel is not None:
            h["x-pixel-id"] = pixel
        return h

    async def graphql(self, query: str, variables: dict[str, Any] | None = None, *,
                      key: str | None = None, pixel: str | None = None,
                      headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}},
            headers={**self.headers(key, pixel), **(headers or {})})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def open_harness(settings: Settings, clock: Clock, *, resolver: Resolver | None = None,
                       tenant: bool = False) -> AsyncIterator[Harness]:
    """The app of `settings` with its lifespan entered, behind a client. `tenant=True` makes
    one organization and one pixel (what the `harness` fixture has); without it a second app
    on the same file reuses the first one's. `resolver` is the egress guard's name resolver:
    by default a `Dns` that knows no name, so no test depends on the machine's DNS."""
    app = create_app(settings, clock=clock, resolver=resolver or Dns())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            h = Harness(client=client, state=app.state.gateway, clock=clock, app=app)
            if tenant:
                h.organization_id = await h.create_organization()
                h.pixel_id = await h.create_pixel()
            yield h


def assert_upstack_error(response: httpx.Response, status: int, *,
                         message: str | None = None, fields: list[str] | None = None) -> None:
    """The Upstack error envelope: {"message"} plus {"errors":[{message,key,path}]} on 400."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    if message is not None:
        assert message in body["message"], body
    if fields is not None:
        assert [e["key"] for e in body["errors"]] == fields, body
        for e in body["errors"]:
            assert set(e) == {"message", "key", "path"}, e
    assert "key_hash" not in response.text


def assert_graphql_error(body: dict[str, Any], code: str, *, path: list[Any] | None = None) -> None:
    """A GraphQL error with `extensions.code`."""
    errors = body.get("errors") or []
    assert errors, body
    assert errors[0]["extensions"]["code"] == code, errors
    if path is not None:
        assert errors[0]["path"] == path, errors
