"""Dashboard views: list, read, create, update (optimistic concurrency), copy, delete,
build from a preset.

Rules:
- `dashboards:read` to read, `dashboards:write` for everything else (it implies read).
- A view belongs to one pixel; another pixel's view is NotFound for every operation.
- Writes carry the user as createdBy/updatedBy; API keys have none, so those stay empty.
- An update may name the version it edits; a stale one is StaleVersion (409) and nothing
  changes. The version check is a conditional UPDATE, so concurrent writers cannot both win.
- Deleting a view (or a widget, by an update) deletes the alerts set on those widgets, as
  ClickStack does for tiles; an alert follows its widget's measure when that changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.auth.policy import require_owned, require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.drafts import JSONValue, PresetDraft, ViewDraft
from gateway.errors import FieldError, InvalidInput, PixelMismatch, StaleVersion
from gateway.periods import DEFAULT_PRESET, GRANULARITIES
from gateway.services.dashboard_config import (
    VIEW_TYPES,
    WIDGET_KINDS,
    normalize_configuration,
    normalize_widgets,
    raise_if,
)
from gateway.storage import Database
from gateway.storage import alerts as alert_store
from gateway.storage import dashboards as store
from gateway.storage.dashboard_tables import DashboardViewRow

if TYPE_CHECKING:
    from strawberry.dataloader import DataLoader

__all__ = [
    "UPDATABLE_FIELDS",
    "copy_view",
    "create_view",
    "create_view_from_preset",
    "delete_view",
    "find_view_reference",
    "find_views_by_id",
    "get_view",
    "list_views",
    "update_view",
]

NOT_FOUND = "Dashboard view not found"
# PATCH accepts these (Upstack: name, configuration, order; description is ours).
UPDATABLE_FIELDS = ("name", "description", "configuration", "order")


def _name(raw: Any, errors: list[FieldError], path: tuple[str, ...] = ("name",)) -> str:
    if not isinstance(raw, str) or not raw.strip():
        errors.append(FieldError("name is required", path))
        return ""
    if len(raw.strip()) > 200:
        errors.append(FieldError("name is at most 200 characters", path))
    return raw.strip()


def _description(raw: Any, errors: list[FieldError]) -> str | None:
    if raw is not None and (not isinstance(raw, str) or len(raw) > 2000):
        errors.append(FieldError("description must be a string of at most 2000 characters",
                                 ("description",)))
        return None
    return raw or None


def _order(raw: Any, errors: list[FieldError]) -> int | None:
    if raw is not None and (not isinstance(raw, int) or isinstance(raw, bool)):
        errors.append(FieldError("order must be an integer", ("order",)))
        return None
    return raw


def _check_body_pixel(pixel_id: str, body_pixel: Any) -> None:
    """Upstack: a `pixelId` in a body must equal the request's pixel, else 403."""
    if body_pixel is not None and body_pixel != pixel_id:
        raise PixelMismatch(f"pixelId {body_pixel!r} does not match the request's pixel")


def _owned(row: DashboardViewRow | None, pixel_id: str) -> DashboardViewRow:
    return require_owned(row, pixel_id, NOT_FOUND)


async def list_views(db: Database, principal: Principal | None, *,
                     view_type: str | None = None) -> list[DashboardViewRow]:
    """The pixel's views: ordered ones first (by `order`), then by creation."""
    pixel_id = require_pixel(require_scope(principal, "dashboards:read"))
    if view_type is not None and view_type not in VIEW_TYPES:
        raise InvalidInput.field(f"type must be one of {', '.join(VIEW_TYPES)}", "type")
    async with db.session() as session:
        return await store.list_views(session, pixel_id, view_type)


async def get_view(db: Database, principal: Principal | None, view_id: str) -> DashboardViewRow:
    """One view; NotFound when missing or another pixel's."""
    pixel_id = require_pixel(require_scope(principal, "dashboards:read"))
    async with db.session() as session:
        return _owned(await store.find_view(session, view_id), pixel_id)


