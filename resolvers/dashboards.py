"""Dashboard view fields and mutations, and the widget `data` field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import strawberry
from strawberry.scalars import JSON

from gateway.context import Info
from gateway.drafts import JSONValue, PresetDraft, ViewDraft
from gateway.errors import FieldError
from gateway.periods import DEFAULT_PRESET
from gateway.services import dashboards as service
from gateway.services import widget_data
from gateway.types.dashboards import (
    DashboardView,
    Widget,
    WidgetData,
    WidgetDateRangeInput,
    WidgetKind,
    WidgetPoint,
)

__all__ = [
    "DashboardsMutation",
    "DashboardsQuery",
    "copy_view",
    "create_view",
    "create_view_from_preset",
    "resolve_copy_view",
    "resolve_create_view",
    "resolve_create_view_from_preset",
    "resolve_delete_view",
    "resolve_update_view",
    "resolve_view",
    "resolve_view_reference",
    "resolve_views",
    "resolve_widget_data",
    "update_view",
]


@strawberry.input(description="A widget's place: x 0..11 and a width in columns of 12.")
class WidgetLayoutInput:
    x: int
    y: int
    columns: int = 3
    rows: int = 2


@strawberry.input
class WidgetInput:
    measure: str = strawberry.field(description="A catalog key or title.")
    id: str | None = None
    title: str | None = strawberry.field(default=None, description="Defaults to the "
                                         "measure's title.")
    kind: WidgetKind = WidgetKind.SPARKLINE
    layout: WidgetLayoutInput | None = strawberry.field(
        default=None, description="Omit to place the widget at the first free spot.")
    options: JSON | None = None


@strawberry.input(description="Fixed days (start, end), or a preset such as last_30_days.")
class ViewDateRangeInput:
    start: date | None = None
    end: date | None = None
    preset: str | None = None


@strawberry.input(description="Upstack's configuration document; unset fields keep their "
                  "value on update and take defaults on create.")
class DashboardConfigurationInput:
    widgets: list[WidgetInput] | None = strawberry.UNSET
    date_range: ViewDateRangeInput | None = strawberry.UNSET
    filters: JSON | None = strawberry.UNSET
    granularity: str | None = strawberry.UNSET
    attribution_model: str | None = strawberry.UNSET
    attribution_window: int | None = strawberry.UNSET


@strawberry.input
class CreateDashboardViewInput:
    name: str
    description: str | None = None
    type: str = "view"
    order: int | None = None
    configuration: DashboardConfigurationInput | None = None


@strawberry.input(description="Only the fields sent change.")
class UpdateDashboardViewInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    order: int | None = strawberry.UNSET
    configuration: DashboardConfigurationInput | None = strawberry.UNSET


@strawberry.input
class PresetWidgetInput:
    measure: str = strawberry.field(description="A catalog key or title.")
    title: str | None = None


@strawberry.input
class DashboardViewFromPresetInput:
    name: str
    widgets: list[PresetWidgetInput]
    chart_types: list[WidgetKind] | None = strawberry.field(
        default=None, description="Chart type per widget, paired by position; default sparkline.")
    type: str = "view"
    granularity: str = "day"
    date_range: ViewDateRangeInput | None = None


def _date_range(value: ViewDateRangeInput | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if value.preset is not None:
        return {"preset": value.preset}
    return {"start": None if value.start is None else value.start.isoformat(),
            "end": None if value.end is None else value.end.isoformat()}


def _widget(w: WidgetInput) -> dict[str, Any]:
    out: dict[str, Any] = {"measure": w.measure, "chartType": w.kind.value}
    if w.id is not None:
        out["id"] = w.id
    if w.title is not None:
        out["title"] = w.title
    if w.layout is not None:
        out["layout"] = {"x": w.layout.x, "y": w.layout.y, "columns": w.layout.columns,
                         "rows": w.layout.rows}
    if w.options is not None:
        out["options"] = w.options
    return out


def _configuration(c: DashboardConfigurationInput) -> dict[str, Any]:
    """The set fields of the input, in Upstack's spelling."""
    out: dict[str, Any] = {}
    if c.widgets is not strawberry.UNSET:
        out["widgets"] = [_widget(w) for w in c.widgets or []]
    if c.date_range is not strawberry.UNSET:
        out["dateRange"] = _date_range(c.date_range)
    if c.filters is not strawberry.UNSET:
        out["filters"] = c.filters or {}
    if c.granularity is not strawberry.UNSET:
        out["granularity"] = c.granularity
    if c.attribution_model is not strawberry.UNSET:
        out["attributionModel"] = c.attribution_model
    if c.attribution_window is not strawberry.UNSET:
        out["attributionWindow"] = c.attribution_window
    return out


async def resolve_views(info: Info, type: str | None = None) -> list[DashboardView]:
    rows = await service.list_views(info.context.db, info.context.principal, view_type=type)
    return [DashboardView.from_row(r) for r in rows]


async def resolve_view(info: Info, id: strawberry.ID) -> DashboardView:
    return DashboardView.from_row(
        await service.get_view(info.context.db, info.context.principal, str(id)))


async def resolve_view_reference(info: Info, view_id: str) -> DashboardView | None:
    ctx = info.context
    row = await service.find_view_reference(ctx.loaders.dashboard_view, ctx.principal, view_id)
    return None if row is None else DashboardView.from_row(row)


