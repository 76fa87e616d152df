"""Per-request DataLoaders: built fresh for every request (`Context.loaders`), never shared,
so nothing cached outlives the request that loaded it.

Each loader reads through a service function that takes the request's principal (scope and
pixel checked there), so no unchecked row reaches a GraphQL type, whoever calls `load`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dataloaders.alerts import make_alert_history_loader
from dataloaders.dashboards import make_view_loader, make_widget_data_loader
from dataloaders.pixels import make_pixel_loader

if TYPE_CHECKING:
    from gateway.auth.principal import Principal
    from gateway.storage import Database

__all__ = ["Loaders"]


class Loaders:
    """The loaders of one request. Add one attribute per entity. `principal` returns the
    request's caller (raising its credential's error), read when a batch loads."""

    def __init__(self, db: Database, principal: Callable[[], Principal | None]) -> None:
        self.pixel = make_pixel_loader(db, principal)
        self.dashboard_view = make_view_loader(db, principal)
        self.widget_data = make_widget_data_loader(db, principal)
        self.alert_history = make_alert_history_loader(db, principal)