async def find_views_by_id(db: Database, principal: Principal | None,
                           view_ids: Sequence[str]) -> dict[str, DashboardViewRow]:
    """Views by id (the request's batching loader): only the request pixel's; another
    pixel's view is absent, as if missing."""
    pixel_id = require_pixel(require_scope(principal, "dashboards:read"))
    async with db.session() as session:
        rows = await store.find_views(session, view_ids)
    return {i: r for i, r in rows.items() if r.pixel_id == pixel_id}


async def find_view_reference(loader: DataLoader[str, DashboardViewRow | None],
                              principal: Principal | None,
                              view_id: str) -> DashboardViewRow | None:
    """A view through the request's batching loader (federation references); None when
    missing or another pixel's."""
    pixel_id = require_pixel(require_scope(principal, "dashboards:read"))
    row = await loader.load(view_id)
    return row if row is not None and row.pixel_id == pixel_id else None


async def create_view(db: Database, principal: Principal | None, draft: ViewDraft, *,
                      now: datetime) -> DashboardViewRow:
    """Validate and store a view. Raises InvalidInput listing every problem with its path
    (`name`, `configuration.widgets.2.measure`, …, and the draft's `body_errors`: what the
    REST adapter found in the body's shape, reported after the scope check), PixelMismatch
    when `body_pixel` (a `pixelId` sent in the body) is not the request's pixel."""
    found = require_scope(principal, "dashboards:write")
    pixel_id = require_pixel(found)
    _check_body_pixel(pixel_id, draft.body_pixel)
    errors: list[FieldError] = list(draft.body_errors)
    clean_name = _name(draft.name, errors)
    view_type = draft.view_type
    if not isinstance(view_type, str) or view_type not in VIEW_TYPES:
        errors.append(FieldError(f"type must be one of {', '.join(VIEW_TYPES)}", ("type",)))
        view_type = "view"
    clean_description = _description(draft.description, errors)
    clean_order = _order(draft.order, errors)
    config = normalize_configuration(draft.configuration, ("configuration",), errors)
    raise_if(errors)
    row = DashboardViewRow(
        pixel_id=pixel_id, type=view_type, name=clean_name, description=clean_description,
        configuration=config, order=clean_order, version=1, created_at=now, updated_at=now,
        created_by=found.user_id, updated_by=found.user_id,
    )
    async with db.session() as session:
        await store.insert_view(session, row)
        await session.commit()
    return row


async def update_view(db: Database, principal: Principal | None, view_id: str,
                      changes: Mapping[str, Any], *, expected_version: int | None,
                      now: datetime) -> DashboardViewRow:
    """Apply a partial update: only `UPDATABLE_FIELDS`; any other field is InvalidInput.

    `configuration` keys replace the stored ones key by key (sending `widgets` replaces the
    widget list; `dateRange` alone keeps the widgets). `expected_version` (If-Match or a
    `version` field) makes a stale edit StaleVersion (409) and leaves the view unchanged.
    """
    found = require_scope(principal, "dashboards:write")
    pixel_id = require_pixel(found)
    errors = [FieldError(f"{key} cannot be updated (allowed: {', '.join(UPDATABLE_FIELDS)})",
                         (key,))
              for key in changes if key not in UPDATABLE_FIELDS]
    raise_if(errors)
    async with db.session() as session:
        row = _owned(await store.find_view(session, view_id), pixel_id)
        if expected_version is not None and expected_version != row.version:
            raise StaleVersion(f"Dashboard view is at version {row.version}, "
                               f"not {expected_version}; reload it and retry")
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = _name(changes["name"], errors)
        if "description" in changes:
            values["description"] = _description(changes["description"], errors)
        if "order" in changes:
            values["order"] = _order(changes["order"], errors)
        if "configuration" in changes:
            patch = changes["configuration"]
            if not isinstance(patch, Mapping):
                errors.append(FieldError("configuration must be an object", ("configuration",)))
            else:
                merged = {**row.configuration, **patch}
                values["configuration"] = normalize_configuration(
                    merged, ("configuration",), errors)
        raise_if(errors)
        values["updated_by"] = found.user_id
        if not await store.update_view_if_version(session, view_id, row.version, values, now):
            raise StaleVersion("Dashboard view was changed concurrently; reload it and retry")
        if "configuration" in values:
            # As ClickStack does for tiles: alerts follow their widget or go with it.
            tiles = {w["id"]: w["measure"] for w in values["configuration"]["widgets"]}
            await alert_store.sync_tile_alerts(session, view_id, tiles)
        await session.commit()
        session.expunge_all()
        return _owned(await store.find_view(session, view_id), pixel_id)