async def create_view(info: Info, draft: ViewDraft) -> DashboardView:
    """`createDashboardView`, from the draft its input or an Upstack body makes."""
    ctx = info.context
    return DashboardView.from_row(await service.create_view(ctx.db, ctx.principal, draft,
                                                            now=ctx.now()))


async def resolve_create_view(info: Info, input: CreateDashboardViewInput) -> DashboardView:
    config = None if input.configuration is None else _configuration(input.configuration)
    return await create_view(info, ViewDraft(
        name=input.name, configuration=config, view_type=input.type,
        description=input.description, order=input.order))


async def update_view(info: Info, view_id: str, changes: Mapping[str, JSONValue], *,
                      expected_version: int | None) -> DashboardView:
    """`updateDashboardView`: `changes` in Upstack's spelling (an Upstack PATCH body)."""
    ctx = info.context
    row = await service.update_view(ctx.db, ctx.principal, view_id, changes,
                                    expected_version=expected_version, now=ctx.now())
    return DashboardView.from_row(row)


async def resolve_update_view(info: Info, id: strawberry.ID, input: UpdateDashboardViewInput,
                              version: int | None = None) -> DashboardView:
    changes: dict[str, JSONValue] = {}
    for name in ("name", "description", "order"):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            changes[name] = value
    if input.configuration is not strawberry.UNSET and input.configuration is not None:
        changes["configuration"] = _configuration(input.configuration)
    return await update_view(info, str(id), changes, expected_version=version)


async def resolve_delete_view(info: Info, id: strawberry.ID) -> strawberry.ID:
    await service.delete_view(info.context.db, info.context.principal, str(id))
    return id


async def copy_view(info: Info, view_id: str, *, name: JSONValue = None,
                    body_errors: Sequence[FieldError] = ()) -> DashboardView:
    """`copyDashboardView`; `body_errors`: the REST body's unknown fields (reported after the
    scope check)."""
    ctx = info.context
    return DashboardView.from_row(await service.copy_view(
        ctx.db, ctx.principal, view_id, name=name, body_errors=body_errors, now=ctx.now()))


async def resolve_copy_view(info: Info, id: strawberry.ID,
                            name: str | None = None) -> DashboardView:
    return await copy_view(info, str(id), name=name)


async def create_view_from_preset(info: Info, draft: PresetDraft) -> DashboardView:
    """`createDashboardViewFromPreset`, from the draft its input or an Upstack body makes."""
    ctx = info.context
    return DashboardView.from_row(await service.create_view_from_preset(
        ctx.db, ctx.principal, draft, now=ctx.now()))


async def resolve_create_view_from_preset(info: Info,
                                          input: DashboardViewFromPresetInput) -> DashboardView:
    return await create_view_from_preset(info, PresetDraft(
        name=input.name,
        widgets=[{"measure": w.measure, **({"title": w.title} if w.title else {})}
                 for w in input.widgets],
        chart_types=None if input.chart_types is None else [k.value for k in input.chart_types],
        view_type=input.type, granularity=input.granularity,
        date_range=_date_range(input.date_range)))


async def resolve_widget_data(info: Info, widget: Widget, *,
                              date_range: WidgetDateRangeInput | None,
                              granularity: str | None) -> WidgetData:
    ctx = info.context
    if date_range is not None:
        spec: tuple[str, ...] = ("dates", date_range.start.isoformat(), date_range.end.isoformat())
    elif widget.default_range is not None and "start" in widget.default_range:
        spec = ("dates", widget.default_range["start"], widget.default_range["end"])
    else:
        spec = ("preset", (widget.default_range or {}).get("preset", DEFAULT_PRESET))
    series = await widget_data.widget_series(
        ctx.loaders.widget_data, ctx.principal, pixel_id=widget.pixel_id,
        measure=widget.measure, range_spec=spec,
        granularity=granularity or widget.default_granularity, now=ctx.now(),
        filters=widget.view_filters)
    return WidgetData(
        measure=series.measure, granularity=series.granularity, start=series.start,
        end=series.end, total=series.total,
        points=[WidgetPoint(start=p.start, end=p.end, value=p.value) for p in series.points])


@strawberry.type
class DashboardsQuery:
    dashboard_views: list[DashboardView] = strawberry.field(
        resolver=resolve_views, description="The pixel's dashboard views (dashboards:read); "
        "`type` keeps one kind (view, attribution_view, pnl_view).")
    dashboard_view: DashboardView = strawberry.field(
        resolver=resolve_view, description="One view; NOT_FOUND when missing or another pixel's.")


@strawberry.type
class DashboardsMutation:
    create_dashboard_view: DashboardView = strawberry.field(
        resolver=resolve_create_view, description="Create a view (dashboards:write).")
    update_dashboard_view: DashboardView = strawberry.field(
        resolver=resolve_update_view, description="Change name, description, order or "
        "configuration. Pass `version` to refuse the write (STALE_VERSION) if the view "
        "changed since you read it.")
    delete_dashboard_view: strawberry.ID = strawberry.field(
        resolver=resolve_delete_view, description="Delete a view and the alerts on its widgets.")
    copy_dashboard_view: DashboardView = strawberry.field(
        resolver=resolve_copy_view, description="Copy a view; name defaults to '<name> (copy)'.")
    create_dashboard_view_from_preset: DashboardView = strawberry.field(
        resolver=resolve_create_view_from_preset, description="Lay out one sparkline tile per "
        "measure (3 columns x 2 rows, four per row, reading order).")
