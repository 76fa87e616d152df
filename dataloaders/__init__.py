"""Per-request DataLoaders: built fresh for every request (`Context.loaders`), never shared,
so nothing cached outlives the request that loaded it."""

from __future__ import annotations

from dataloaders.pixels import make_pixel_loader
from gateway.storage import Database

__all__ = ["Loaders"]


class Loaders:
    """The loaders of one request. Add one attribute per entity."""

    def __init__(self, db: Database) -> None:
        self.pixel = make_pixel_loader(db)