async def delete_view(db: Database, principal: Principal | None, view_id: str) -> None:
    """Delete a view and the alerts on its widgets; NotFound when missing or foreign."""
    pixel_id = require_pixel(require_scope(principal, "dashboards:write"))
    async with db.session() as session:
        _owned(await store.find_view(session, view_id), pixel_id)
        await alert_store.delete_alerts_of_view(session, view_id)
        await store.delete_view(session, view_id)
        await session.commit()


async def copy_view(db: Database, principal: Principal | None, view_id: str, *,
                    name: JSONValue = None, body_errors: Sequence[FieldError] = (),
                    now: datetime) -> DashboardViewRow:
    """A new view (version 1) with the source's type, description, order and configuration;
    named `name`, or "<source name> (copy)"."""
    found = require_scope(principal, "dashboards:write")
    pixel_id = require_pixel(found)
    async with db.session() as session:
        source = _owned(await store.find_view(session, view_id), pixel_id)
        errors: list[FieldError] = list(body_errors)
        new_name = _name(name, errors) if name is not None else f"{source.name} (copy)"[:200]
        raise_if(errors)
        row = DashboardViewRow(
            pixel_id=pixel_id, type=source.type, name=new_name, description=source.description,
            configuration=dict(source.configuration), order=source.order, version=1,
            created_at=now, updated_at=now, created_by=found.user_id, updated_by=found.user_id,
        )
        await store.insert_view(session, row)
        await session.commit()
    return row


async def create_view_from_preset(db: Database, principal: Principal | None,
                                  draft: PresetDraft, *, now: datetime) -> DashboardViewRow:
    """A kpi-grid view from `[{"measure", "title"}]`: one sparkline tile per measure (or the
    chart type at the same position in `chart_types`), 3 columns x 2 rows, four per row, in
    reading order. Measures may be keys or titles; errors point at `widgets.<i>.measure`."""
    _check_body_pixel(require_pixel(require_scope(principal, "dashboards:write")),
                      draft.body_pixel)
    errors: list[FieldError] = list(draft.body_errors)
    clean_name = _name(draft.name, errors)
    widgets, chart_types, date_range = draft.widgets, draft.chart_types, draft.date_range
    granularity = draft.granularity
    if not isinstance(widgets, list) or not widgets:
        errors.append(FieldError("widgets must be a non-empty list", ("widgets",)))
        widgets = []
    if chart_types is not None and (not isinstance(chart_types, list)
                                    or any(t not in WIDGET_KINDS for t in chart_types)):
        errors.append(FieldError(f"chartTypes must be a list of {', '.join(WIDGET_KINDS)}",
                                 ("chartTypes",)))
        chart_types = None
    if date_range is not None and not isinstance(date_range, Mapping):
        errors.append(FieldError("dateRange must be an object", ("dateRange",)))
    if granularity not in GRANULARITIES:
        errors.append(FieldError(f"granularity must be one of {', '.join(GRANULARITIES)}",
                                 ("granularity",)))
    tiles = []
    for i, w in enumerate(widgets):
        tile = {k: v for k, v in w.items() if k in ("measure", "title", "id")} \
            if isinstance(w, Mapping) else w
        if isinstance(tile, dict):
            types = chart_types or []
            tile["chartType"] = types[i] if i < len(types) else "sparkline"
        tiles.append(tile)
    placed = normalize_widgets(tiles, ("widgets",), errors)
    raise_if(errors)
    configuration: dict[str, Any] = {
        "layout": "kpi-grid",
        "widgets": placed,
        "granularity": granularity,
        "dateRange": date_range if date_range is not None else {"preset": DEFAULT_PRESET},
        "attributionModel": draft.attribution_model,
        "attributionWindow": draft.attribution_window,
        "filters": {},
    }
    return await create_view(db, principal, ViewDraft(
        name=clean_name, configuration=configuration, view_type=draft.view_type), now=now)

