"""Dashboard views and their widgets. `DashboardView` is a federation entity keyed by `id`.

A view is built from its stored row: typed fields are read out of the stored Upstack
configuration (`widgets`, `dateRange`, `filters`, `granularity`), and the whole document is
also exposed as `configuration` for clients that speak Upstack's shape.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from gateway.context import Info
from gateway.storage.dashboard_tables import DashboardViewRow

__all__ = [
    "DashboardView",
    "ViewDateRange",
    "Widget",
    "WidgetData",
    "WidgetDateRangeInput",
    "WidgetKind",
    "WidgetLayout",
    "WidgetPoint",
]


@strawberry.enum(description="How a widget draws its measure (Upstack `chartType`).")
class WidgetKind(Enum):
    SPARKLINE = "sparkline"
    LINE = "line"
    BAR = "bar"
    NUMBER = "number"
    TABLE = "table"


@strawberry.type(description="A widget's place on the 12-column grid (Upstack `layout`).")
class WidgetLayout:
    x: int = strawberry.field(description="First column, 0..11.")
    y: int = strawberry.field(description="First row from the top.")
    columns: int = strawberry.field(description="Width in columns, 1..12.")
    rows: int = strawberry.field(description="Height in rows.")


@strawberry.type(description="A view's default date range: fixed days, or a relative preset.")
class ViewDateRange:
    start: date | None
    end: date | None
    preset: str | None = strawberry.field(description="e.g. last_30_days; null for fixed days.")


@strawberry.type(description="One bucket of a widget's series.")
class WidgetPoint:
    start: datetime
    end: datetime
    value: float | None


@strawberry.type(description="A widget's measure over a date range, from the query engine.")
class WidgetData:
    measure: str
    granularity: str
    start: datetime
    end: datetime
    total: float | None = strawberry.field(description="Period value (ratios recomputed).")
    points: list[WidgetPoint]


@strawberry.input(description="Days in the pixel's time zone, both inclusive.")
class WidgetDateRangeInput:
    start: date
    end: date


@strawberry.type(description="A tile of a dashboard view.")
class Widget:
    id: strawberry.ID
    title: str
    kind: WidgetKind
    measure: str = strawberry.field(description="Catalog key of the widget's (first) measure.")
    measures: list[str] = strawberry.field(description="Every measure key the widget reads.")
    layout: WidgetLayout
    options: JSON
    view_id: strawberry.Private[str]
    pixel_id: strawberry.Private[str]
    default_range: strawberry.Private[dict[str, Any] | None]
    default_granularity: strawberry.Private[str]
    view_filters: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="The widget's series. Without arguments: the view's default "
                      "date range and granularity. Widgets sharing pixel, range and "
                      "granularity are computed together in one engine call.")  # type: ignore[untyped-decorator]  # field(...) w/o resolver is typed Any
    async def data(self, info: Info, date_range: WidgetDateRangeInput | None = None,
                   granularity: str | None = None) -> WidgetData:
        from resolvers.dashboards import resolve_widget_data

        return await resolve_widget_data(info, self, date_range=date_range,
                                         granularity=granularity)

    @classmethod
    def from_config(cls, w: dict[str, Any], row: DashboardViewRow) -> Widget:
        lay = w["layout"]
        return cls(
            id=strawberry.ID(w["id"]), title=w["title"], kind=WidgetKind(w["chartType"]),
            measure=w["measure"], measures=list(w["dataConfig"]["measures"]),
            layout=WidgetLayout(x=lay["x"], y=lay["y"], columns=lay["columns"], rows=lay["rows"]),
            options=w.get("options", {}), view_id=row.id, pixel_id=row.pixel_id,
            default_range=row.configuration.get("dateRange"),
            default_granularity=row.configuration.get("granularity", "day"),
            view_filters=row.configuration.get("filters") or {},
        )


@strawberry.federation.type(keys=["id"], description="A dashboard view of one pixel.")
class DashboardView:
    id: strawberry.ID
    pixel_id: strawberry.ID
    type: str = strawberry.field(description="view, attribution_view or pnl_view.")
    name: str
    description: str | None
    widgets: list[Widget]
    default_date_range: ViewDateRange | None
    default_filters: JSON
    granularity: str
    configuration: JSON = strawberry.field(description="The whole Upstack configuration "
                                           "document (widgets, dateRange, grid, filters, …).")
    order: int | None
    version: int = strawberry.field(description="Bumped by every write; send it back to "
                                    "update without overwriting someone else's edit.")
    created_at: datetime
    updated_at: datetime
    created_by: strawberry.ID | None = strawberry.field(
        description="The user who created it; null for API-key writes.")
    updated_by: strawberry.ID | None

    @classmethod
    def from_row(cls, row: DashboardViewRow) -> DashboardView:
        config: Any = row.configuration  # strawberry types JSON as an opaque scalar
        spec = config.get("dateRange")
        default_range = None if spec is None else ViewDateRange(
            start=date.fromisoformat(spec["start"]) if "start" in spec else None,
            end=date.fromisoformat(spec["end"]) if "end" in spec else None,
            preset=spec.get("preset"))
        return cls(
            id=strawberry.ID(row.id), pixel_id=strawberry.ID(row.pixel_id), type=row.type,
            name=row.name, description=row.description,
            widgets=[Widget.from_config(w, row) for w in config.get("widgets", [])],
            default_date_range=default_range, default_filters=config.get("filters", {}),
            granularity=config.get("granularity", "day"), configuration=config,
            order=row.order, version=row.version, created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=None if row.created_by is None else strawberry.ID(row.created_by),
            updated_by=None if row.updated_by is None else strawberry.ID(row.updated_by),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> DashboardView | None:
        """Federation entry point: batched through the request's view loader, so a gateway
        resolving many references issues one query (dashboards:read; foreign ids are null)."""
        from resolvers.dashboards import resolve_view_reference

        return await resolve_view_reference(info, str(id))
