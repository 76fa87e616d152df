"""GraphQL inputs and results for analytics: queries, attribution, cohorts, filter fields."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import strawberry
from strawberry.scalars import JSON

from gateway.attribution import (
    DEFAULT_CONVERSION_EVENT,
    DEFAULT_DIMENSION,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_MODEL,
    DEFAULT_WINDOW_DAYS,
    AttributionModel,
)
from gateway.filter_ops import OPERATORS
from gateway.periods import CohortGranularity, Granularity
from gateway.types.measure import MeasureFormat, TrendDirection

if TYPE_CHECKING:  # the results these types are built from (annotations only)
    from gateway.engine import Bucket, CohortCell, FieldSpec
    from gateway.services.analytics import (
        AttributionAnswer,
        CohortAnswer,
        MeasureSummary,
        QueryAnswer,
    )
    from gateway.services.analytics_input import ResolvedRange

__all__ = [
    "AnalyticsQueryInput", "AnalyticsResult", "AttributionModel", "AttributionQueryInput",
    "AttributionResult", "CohortGranularity", "CohortQueryInput", "CohortResult",
    "DateRangeInput", "FilterField", "FilterInput", "Granularity", "bucket_label",
]


# The enums' members are the domain's own lists (gateway.periods, gateway.attribution):
# GraphQL shows them, it does not keep a copy.
strawberry.enum(Granularity,
                description="Bucket size of a time series; `none` is one bucket per period.")
strawberry.enum(AttributionModel)
strawberry.enum(CohortGranularity)


@strawberry.input(description="Inclusive local dates (YYYY-MM-DD), or a preset: today, "
                  "yesterday, last_7_days, last_30_days, this_month, last_month, …")
class DateRangeInput:
    start: str | None = None
    end: str | None = None
    preset: str | None = None


@strawberry.input(description="A filter: either {field, op, value}, or `and`/`or` over "
                  f"filters, or `not` of one. Operators: {', '.join(OPERATORS)}.")
class FilterInput:
    and_: list[FilterInput] | None = strawberry.field(default=None, name="and")
    or_: list[FilterInput] | None = strawberry.field(default=None, name="or")
    not_: FilterInput | None = strawberry.field(default=None, name="not")
    field: str | None = None
    op: str | None = None
    value: JSON | None = None


@strawberry.input
class AnalyticsQueryInput:
    measures: list[str] = strawberry.field(description="1–30 measure keys (or titles).")
    date_range: DateRangeInput
    granularity: Granularity = Granularity.DAY
    dimensions: list[str] = strawberry.field(
        default_factory=list, description="Up to 5 fields to group by (see analyticsFilters).")
    timezone: str | None = strawberry.field(
        default=None, description="IANA zone for buckets and dates; default: the pixel's.")
    filters: FilterInput | None = None
    compare_date_range: DateRangeInput | None = strawberry.field(
        default=None, description="Must not overlap dateRange. Default: the preceding period "
        "of equal length when granularity is not NONE.")
    compare: bool | None = strawberry.field(default=None,
                                            description="false turns the compare period off.")
    order_by: str | None = strawberry.field(
        default=None, description="Rank dimension groups by this measure (default: first).")
    descending: bool = True
    limit: int | None = strawberry.field(default=None,
                                         description="Keep the first N dimension groups.")
    pixel_id: strawberry.ID | None = strawberry.field(
        default=None, description="Optional; must be the request's pixel.")


@strawberry.type
class MeasureValue:
    measure: str
    value: float | None


@strawberry.type
class DimensionValue:
    dimension: str
    value: str | None


@strawberry.type(description="A date range as resolved: local dates and the instants.")
class ResolvedDateRange:
    start: str
    end: str
    start_time: datetime
    end_time: datetime

    @classmethod
    def from_range(cls, r: ResolvedRange, tz: ZoneInfo) -> ResolvedDateRange:
        return cls(start=r.start.isoformat(), end=r.end.isoformat(),
                   start_time=r.range.start.astimezone(tz), end_time=r.range.end.astimezone(tz))


def bucket_label(start: datetime, granularity: str, tz: ZoneInfo) -> str:
    """`dt`: the bucket's local start, a date for day and coarser, else a local time."""
    local = start.astimezone(tz)
    if granularity in ("second", "minute", "hour"):
        return local.replace(tzinfo=None).isoformat()
    return local.date().isoformat()


