"""A dashboard view's configuration: validation, normalization and auto-layout.

The stored form is Upstack's document (`configuration.widgets[]` with `layout` and
`dataConfig`), normalized so every widget has an id, a resolved measure key, a chart type and
a layout on the grid. Every problem is reported at once, each with its field path relative to
the caller's body (`path` argument), e.g. ("configuration", "widgets", 2, "measure").

The grid: 12 columns (the issue), rendered into Upstack's `grid.maxWidth` of 1200 px, so one
column is 100 px wide. `layout.x` is a column (0..11), `layout.columns` a width in columns,
`layout.y`/`layout.rows` rows from the top; widgets may not overlap or leave the grid.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from gateway.catalog import CATALOG, Catalog
from gateway.errors import FieldError, InvalidInput
from gateway.limits import date_problem
from gateway.periods import GRANULARITIES, PRESETS
from gateway.services.analytics_input import Problems, parse_filter
from gateway.services.measures import suggest_measures

__all__ = [
    "GRID_COLUMNS",
    "GRID_MAX_WIDTH",
    "VIEW_TYPES",
    "WIDGET_KINDS",
    "Path",
    "auto_place",
    "normalize_configuration",
    "normalize_widgets",
    "raise_if",
]

GRID_COLUMNS = 12
GRID_MAX_WIDTH = 1200
MAX_WIDGETS = 200
WIDGET_KINDS = ("sparkline", "line", "bar", "number", "table")
VIEW_TYPES = ("view", "attribution_view", "pnl_view")
DEFAULT_SIZE = (3, 2)  # (columns, rows) of an auto-placed tile: four per row
_LAYOUT_EXTRAS = ("minColumns", "maxColumns", "minRows", "maxRows")

Path = tuple[str | int, ...]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def auto_place(taken: list[tuple[int, int, int, int]], columns: int, rows: int) -> tuple[int, int]:
    """The first free (x, y) in reading order (top to bottom, left to right) where a
    `columns` x `rows` tile fits without overlapping `taken` rectangles (x, y, w, h)."""
    y = 0
    while True:
        for x in range(GRID_COLUMNS - columns + 1):
            if not any(_overlaps((x, y, columns, rows), r) for r in taken):
                return x, y
        y += 1


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _resolve_measure(name: Any, path: Path, errors: list[FieldError],
                     catalog: Catalog) -> str | None:
    if not isinstance(name, str) or not name.strip():
        errors.append(FieldError("measure is required", path))
        return None
    found = catalog.resolve(name.strip())
    if found is None:
        hint = suggest_measures(name.strip(), catalog)
        extra = f"; did you mean {', '.join(hint)}?" if hint else ""
        errors.append(FieldError(f"unknown measure {name!r}{extra}", path))
        return None
    return found.key


def _widget(raw: Any, path: Path, errors: list[FieldError],
            catalog: Catalog) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        errors.append(FieldError("widget must be an object", path))
        return None
    start = len(errors)
    data_config = raw.get("dataConfig") or {}
    if not isinstance(data_config, Mapping):
        errors.append(FieldError("dataConfig must be an object", (*path, "dataConfig")))
        data_config = {}
    given = data_config.get("measures") or []
    if not isinstance(given, list):
        errors.append(FieldError("measures must be a list", (*path, "dataConfig", "measures")))
        given = []
    measures: list[str] = []
    # `dataConfig.measures` (Upstack) is authoritative when present, so a client editing it
    # and sending back our stored `measure` shorthand unchanged gets its edit; otherwise
    # the shorthand `measure` names the widget's one measure.
    if not given:
        key = _resolve_measure(raw.get("measure"), (*path, "measure"), errors, catalog)
        if key is not None:
            measures.append(key)
    for j, item in enumerate(given):
        # Upstack spells a measure as a string or as {"measure": key}.
        name = item.get("measure") if isinstance(item, Mapping) else item
        key = _resolve_measure(name, (*path, "dataConfig", "measures", j), errors, catalog)
        if key is not None and key not in measures:
            measures.append(key)
    kind = raw.get("chartType", raw.get("kind", "sparkline"))
    if kind not in WIDGET_KINDS:
        errors.append(FieldError(f"chartType must be one of {', '.join(WIDGET_KINDS)}",
                                 (*path, "chartType")))
    title = raw.get("title")
    if title is not None and not isinstance(title, str):
        errors.append(FieldError("title must be a string", (*path, "title")))
    widget_id = raw.get("id")
    if widget_id is not None and (not isinstance(widget_id, str) or not widget_id.strip()
                                  or len(widget_id) > 64):
        errors.append(FieldError("id must be a non-empty string of at most 64 characters",
                                 (*path, "id")))
    options = raw.get("options", {})
    if not isinstance(options, Mapping):
        errors.append(FieldError("options must be an object", (*path, "options")))
    layout = _layout(raw.get("layout"), (*path, "layout"), errors)
    if len(errors) > start:
        return None
    first = catalog.get(measures[0])  # resolved above: a key of this catalog
    return {
        "id": widget_id or uuid.uuid4().hex[:12],
        "title": title or first.title,
        "chartType": kind,
        "measure": measures[0],
        "layout": layout,
        "dataConfig": {
            **{k: v for k, v in data_config.items() if k != "measures"},
            "measures": measures,
            "dimensions": list(data_config.get("dimensions") or []),
            "filters": list(data_config.get("filters") or []),
        },
        "options": dict(options),
    }


def _layout(raw: Any, path: Path, errors: list[FieldError]) -> dict[str, Any] | None:
    """A validated layout, or None when the widget is to be auto-placed."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append(FieldError("layout must be an object", path))
        return None
    out: dict[str, Any] = {}
    size = {"columns": DEFAULT_SIZE[0], "rows": DEFAULT_SIZE[1]}
    for name in ("x", "y", "columns", "rows"):
        value = raw.get(name, size.get(name))
        if not _is_int(value):
            errors.append(FieldError(f"layout.{name} must be an integer", (*path, name)))
            continue
        out[name] = value
    if len(out) < 4:
        return None
    if out["x"] < 0 or out["y"] < 0 or out["columns"] < 1 or out["rows"] < 1 \
            or out["x"] + out["columns"] > GRID_COLUMNS:
        errors.append(FieldError(
            f"widget is off the grid: x >= 0, y >= 0, columns >= 1, rows >= 1 and "
            f"x + columns <= {GRID_COLUMNS}", path))
    for name in _LAYOUT_EXTRAS:
        if _is_int(raw.get(name)):
            out[name] = raw[name]
    out["static"] = bool(raw.get("static", False))
    return out


