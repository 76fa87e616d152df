"""Writes whose body is a document the service validates in the body's own terms.

A ClickStack alert or webhook and an Upstack view are documents: a field of the wrong JSON
type, a missing one, an unknown widget measure are all the service's field errors, reported
together, in field order, at the body's own paths, after the service's scope check. So both
surfaces hand the service the document as it is: GraphQL builds a draft from its typed input
(resolvers/), REST from the request body (gateway/rest/), and the one resolver function both
call passes it on. The values are JSON, unchecked; `body_errors` are the problems the REST
adapter found in the body's shape (unknown fields), reported with the service's own.

Both `gateway/services` and `gateway/rest` import these; this module imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from gateway.attribution import DEFAULT_MODEL, DEFAULT_WINDOW_DAYS
from gateway.errors import FieldError

__all__ = ["AlertDraft", "JSONValue", "PresetDraft", "ViewDraft", "WebhookDraft"]

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"


@dataclass(frozen=True)
class AlertDraft:
    """An alert as sent; every value is checked by the service. `source` defaults to
    "measure" when `measure` is given, else "tile"."""

    threshold: JSONValue
    threshold_type: JSONValue
    interval: JSONValue
    channel: JSONValue = None
    source: JSONValue = None
    dashboard_id: JSONValue = None
    tile_id: JSONValue = None
    measure: JSONValue = None
    name: JSONValue = None
    message: JSONValue = None
    enabled: JSONValue = True
    body_errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class WebhookDraft:
    """A webhook as sent (values unchecked). `keep_secret=True` on a replace keeps the stored
    secret (the body or input did not mention one); otherwise `secret` replaces it."""

    name: JSONValue
    url: JSONValue
    service: JSONValue = "generic"
    description: JSONValue = None
    secret: JSONValue = None
    keep_secret: bool = False
    body_errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class ViewDraft:
    """A dashboard view to create. `configuration` is Upstack's document (None: defaults);
    `body_pixel` a `pixelId` sent in the body, which must be the request's pixel."""

    name: JSONValue
    configuration: JSONValue = None
    view_type: JSONValue = "view"
    description: JSONValue = None
    order: JSONValue = None
    body_pixel: JSONValue = None
    body_errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class PresetDraft:
    """A kpi-grid view from `[{"measure", "title"}]` (see services.dashboards)."""

    name: JSONValue
    widgets: JSONValue
    chart_types: JSONValue = None
    view_type: JSONValue = "view"
    granularity: JSONValue = "day"
    date_range: JSONValue = None
    attribution_model: JSONValue = DEFAULT_MODEL
    attribution_window: JSONValue = DEFAULT_WINDOW_DAYS
    body_pixel: JSONValue = None
    body_errors: tuple[FieldError, ...] = ()
