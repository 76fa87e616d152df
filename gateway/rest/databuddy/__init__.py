"""Databuddy-compatible routes (`/v1/...`): `x-api-key` or `Authorization: Bearer`, and the
session cookie for browser apps. The routes arrive with the query engine; the error dialect
(`surface`) is ready for them."""

from __future__ import annotations

from starlette.routing import Route

from gateway.rest.databuddy.surface import surface

__all__ = ["routes", "surface"]


def routes() -> list[Route]:
    return []
