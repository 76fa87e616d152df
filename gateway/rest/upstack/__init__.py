"""Upstack Data: `/db-mgmt/api/*`, `/accounts/api/*`, `/tr/api/*`.

Auth headers `x-api-key` + `x-pixel-id`. One module per area; `routes()` gathers them.
"""

from __future__ import annotations

from starlette.routing import Route

from gateway.rest.upstack import audit, events, keys, measures, queries, users, views
from gateway.rest.upstack.surface import surface

__all__ = ["routes", "surface"]


def routes() -> list[Route]:
    return [
        *measures.routes(),
        *queries.routes(),
        *views.routes(),
        *keys.routes(),
        *users.routes(),
        *audit.routes(),
        *events.routes(),
    ]
