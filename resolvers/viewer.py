"""Who am I, and which pixels can I reach."""

from __future__ import annotations

import strawberry

from gateway.auth.policy import require_authenticated
from gateway.context import Info
from gateway.services.tenancy import list_visible_pixels
from gateway.types.tenancy import Pixel, Viewer

__all__ = ["ViewerQuery"]


def resolve_viewer(info: Info) -> Viewer:
    return Viewer.from_principal(require_authenticated(info.context.principal))


async def resolve_pixels(info: Info) -> list[Pixel]:
    rows = await list_visible_pixels(info.context.db, info.context.principal)
    return [Pixel.from_row(r) for r in rows]


@strawberry.type
class ViewerQuery:
    viewer: Viewer = strawberry.field(resolver=resolve_viewer,
                                      description="The credential of this request.")
    pixels: list[Pixel] = strawberry.field(resolver=resolve_pixels,
                                           description="Pixels this credential can reach.")