@strawberry.type
class SeriesPoint:
    dt: str = strawberry.field(description="Local bucket start: YYYY-MM-DD, or a local "
                               "date-time for hour and finer.")
    start: datetime
    end: datetime
    dimensions: list[DimensionValue]
    values: list[MeasureValue]

    @classmethod
    def from_bucket(cls, b: Bucket, dims: tuple[str, ...], granularity: str, tz: ZoneInfo
                    ) -> SeriesPoint:
        return cls(dt=bucket_label(b.start, granularity, tz), start=b.start.astimezone(tz),
                   end=b.end.astimezone(tz),
                   dimensions=[DimensionValue(dimension=d, value=v)
                               for d, v in zip(dims, b.dimensions, strict=True)],
                   values=[MeasureValue(measure=k, value=v) for k, v in b.values.items()])


@strawberry.type(description="Per-measure summary of each period (Upstack measureDetails).")
class MeasureDetail:
    measure: str
    format: MeasureFormat
    is_average: bool
    is_percentage: bool
    is_additive: bool
    has_pacing: bool
    preferred_trend_direction: TrendDirection
    primary_sum: float | None = strawberry.field(description="Sum of the bucket values.")
    primary_avg: float | None = strawberry.field(description="Mean of the bucket values.")
    primary_total: float | None = strawberry.field(
        description="The period value; ratios and distinct counts recomputed over the period.")
    compare_sum: float | None
    compare_avg: float | None
    compare_total: float | None
    calculated_average: float | None = strawberry.field(
        description="For average/ratio measures: the period value recomputed from its parts.")
    percent_diff: float | None = strawberry.field(
        description="(primaryTotal - compareTotal) / |compareTotal| x 100.")

    @classmethod
    def from_summary(cls, s: MeasureSummary) -> MeasureDetail:
        d = s.measure
        return cls(measure=d.key, format=MeasureFormat(d.format), is_average=d.is_average,
                   is_percentage=d.is_percentage, is_additive=d.is_additive,
                   has_pacing=d.has_pacing,
                   preferred_trend_direction=TrendDirection(d.preferred_trend),
                   primary_sum=s.primary_sum, primary_avg=s.primary_avg,
                   primary_total=s.primary_total, compare_sum=s.compare_sum,
                   compare_avg=s.compare_avg, compare_total=s.compare_total,
                   calculated_average=s.calculated_average, percent_diff=s.percent_diff)


def _values(values: dict[str, float | None]) -> list[MeasureValue]:
    return [MeasureValue(measure=k, value=v) for k, v in values.items()]


@strawberry.type
class AnalyticsResult:
    granularity: Granularity
    timezone: str
    dimensions: list[str]
    date_range: ResolvedDateRange
    compare_date_range: ResolvedDateRange | None
    measure_details: list[MeasureDetail]
    primary: list[SeriesPoint]
    compare: list[SeriesPoint]
    totals: list[MeasureValue]
    compare_totals: list[MeasureValue]

    @classmethod
    def from_answer(cls, a: QueryAnswer) -> AnalyticsResult:
        q, r = a.request, a.result
        tz = ZoneInfo(q.timezone)
        return cls(
            granularity=Granularity(q.granularity), timezone=q.timezone,
            dimensions=list(q.dimensions),
            date_range=ResolvedDateRange.from_range(a.date_range, tz),
            compare_date_range=None if a.compare_date_range is None
            else ResolvedDateRange.from_range(a.compare_date_range, tz),
            measure_details=[MeasureDetail.from_summary(s) for s in a.summaries],
            primary=[SeriesPoint.from_bucket(b, q.dimensions, q.granularity, tz)
                     for b in r.primary],
            compare=[SeriesPoint.from_bucket(b, q.dimensions, q.granularity, tz)
                     for b in r.compare],
            totals=_values(r.totals), compare_totals=_values(r.compare_totals))


@strawberry.input
class AttributionQueryInput:
    date_range: DateRangeInput
    dimension: str = strawberry.field(default=DEFAULT_DIMENSION,
                                      description="utm_source, channel, utm_campaign, …")
    attribution_model: AttributionModel = AttributionModel(DEFAULT_MODEL)
    attribution_window: int = strawberry.field(default=DEFAULT_WINDOW_DAYS,
                                               description="Look-back in days.")
    conversion_event: str = DEFAULT_CONVERSION_EVENT
    half_life_days: float = strawberry.field(default=DEFAULT_HALF_LIFE_DAYS,
                                             description="time_decay: credit halves per.")
    timezone: str | None = None
    filters: FilterInput | None = strawberry.field(default=None,
                                                   description="Narrows the conversions.")
    compare_date_range: DateRangeInput | None = None
    compare: bool | None = None
    pixel_id: strawberry.ID | None = None


