"""The wire shapes of the Upstack query routes (gateway/rest/upstack/queries.py), as types.

Request types document what the routes read (the routes parse bodies field by field, with
field errors); response types are what the routes' body functions return, so mypy holds
those functions to the document `GET /openapi.json` serves (gateway/openapi.py). Enumerated
request fields use the enums GraphQL uses (`Granularity`, `AttributionModel`, …), so the two
surfaces document the same values.
"""

from __future__ import annotations

from typing import Any, NotRequired, Required

from typing_extensions import TypedDict

from gateway.periods import CohortGranularity, Granularity
from gateway.types.analytics import AttributionModel

__all__ = ["AttributionRequest", "AttributionResponse", "CohortRequest", "CohortResponse",
           "DateRange", "FiltersResponse", "MeasureDetailBody", "QueryRequest",
           "QueryResponse", "RangeBody"]


class DateRangeObject(TypedDict, total=False):
    start: str  # a local date, YYYY-MM-DD
    end: str
    preset: str  # last_30_days, this_month, … (README "Queries")


DateRange = DateRangeObject | str  # a bare string is a preset

# A filter: {field, op (or operator), value}, or a group {and: [...]}, {or: [...]},
# {not: {...}}; a list of filters is their `and`. Functional form: `and`, `or`, `not` are
# Python keywords.
Filter = TypedDict("Filter", {
    "field": str, "op": str, "operator": str, "value": Any,
    "and": "list[Filter]", "or": "list[Filter]", "not": "Filter",
}, total=False)


class MeasureRef(TypedDict):
    measure: str


class QueryRequest(TypedDict, total=False):
    measures: Required[list[str | MeasureRef]]
    dateRange: Required[DateRange]
    granularity: Granularity
    dimensions: list[str]
    timezone: str
    filters: Filter | list[Filter]
    compareDateRange: DateRange
    compare: bool
    orderBy: str
    descending: bool
    limit: int
    orderSettings: dict[str, Any]
    pixelId: str


class AttributionRequest(TypedDict, total=False):
    dateRange: Required[DateRange]
    dimension: str
    attributionModel: AttributionModel
    attributionWindow: int
    conversionEvent: str
    halfLifeDays: float
    filters: Filter | list[Filter]
    compareDateRange: DateRange
    compare: bool
    timezone: str
    orderSettings: dict[str, Any]
    pixelId: str


class CohortRequest(TypedDict, total=False):
    dateRange: Required[DateRange]
    granularity: CohortGranularity
    measures: list[str | MeasureRef]
    timezone: str
    filters: Filter | list[Filter]
    viewFilters: Filter | list[Filter]
    orderSettings: dict[str, Any]
    pixelId: str


class RangeBody(TypedDict):
    start: str
    end: str
    startTime: str
    endTime: str


class MeasureDetailBody(TypedDict):
    measure: str
    isAverage: bool
    isPercentage: bool
    success: bool
    preferredTrendDirection: str
    hasPacing: bool
    format: NotRequired[str]
    isAdditive: NotRequired[bool]
    calculatedAverage: NotRequired[float | None]
    primaryAvg: NotRequired[float | None]
    compareAvg: NotRequired[float | None]
    primarySum: NotRequired[float | None]
    compareSum: NotRequired[float | None]
    primaryTotal: NotRequired[float | None]
    compareTotal: NotRequired[float | None]
    percentDiff: NotRequired[float | None]


class SeriesData(TypedDict):
    # Rows {dt, start, end, <dimension>…, <measure>…}: the keys follow the request.
    primary: list[dict[str, Any]]
    compare: list[dict[str, Any]]


class QueryResult(TypedDict):
    granularity: str
    timezone: str
    dimensions: list[str]
    dateRange: RangeBody | None
    compareDateRange: RangeBody | None
    measureDetails: list[MeasureDetailBody]
    data: SeriesData


class QueryResponse(TypedDict):
    results: list[QueryResult]


class AttributionResult(TypedDict):
    dateRange: RangeBody | None
    compareDateRange: RangeBody | None
    dimension: str
    attributionModel: str
    attributionWindow: int
    timezone: str
    dimensionFilters: list[list[dict[str, str | None]]]
    data: SeriesData
    measureDetails: list[MeasureDetailBody]


class AttributionResponse(TypedDict):
    results: list[AttributionResult]


class CohortResponse(TypedDict):
    results: list[QueryResult]


class FilterBody(TypedDict):
    id: str
    field: str
    type: str
    description: str
    operators: list[str]
    groupable: bool
    values: list[str]


class FiltersResponse(TypedDict):
    filters: list[FilterBody]
