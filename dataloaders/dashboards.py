"""Dashboard loaders: views by id (federation references) and widget series batched by
(pixel, date range, granularity), so a page of many widgets costs one engine call per group."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from gateway.services.widget_data import Series, SeriesKey, compute_series
from gateway.storage import Database
from gateway.storage.dashboard_tables import DashboardViewRow
from gateway.storage.dashboards import find_views

__all__ = ["make_view_loader", "make_widget_data_loader"]


def make_view_loader(db: Database) -> DataLoader[str, DashboardViewRow | None]:
    """Rows by id, unchecked: callers (services) compare the pixel before using one."""

    async def load(ids: list[str]) -> list[DashboardViewRow | None]:
        async with db.session() as session:
            rows = await find_views(session, ids)
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def make_widget_data_loader(db: Database) -> DataLoader[SeriesKey, Series]:
    async def load(keys: list[SeriesKey]) -> list[Series | BaseException]:
        return list(await compute_series(db, keys))

    return DataLoader(load_fn=load)
