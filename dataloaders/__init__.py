"""Per-request DataLoaders: built fresh for every request (`Context.loaders`), never shared,
so nothing cached outlives the request that loaded it."""

from __future__ import annotations

from dataloaders.alerts import make_alert_history_loader
from dataloaders.dashboards import make_view_loader, make_widget_data_loader
from dataloaders.pixels import make_pixel_loader
from gateway.storage import Database

__all__ = ["Loaders"]


class Loaders:
    """The loaders of one request. Add one attribute per entity."""

    def __init__(self, db: Database) -> None:
        self.pixel = make_pixel_loader(db)
        self.dashboard_view = make_view_loader(db)
        self.widget_data = make_widget_data_loader(db)
        self.alert_history = make_alert_history_loader(db)
