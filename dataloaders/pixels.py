"""Pixels by id, batched: one SELECT per request tick however many fields ask."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from gateway.services.tenancy import find_reachable_pixels

if TYPE_CHECKING:
    from gateway.auth.principal import Principal
    from gateway.storage import Database
    from gateway.storage.models import PixelRow

__all__ = ["make_pixel_loader"]


def make_pixel_loader(db: Database, principal: Callable[[], Principal | None]
                      ) -> DataLoader[str, PixelRow | None]:
    """Pixels the credential can reach, by id; any other is None, as if missing."""

    async def load(ids: list[str]) -> list[PixelRow | None]:
        rows = await find_reachable_pixels(db, principal(), ids)
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)
