"""Pixels by id, batched: one SELECT per request tick however many fields ask."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from gateway.storage import Database
from gateway.storage.models import PixelRow
from gateway.storage.tenancy import find_pixels

__all__ = ["make_pixel_loader"]


def make_pixel_loader(db: Database) -> DataLoader[str, PixelRow | None]:
    async def load(ids: list[str]) -> list[PixelRow | None]:
        async with db.session() as session:
            rows = await find_pixels(session, ids)
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)
