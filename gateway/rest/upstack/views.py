"""Upstack dashboard views: `/accounts/api/dashboard/views`.

    GET    /views[?type=]        dashboards:read    {"views": [view, …]}
    GET    /views/{id}           dashboards:read    view (ETag: "<version>")
    POST   /views                dashboards:write   view
    PATCH  /views/{id}           dashboards:write   view; name, description, configuration,
                                                    order; If-Match or "version" guards it
    DELETE /views/{id}           dashboards:write   {"id", "deleted": true}
    POST   /views/{id}/copy      dashboards:write   view ({"name"} optional)
    POST   /views/from-preset    dashboards:write   view (kpi-grid of sparkline tiles)

A view is `{id, pixelId, type, name, description, configuration, order, version, createdAt,
updatedAt, createdBy, updatedBy}`; `configuration` is Upstack's document (widgets with
`layout` and `dataConfig`, `dateRange`, `filters`, `grid`, …). Another pixel's view answers
404 `{"message": "Dashboard view not found"}`; a `pixelId` in a create body that is not the
request's pixel is 403.

Bodies carry only their documented fields; any other is a 400 naming it. A create body may
also carry the read-only fields of a view (`id`, `version`, `createdAt`, …: a `show` output
replayed into `create`, as the Upstack CLI does with `--from-file`); they are ignored. PATCH
refuses them (Upstack: "other fields rejected"), in the service.
"""

from __future__ import annotations

from typing import Any, Required

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.drafts import PresetDraft, ViewDraft
from gateway.errors import FieldError, InvalidInput
from gateway.rest.base import JSONBody, read_json, resolver_info, unknown_fields
from gateway.rest.upstack.surface import surface
from gateway.rest.wire import iso_z
from gateway.types.dashboards import DashboardView
from resolvers import dashboards as resolvers

__all__ = ["ViewBody", "routes", "view_body"]

BASE = "/accounts/api/dashboard/views"
_READ, _WRITE = "dashboards:read", "dashboards:write"

_CREATE_FIELDS = ("name", "configuration", "type", "description", "order", "pixelId")
_READ_ONLY_FIELDS = ("id", "version", "createdAt", "updatedAt", "createdBy", "updatedBy")
# body field -> PresetDraft field; an absent field takes the draft's default.
_PRESET_DRAFT = {"name": "name", "widgets": "widgets", "chartTypes": "chart_types",
                 "type": "view_type", "granularity": "granularity", "dateRange": "date_range",
                 "attributionModel": "attribution_model",
                 "attributionWindow": "attribution_window", "pixelId": "body_pixel"}
_PRESET_FIELDS = (*_PRESET_DRAFT, "layout")
_PRESET_WIDGET_FIELDS = ("measure", "title", "id")
_PRESET_LAYOUT = "kpi-grid"  # the one layout Upstack documents for presets


class ViewBody(TypedDict):
    id: str
    pixelId: str
    type: str  # view, attribution_view or pnl_view
    name: str
    description: str | None
    configuration: Any  # an object, Upstack's document: widgets, dateRange, filters, grid, …
    order: int | None
    version: int  # also the ETag; send it back as If-Match (or "version") to guard a PATCH
    createdAt: str
    updatedAt: str
    createdBy: str | None
    updatedBy: str | None


class ViewList(TypedDict):
    views: list[ViewBody]


class ViewInput(TypedDict, total=False):
    name: Required[str]
    configuration: dict[str, Any]
    type: str
    description: str | None
    order: int | None
    pixelId: str


class ViewPatch(TypedDict, total=False):
    name: str
    description: str | None
    configuration: dict[str, Any]
    order: int | None
    version: int


class CopyInput(TypedDict, total=False):
    name: str


class PresetWidget(TypedDict, total=False):
    measure: Required[str]
    title: str
    id: str


class PresetInput(TypedDict, total=False):
    name: Required[str]
    widgets: Required[list[PresetWidget | str]]
    layout: str  # kpi-grid, the one preset layout
    chartTypes: list[str]
    type: str
    granularity: str
    dateRange: str | dict[str, Any]
    attributionModel: str
    attributionWindow: int
    pixelId: str


class Deleted(TypedDict):
    id: str
    deleted: bool


class ViewsQuery(TypedDict, total=False):
    type: str


def view_body(v: DashboardView) -> ViewBody:
    return {
        "id": v.id,
        "pixelId": v.pixel_id,
        "type": v.type,
        "name": v.name,
        "description": v.description,
        "configuration": v.configuration,
        "order": v.order,
        "version": v.version,
        "createdAt": iso_z(v.created_at),
        "updatedAt": iso_z(v.updated_at),
        "createdBy": v.created_by,
        "updatedBy": v.updated_by,
    }


def _view_response(v: DashboardView) -> Response:
    return JSONBody(view_body(v), headers={"ETag": f'"{v.version}"'})


