"""Upstack queries: `POST /db-mgmt/api/query`, `/query-attribution`, `/query-cohort-analysis`
and filter discovery `GET /db-mgmt/api/filters` (scope analytics:read).

Bodies follow Upstack's published shapes (shared/reference/upstack-api-notes.md): JSON in,
the `{"results": [...]}` envelope out, each result with `measureDetails[]` and
`data: {primary: [...], compare: [...]}` rows of `{dt, start, end, <dimension>…, <measure>…}`.
This module only translates: wire shape -> GraphQL input -> resolver -> wire shape.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.routing import Route

from gateway.attribution import (
    DEFAULT_CONVERSION_EVENT,
    DEFAULT_DIMENSION,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_MODEL,
    DEFAULT_WINDOW_DAYS,
)
from gateway.catalog.cohorts import get_cohort_measure
from gateway.context import Context
from gateway.errors import FieldError, InvalidInput
from gateway.limits import filter_problem
from gateway.rest.base import read_json, resolver_info
from gateway.rest.upstack.query_shapes import (
    AttributionRequest,
    AttributionResponse,
    CohortRequest,
    CohortResponse,
    FiltersResponse,
    MeasureDetailBody,
    QueryRequest,
    QueryResponse,
    RangeBody,
)
from gateway.rest.upstack.surface import surface
from gateway.types.analytics import (
    AnalyticsQueryInput,
    AnalyticsResult,
    AttributionModel,
    AttributionQueryInput,
    CohortGranularity,
    CohortQueryInput,
    DateRangeInput,
    FilterInput,
    Granularity,
    MeasureDetail,
    ResolvedDateRange,
    SeriesPoint,
)
from resolvers.analytics import (
    resolve_analytics,
    resolve_analytics_filters,
    resolve_attribution,
    resolve_cohort_analysis,
)

__all__ = ["routes"]

E = TypeVar("E", bound=Enum)

_SCOPE = "analytics:read"

_QUERY_KEYS = {"pixelId", "granularity", "measures", "dimensions", "dateRange",
               "compareDateRange", "compare", "filters", "timezone", "orderSettings",
               "orderBy", "descending", "limit"}
_ATTRIBUTION_KEYS = {"pixelId", "dimension", "dateRange", "attributionModel",
                     "attributionWindow", "conversionEvent", "halfLifeDays", "filters",
                     "compareDateRange", "compare", "timezone", "orderSettings"}
_COHORT_KEYS = {"pixelId", "granularity", "measures", "dateRange", "timezone", "filters",
                "viewFilters", "orderSettings"}


class _Body:
    """Typed reads of a JSON body that collect wire-shape problems with their paths."""

    def __init__(self, raw: Any, allowed: set[str]) -> None:
        self.errors: list[FieldError] = []
        if not isinstance(raw, dict):
            raise InvalidInput.field("the body must be a JSON object", "body")
        self.raw = raw
        for key in raw:
            if key not in allowed:
                self.fail(f"unknown field {key!r}; accepted: {', '.join(sorted(allowed))}", key)

    def fail(self, message: str, *path: str | int) -> None:
        self.errors.append(FieldError(message, tuple(path)))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """The value under `key` when it has type `kind`; `default` when absent or null."""
        value = self.raw.get(key)
        if value is None:
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(f"{key} must be {_json_type(names)}", key)
            return default
        return value

    def enum(self, key: str, cls: type[E], default: E) -> E:
        value = self.raw.get(key)
        if value is None:
            return default
        try:
            return cls(value)
        except ValueError:
            self.fail(f"{key} must be one of {', '.join(str(m.value) for m in cls)}", key)
            return default

    def strings(self, key: str, *, item_key: str | None = None) -> list[str]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"{key} must be a list", key)
            return []
        out = []
        for i, given in enumerate(value):
            item = given.get(item_key) if item_key is not None and isinstance(given, dict) \
                else given
            if not isinstance(item, str):
                self.fail(f"expected a string{f' or {{{item_key!r}: ...}}' if item_key else ''}",
                          key, i)
                continue
            out.append(item)
        return out

    def date_range(self, key: str) -> DateRangeInput | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return DateRangeInput(preset=value)
        if not isinstance(value, dict):
            self.fail(f"{key} must be {{start, end}} or {{preset}}", key)
            return None
        parts = {}
        for k in ("start", "end", "preset"):
            v = value.get(k)
            if v is not None and not isinstance(v, str):
                self.fail(f"{k} must be a string", key, k)
                v = None
            parts[k] = v
        return DateRangeInput(**parts)

    def filter(self, value: Any, path: tuple[str | int, ...]) -> FilterInput | None:
        """One wire filter as the typed FilterInput GraphQL takes, after the shared bounds
        (checked here because converting recurses and the check does not; the service checks
        them again on the combined filter, whatever the surface)."""
        bound = filter_problem(value, path)
        if bound is not None:
            self.errors.append(bound)
            return None
        return _filter(value, self, path)

    def filters(self, *keys: str) -> FilterInput | None:
        """The canonical filter under `filters`, and-ed with any extra lists (viewFilters,
        orderSettings.exclusionFilters as `not`)."""
        found: list[FilterInput] = []
        for key in keys:
            value = self.raw.get(key)
            if value is not None:
                f = self.filter(value, (key,))
                if f is not None:
                    found.append(f)
        settings = self.raw.get("orderSettings")
        if isinstance(settings, dict) and isinstance(settings.get("exclusionFilters"), list):
            exclusions = settings["exclusionFilters"]
            bound = filter_problem(exclusions, ("orderSettings", "exclusionFilters"))
            if bound is not None:
                self.errors.append(bound)
                exclusions = []
            for i, value in enumerate(exclusions):
                f = self.filter(value, ("orderSettings", "exclusionFilters", i))
                if f is not None:
                    found.append(FilterInput(not_=f))
        if not found:
            return None
        return found[0] if len(found) == 1 else FilterInput(and_=found)

    def check(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors[0].message, details=self.errors)


def _json_type(name: str) -> str:
    return {"str": "a string", "int": "an integer", "bool": "true or false",
            "float": "a number", "int/float": "a number", "list": "a list",
            "dict": "an object"}.get(name, name)


def _filter(value: Any, body: _Body, path: tuple[str | int, ...]) -> FilterInput | None:
    """The wire filter key for key as FilterInput: a list is an `and`, Upstack's `operator`
    spells `op`. Only what FilterInput cannot hold is refused here; what the tree means
    (which group wins, required fields, known operators and fields) is the service's one
    parse (`parse_filter`)."""
    node = {"and": value} if isinstance(value, list) else value
    if not isinstance(node, dict):
        body.fail("a filter is an object: {field, op, value}, {and|or: [...]} or {not: {...}}",
                  *path)
        return None
    groups: dict[str, list[FilterInput]] = {}
    for key in ("and", "or"):
        if key not in node:
            continue
        if not isinstance(node[key], list):
            body.fail(f"{key} takes a list of filters", *path, key)
            return None
        found = [_filter(v, body, (*path, key, i)) for i, v in enumerate(node[key])]
        groups[key] = [f for f in found if f is not None]
    negated = _filter(node["not"], body, (*path, "not")) if "not" in node else None
    field, op = node.get("field"), node.get("op", node.get("operator"))
    return FilterInput(and_=groups.get("and"), or_=groups.get("or"), not_=negated,
                       field=field if isinstance(field, str) else None,
                       op=op if isinstance(op, str) else None, value=node.get("value"))


def _range_body(r: ResolvedDateRange | None) -> RangeBody | None:
    return None if r is None else {"start": r.start, "end": r.end,
                                   "startTime": r.start_time.isoformat(),
                                   "endTime": r.end_time.isoformat()}


def _row(p: SeriesPoint) -> dict[str, Any]:
    row: dict[str, Any] = {"dt": p.dt, "start": p.start.isoformat(), "end": p.end.isoformat()}
    for d in p.dimensions:
        row[d.dimension] = d.value
    for v in p.values:
        row[v.measure] = v.value
    return row


def _detail(m: MeasureDetail) -> MeasureDetailBody:
    return {
        "measure": m.measure, "format": m.format.value, "isAverage": m.is_average,
        "isPercentage": m.is_percentage, "isAdditive": m.is_additive,
        "calculatedAverage": m.calculated_average, "success": True,
        "primaryAvg": m.primary_avg, "compareAvg": m.compare_avg,
        "primarySum": m.primary_sum, "compareSum": m.compare_sum,
        "primaryTotal": m.primary_total, "compareTotal": m.compare_total,
        "percentDiff": m.percent_diff, "hasPacing": m.has_pacing,
        "preferredTrendDirection": m.preferred_trend_direction.value,
    }


def query_body(r: AnalyticsResult) -> QueryResponse:
    return {"results": [{
        "granularity": r.granularity.value, "timezone": r.timezone,
        "dimensions": r.dimensions, "dateRange": _range_body(r.date_range),
        "compareDateRange": _range_body(r.compare_date_range),
        "measureDetails": [_detail(m) for m in r.measure_details],
        "data": {"primary": [_row(p) for p in r.primary],
                 "compare": [_row(p) for p in r.compare]},
    }]}


async def post_query(ctx: Context, request: Request) -> QueryResponse:
    """Measures over time, by dimensions, with a compare period"""
    body = _Body(await read_json(request, ctx.settings.max_body_bytes), _QUERY_KEYS)
    measures = body.strings("measures", item_key="measure")
    if body.raw.get("measures") is None:
        body.fail("measures is required", "measures")
    args = AnalyticsQueryInput(
        measures=measures, date_range=body.date_range("dateRange") or DateRangeInput(),
        granularity=body.enum("granularity", Granularity, Granularity.DAY),
        dimensions=body.strings("dimensions"), timezone=body.get("timezone", str),
        filters=body.filters("filters"),
        compare_date_range=body.date_range("compareDateRange"),
        compare=body.get("compare", bool), order_by=body.get("orderBy", str),
        descending=body.get("descending", bool, True), limit=body.get("limit", int),
        pixel_id=body.get("pixelId", str))
    if body.raw.get("dateRange") is None:
        body.fail("dateRange is required", "dateRange")
    body.check()
    return query_body(await resolve_analytics(resolver_info(ctx), args))


async def post_attribution(ctx: Context, request: Request) -> AttributionResponse:
    """Conversions and revenue credited to a dimension by an attribution model"""
    body = _Body(await read_json(request, ctx.settings.max_body_bytes), _ATTRIBUTION_KEYS)
    if body.raw.get("dateRange") is None:
        body.fail("dateRange is required", "dateRange")
    args = AttributionQueryInput(
        date_range=body.date_range("dateRange") or DateRangeInput(),
        dimension=body.get("dimension", str, DEFAULT_DIMENSION),
        attribution_model=body.enum("attributionModel", AttributionModel,
                                    AttributionModel(DEFAULT_MODEL)),
        attribution_window=body.get("attributionWindow", int, DEFAULT_WINDOW_DAYS),
        conversion_event=body.get("conversionEvent", str, DEFAULT_CONVERSION_EVENT),
        half_life_days=float(body.get("halfLifeDays", (int, float), DEFAULT_HALF_LIFE_DAYS)),
        timezone=body.get("timezone", str), filters=body.filters("filters"),
        compare_date_range=body.date_range("compareDateRange"),
        compare=body.get("compare", bool), pixel_id=body.get("pixelId", str))
    body.check()
    r = await resolve_attribution(resolver_info(ctx), args)

    def rows(items: Any) -> list[dict[str, Any]]:
        return [{r.dimension: x.value, "conversions": x.conversions, "revenue": x.revenue,
                 "share": x.share} for x in items]

    details: list[MeasureDetailBody] = [{"measure": key, "isAverage": False, "isPercentage": False,
                "success": True, "primarySum": getattr(r.totals, key),
                "compareSum": getattr(r.compare_totals, key) if r.compare_totals else None,
                "percentDiff": getattr(r.percent_diff, key) if r.percent_diff else None,
                "preferredTrendDirection": "up", "hasPacing": False}
               for key in ("conversions", "revenue")]
    return {"results": [{
        "dateRange": _range_body(r.date_range),
        "compareDateRange": _range_body(r.compare_date_range),
        "dimension": r.dimension, "attributionModel": r.attribution_model.value,
        "attributionWindow": r.attribution_window, "timezone": r.timezone,
        "dimensionFilters": [[{"dimension": r.dimension, "value": x.value}] for x in r.primary],
        "data": {"primary": rows(r.primary), "compare": rows(r.compare)},
        "measureDetails": details,
    }]}


async def post_cohorts(ctx: Context, request: Request) -> CohortResponse:
    """Customer cohorts by first-order period, with retention and lifetime value"""
    body = _Body(await read_json(request, ctx.settings.max_body_bytes), _COHORT_KEYS)
    if body.raw.get("dateRange") is None:
        body.fail("dateRange is required", "dateRange")
    measures = body.strings("measures", item_key="measure") if "measures" in body.raw else None
    args = CohortQueryInput(
        date_range=body.date_range("dateRange") or DateRangeInput(), measures=measures,
        granularity=body.enum("granularity", CohortGranularity, CohortGranularity.MONTH),
        timezone=body.get("timezone", str), filters=body.filters("filters", "viewFilters"),
        pixel_id=body.get("pixelId", str))
    body.check()
    r = await resolve_cohort_analysis(resolver_info(ctx), args)
    primary = []
    for row in r.rows:
        item: dict[str, Any] = {
            "dt": row.cohort, "start": row.start.isoformat(), "end": row.end.isoformat(),
            "cohort": row.cohort, "cohortStart": row.cohort_start.isoformat(),
            "cohortEnd": row.cohort_end.isoformat(), "periodOffset": row.period_offset}
        for v in row.values:
            item[v.measure] = v.value
        primary.append(item)
    return {"results": [{
        "granularity": r.granularity.value, "timezone": r.timezone,
        "dimensions": ["cohort", "periodOffset"], "dateRange": _range_body(r.date_range),
        "compareDateRange": None,
        "measureDetails": [_cohort_detail(m) for m in r.measures],
        "data": {"primary": primary, "compare": []},
    }]}


def _cohort_detail(key: str) -> MeasureDetailBody:
    m = get_cohort_measure(key)  # the service answers only cohort measures
    return {"measure": m.key, "isAverage": m.is_average, "isPercentage": m.is_percentage,
            "success": True, "preferredTrendDirection": m.preferred_trend,
            "hasPacing": m.has_pacing}


async def get_filters(ctx: Context, request: Request) -> FiltersResponse:
    """The fields queries can filter and group by"""
    found = resolve_analytics_filters(resolver_info(ctx))
    return {"filters": [{"id": f.name, "field": f.name, "type": f.type,
                         "description": f.description, "operators": f.operators,
                         "groupable": f.groupable, "values": f.values} for f in found]}


def routes() -> list[Route]:
    return [
        surface.route("POST", "/db-mgmt/api/query", post_query, twin="Query.analytics",
                      scope=_SCOPE, body=QueryRequest, response=QueryResponse),
        surface.route("POST", "/db-mgmt/api/query-attribution", post_attribution,
                      twin="Query.attribution", scope=_SCOPE, body=AttributionRequest,
                      response=AttributionResponse),
        surface.route("POST", "/db-mgmt/api/query-cohort-analysis", post_cohorts,
                      twin="Query.cohortAnalysis", scope=_SCOPE, body=CohortRequest,
                      response=CohortResponse),
        surface.route("GET", "/db-mgmt/api/filters", get_filters, twin="Query.analyticsFilters",
                      scope=_SCOPE, response=FiltersResponse),
    ]
