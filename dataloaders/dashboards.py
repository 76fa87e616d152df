"""Dashboard loaders: views by id (federation references) and widget series batched by
(pixel, date range, granularity), so a page of many widgets costs one engine call per group."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from gateway.services.dashboards import find_views_by_id
from gateway.services.widget_data import Series, SeriesKey, compute_series

if TYPE_CHECKING:
    from gateway.auth.principal import Principal
    from gateway.cost import CostLedger
    from gateway.storage import Database
    from gateway.storage.dashboard_tables import DashboardViewRow

__all__ = ["make_view_loader", "make_widget_data_loader"]


def make_view_loader(db: Database, principal: Callable[[], Principal | None]
                     ) -> DataLoader[str, DashboardViewRow | None]:
    """The request pixel's views by id (dashboards:read); another pixel's is None."""

    async def load(ids: list[str]) -> list[DashboardViewRow | None]:
        rows = await find_views_by_id(db, principal(), ids)
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def make_widget_data_loader(db: Database, principal: Callable[[], Principal | None],
                            cost: CostLedger | None = None) -> DataLoader[SeriesKey, Series]:
    """Widget series (dashboards:read); a key of another pixel answers NotFound. Each engine
    query is admitted to the request's `cost` ledger first."""

    async def load(keys: list[SeriesKey]) -> list[Series | BaseException]:
        return list(await compute_series(db, principal(), keys, cost=cost))

    return DataLoader(load_fn=load)