@strawberry.type
class AttributionRow:
    value: str | None = strawberry.field(description="Dimension value; null: no touch.")
    conversions: float
    revenue: float
    share: float = strawberry.field(description="Percent of the period's conversions.")


@strawberry.type
class AttributionTotals:
    conversions: float
    revenue: float


@strawberry.type(description="Per total, (primary - compare) / |compare| x 100; null where "
                 "the compare total is 0.")
class AttributionPercentDiff:
    conversions: float | None
    revenue: float | None


@strawberry.type
class AttributionResult:
    dimension: str
    attribution_model: AttributionModel
    attribution_window: int
    timezone: str
    date_range: ResolvedDateRange
    compare_date_range: ResolvedDateRange | None
    primary: list[AttributionRow]
    compare: list[AttributionRow]
    totals: AttributionTotals
    compare_totals: AttributionTotals | None
    percent_diff: AttributionPercentDiff | None = strawberry.field(
        description="The period against the compare period; null without one.")

    @classmethod
    def from_answer(cls, a: AttributionAnswer, timezone: str) -> AttributionResult:
        tz = ZoneInfo(timezone)
        r = a.result

        def rows(items: Any) -> list[AttributionRow]:
            return [AttributionRow(value=x.value, conversions=x.conversions,
                                   revenue=x.revenue, share=x.share) for x in items]

        return cls(
            dimension=a.request.dimension, attribution_model=AttributionModel(a.request.model),
            attribution_window=a.request.window_days, timezone=timezone,
            date_range=ResolvedDateRange.from_range(a.date_range, tz),
            compare_date_range=None if a.compare_date_range is None
            else ResolvedDateRange.from_range(a.compare_date_range, tz),
            primary=rows(r.primary), compare=rows(r.compare),
            totals=AttributionTotals(**r.totals),
            compare_totals=AttributionTotals(**r.compare_totals) if r.compare_totals else None,
            percent_diff=AttributionPercentDiff(**a.percent_diff) if a.percent_diff else None)


@strawberry.input
class CohortQueryInput:
    date_range: DateRangeInput
    measures: list[str] | None = strawberry.field(
        default=None, description="Cohort measure ids; default: all of them.")
    granularity: CohortGranularity = CohortGranularity.MONTH
    timezone: str | None = None
    filters: FilterInput | None = None
    pixel_id: strawberry.ID | None = None


@strawberry.type
class CohortRow:
    cohort: str = strawberry.field(description="Local start date of the cohort's period.")
    cohort_start: datetime
    cohort_end: datetime
    period_offset: int
    start: datetime
    end: datetime
    values: list[MeasureValue]

    @classmethod
    def from_cell(cls, c: CohortCell, tz: ZoneInfo) -> CohortRow:
        return cls(cohort=c.cohort_start.astimezone(tz).date().isoformat(),
                   cohort_start=c.cohort_start.astimezone(tz),
                   cohort_end=c.cohort_end.astimezone(tz), period_offset=c.offset,
                   start=c.start.astimezone(tz), end=c.end.astimezone(tz),
                   values=_values(c.values))


@strawberry.type
class CohortResult:
    granularity: CohortGranularity
    timezone: str
    measures: list[str]
    date_range: ResolvedDateRange
    rows: list[CohortRow]

    @classmethod
    def from_answer(cls, a: CohortAnswer) -> CohortResult:
        tz = ZoneInfo(a.request.timezone)
        return cls(granularity=CohortGranularity(a.request.granularity),
                   timezone=a.request.timezone, measures=list(a.request.measures),
                   date_range=ResolvedDateRange.from_range(a.date_range, tz),
                   rows=[CohortRow.from_cell(c, tz) for c in a.result.cells])


@strawberry.type(description="A field queries can filter or group by.")
class FilterField:
    name: str
    type: str = strawberry.field(description="string, number, boolean or property.")
    description: str
    operators: list[str]
    groupable: bool
    values: list[str] = strawberry.field(description="Known values, where the set is fixed.")

    @classmethod
    def from_spec(cls, f: FieldSpec) -> FilterField:
        return cls(name=f.name, type=f.type, description=f.description,
                   operators=list(f.operators), groupable=f.groupable, values=list(f.values))

    @classmethod
    def properties(cls) -> FilterField:
        return cls(name="properties.<key>", type="property",
                   description="A custom event property; key: letters, digits, _ and -.",
                   operators=list(OPERATORS), groupable=True, values=[])