async def _object(ctx: Context, request: Request, *, optional: bool = False) -> dict[str, Any]:
    if optional and not await request.body():
        return {}
    body = await read_json(request, ctx.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput.field("body must be a JSON object", "body")
    return body


def _expected_version(request: Request, body: dict[str, Any]) -> int | None:
    """If-Match ("3", W/"3" or 3) wins over a `version` field in the body; the field is
    taken out of the body either way (it names the edit's base, it is not a change)."""
    field = body.pop("version", None)
    raw: Any = request.headers.get("if-match")
    where = "If-Match"
    if raw is not None:
        raw = raw.strip().removeprefix("W/").strip('"')
    elif field is not None:
        raw, where = field, "version"
    else:
        return None
    if isinstance(raw, bool):
        raise InvalidInput.field("version must be an integer", where)
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidInput.field("version must be an integer", where) from exc


async def list_views(ctx: Context, request: Request) -> ViewList:
    """The pixel's dashboard views, optionally of one type"""
    views = await resolvers.resolve_views(resolver_info(ctx), type=request.query_params.get("type"))
    return {"views": [view_body(v) for v in views]}


async def get_view(ctx: Context, request: Request) -> Response:
    """One dashboard view (ETag: its version)"""
    view_id = strawberry.ID(request.path_params["id"])
    return _view_response(await resolvers.resolve_view(resolver_info(ctx), view_id))


async def create_view(ctx: Context, request: Request) -> Response:
    """Create a dashboard view"""
    body = await _object(ctx, request)
    view = await resolvers.create_view(resolver_info(ctx), ViewDraft(
        name=body.get("name"), configuration=body.get("configuration"),
        view_type=body.get("type", "view"), description=body.get("description"),
        order=body.get("order"), body_pixel=body.get("pixelId"),
        body_errors=tuple(unknown_fields(body, _CREATE_FIELDS, ignored=_READ_ONLY_FIELDS))))
    return _view_response(view)


async def update_view(ctx: Context, request: Request) -> Response:
    """Change a view; If-Match (or "version") makes the edit fail on a newer version"""
    body = await _object(ctx, request)
    expected = _expected_version(request, body)
    view = await resolvers.update_view(resolver_info(ctx), request.path_params["id"], body,
                                       expected_version=expected)
    return _view_response(view)


async def delete_view(ctx: Context, request: Request) -> Deleted:
    """Delete a view"""
    view_id = strawberry.ID(request.path_params["id"])
    await resolvers.resolve_delete_view(resolver_info(ctx), view_id)
    return {"id": view_id, "deleted": True}


async def copy_view(ctx: Context, request: Request) -> Response:
    """Copy a view, optionally under a new name"""
    body = await _object(ctx, request, optional=True)
    view = await resolvers.copy_view(resolver_info(ctx), request.path_params["id"],
                                     name=body.get("name"),
                                     body_errors=unknown_fields(body, ("name",)))
    return _view_response(view)


async def from_preset(ctx: Context, request: Request) -> Response:
    """A kpi-grid view of sparkline tiles, one per measure"""
    body = await _object(ctx, request)
    errors = unknown_fields(body, _PRESET_FIELDS)
    if body.get("layout") not in (None, _PRESET_LAYOUT):
        errors.append(FieldError(f"layout must be {_PRESET_LAYOUT!r} (the preset layout)",
                                 ("layout",)))
    widgets = body.get("widgets")
    for i, widget in enumerate(widgets if isinstance(widgets, list) else []):
        if isinstance(widget, dict):
            errors.extend(unknown_fields(widget, _PRESET_WIDGET_FIELDS, where=("widgets", i)))
    given = {field: body[wire] for wire, field in _PRESET_DRAFT.items() if wire in body}
    view = await resolvers.create_view_from_preset(resolver_info(ctx), PresetDraft(
        **{"name": None, "widgets": None, **given}, body_errors=tuple(errors)))
    return _view_response(view)


def routes() -> list[Route]:
    return [
        surface.route("GET", BASE, list_views, twin="Query.dashboardViews", scope=_READ,
                      response=ViewList, query=ViewsQuery),
        surface.route("POST", BASE, create_view, twin="Mutation.createDashboardView",
                      scope=_WRITE, body=ViewInput, response=ViewBody),
        surface.route("POST", f"{BASE}/from-preset", from_preset,
                      twin="Mutation.createDashboardViewFromPreset", scope=_WRITE,
                      body=PresetInput, response=ViewBody),
        surface.route("GET", BASE + "/{id}", get_view, twin="Query.dashboardView",
                      scope=_READ, response=ViewBody),
        surface.route("PATCH", BASE + "/{id}", update_view,
                      twin="Mutation.updateDashboardView", scope=_WRITE, body=ViewPatch,
                      response=ViewBody),
        surface.route("DELETE", BASE + "/{id}", delete_view,
                      twin="Mutation.deleteDashboardView", scope=_WRITE, response=Deleted),
        surface.route("POST", BASE + "/{id}/copy", copy_view, twin="Mutation.copyDashboardView",
                      scope=_WRITE, body=CopyInput, response=ViewBody),
    ]