def normalize_widgets(raw: Any, path: Path, errors: list[FieldError], *,
                      catalog: Catalog = CATALOG) -> list[dict[str, Any]]:
    """Validated widgets in the stored shape, auto-placing those without a layout after
    the placed ones; problems are appended to `errors` with paths under `path`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(FieldError("widgets must be a list", path))
        return []
    if len(raw) > MAX_WIDGETS:
        errors.append(FieldError(f"at most {MAX_WIDGETS} widgets", path))
        return []
    widgets: list[tuple[int, dict[str, Any]]] = []
    for i, item in enumerate(raw):
        w = _widget(item, (*path, i), errors, catalog)
        if w is not None:
            widgets.append((i, w))
    seen: dict[str, int] = {}
    for i, w in widgets:
        if w["id"] in seen:
            also = seen[w["id"]]
            errors.append(FieldError(f"duplicate widget id {w['id']!r} (also widgets[{also}])",
                                     (*path, i, "id")))
        seen.setdefault(w["id"], i)
    taken: list[tuple[int, int, int, int, int]] = []
    for i, w in widgets:
        lay = w["layout"]
        if lay is None:
            continue
        rect = (lay["x"], lay["y"], lay["columns"], lay["rows"])
        for j, ox, oy, ow, oh in taken:
            if _overlaps(rect, (ox, oy, ow, oh)):
                errors.append(FieldError(f"widget overlaps widgets[{j}]", (*path, i, "layout")))
                break
        taken.append((i, *rect))
    rects = [t[1:] for t in taken]
    for _, w in widgets:
        if w["layout"] is None:
            cols, rows = DEFAULT_SIZE
            x, y = auto_place(rects, cols, rows)
            w["layout"] = {"x": x, "y": y, "columns": cols, "rows": rows, "static": False}
            rects.append((x, y, cols, rows))
    return [w for _, w in widgets]


def _date_range(raw: Any, path: Path, errors: list[FieldError]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.append(FieldError("dateRange must be an object", path))
        return None
    if "preset" in raw:  # a relative range: resolved when read (gateway.periods)
        if raw["preset"] not in PRESETS:
            errors.append(FieldError(f"preset must be one of {', '.join(PRESETS)}",
                                     (*path, "preset")))
            return None
        return {"preset": raw["preset"]}
    parsed: dict[str, date] = {}
    for name in ("start", "end"):
        try:
            day = date.fromisoformat(str(raw.get(name)))
        except ValueError:
            errors.append(FieldError(f"{name} must be a date (YYYY-MM-DD)", (*path, name)))
            continue
        problem = date_problem(day)
        if problem is not None:
            errors.append(FieldError(problem, (*path, name)))
            continue
        parsed[name] = day
    if len(parsed) == 2 and parsed["start"] > parsed["end"]:
        errors.append(FieldError("start must not be after end", (*path, "start")))
    if len(parsed) < 2:
        return None
    return {"start": parsed["start"].isoformat(), "end": parsed["end"].isoformat()}


def normalize_configuration(raw: Any, path: Path, errors: list[FieldError], *,
                            catalog: Catalog = CATALOG) -> dict[str, Any]:
    """A validated configuration. Keys we do not model (sections, defaultSettings,
    viewFilters, attribution settings, …) are kept as given."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors.append(FieldError("configuration must be an object", path))
        return {}
    out = dict(raw)
    out["widgets"] = normalize_widgets(raw.get("widgets"), (*path, "widgets"), errors,
                                       catalog=catalog)
    date_range = _date_range(raw.get("dateRange"), (*path, "dateRange"), errors)
    if date_range is None:
        out.pop("dateRange", None)
    else:
        out["dateRange"] = date_range
    granularity = raw.get("granularity", "day")
    if granularity not in GRANULARITIES:
        errors.append(FieldError(f"granularity must be one of {', '.join(GRANULARITIES)}",
                                 (*path, "granularity")))
    out["granularity"] = granularity
    filters = raw.get("filters") or {}
    if not isinstance(filters, Mapping):
        errors.append(FieldError("filters must be an object", (*path, "filters")))
        filters = {}
    elif filters:
        # A canonical filter ({"and": [{field, op, value}]}, …): widget data applies it.
        problems = Problems()
        parse_filter(dict(filters), problems, *path, "filters")
        errors.extend(problems.errors)
    out["filters"] = dict(filters)
    out["grid"] = {"maxWidth": GRID_MAX_WIDTH, "columns": GRID_COLUMNS}
    return out


def raise_if(errors: Sequence[FieldError]) -> None:
    if errors:
        raise InvalidInput("Bad Request", details=errors)

