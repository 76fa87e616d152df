"""ClickStack (HyperDX) external API v2: `/api/v2/alerts`, `/api/v2/webhooks`.

Auth `Authorization: Bearer <key>` (our API keys; a key reaching several pixels also sends
`x-pixel-id`). Success bodies are `{"data": …}` (200, also on create), deletes answer `{}`,
lists are paginated `{data, meta: {total, limit, offset}}` with an `X-Total-Count` header.
"""

from __future__ import annotations

from starlette.routing import Route

from gateway.rest.clickstack import alerts, webhooks
from gateway.rest.clickstack.surface import surface

__all__ = ["routes", "surface"]


def routes() -> list[Route]:
    return [*alerts.routes(), *webhooks.routes()]
