"""Analytics fields: queries, attribution, cohorts and filter discovery."""

from __future__ import annotations

import strawberry

from gateway.context import Info
from gateway.services import analytics as service
from gateway.services.analytics import AttributionRequest, CohortRequest, QueryRequest
from gateway.services.analytics_input import DateRangeRequest
from gateway.types.analytics import (
    AnalyticsQueryInput,
    AnalyticsResult,
    AttributionQueryInput,
    AttributionResult,
    CohortQueryInput,
    CohortResult,
    DateRangeInput,
    FilterField,
)

__all__ = ["AnalyticsQuery", "resolve_analytics", "resolve_analytics_filters",
           "resolve_attribution", "resolve_cohort_analysis"]


def _range(r: DateRangeInput | None) -> DateRangeRequest | None:
    return None if r is None else DateRangeRequest(r.start, r.end, r.preset)


def _query_request(i: AnalyticsQueryInput) -> QueryRequest:
    return QueryRequest(
        measures=list(i.measures), date_range=_range(i.date_range),
        granularity=i.granularity.value, dimensions=list(i.dimensions),
        timezone=i.timezone, filters=i.filters,
        compare_date_range=_range(i.compare_date_range), compare=i.compare,
        order_by=i.order_by, descending=i.descending, limit=i.limit,
        pixel_id=None if i.pixel_id is None else str(i.pixel_id))


def _attribution_request(i: AttributionQueryInput) -> AttributionRequest:
    return AttributionRequest(
        date_range=_range(i.date_range), dimension=i.dimension,
        model=i.attribution_model.value, window_days=i.attribution_window,
        conversion_event=i.conversion_event, half_life_days=i.half_life_days,
        timezone=i.timezone, filters=i.filters,
        compare_date_range=_range(i.compare_date_range), compare=i.compare,
        pixel_id=None if i.pixel_id is None else str(i.pixel_id))


def _cohort_request(i: CohortQueryInput) -> CohortRequest:
    base = CohortRequest()
    return CohortRequest(
        measures=base.measures if i.measures is None else list(i.measures),
        date_range=_range(i.date_range), granularity=i.granularity.value,
        timezone=i.timezone, filters=i.filters,
        pixel_id=None if i.pixel_id is None else str(i.pixel_id))


async def resolve_analytics(info: Info, input: AnalyticsQueryInput) -> AnalyticsResult:
    ctx = info.context
    answer = await service.run_analytics_query(ctx.db, ctx.principal, _query_request(input),
                                               ctx.now(), cost=ctx.cost)
    return AnalyticsResult.from_answer(answer)


async def resolve_attribution(info: Info, input: AttributionQueryInput) -> AttributionResult:
    ctx = info.context
    answer = await service.run_attribution_query(ctx.db, ctx.principal,
                                                 _attribution_request(input), ctx.now(),
                                                 cost=ctx.cost)
    return AttributionResult.from_answer(answer, answer.timezone)


async def resolve_cohort_analysis(info: Info, input: CohortQueryInput) -> CohortResult:
    ctx = info.context
    answer = await service.run_cohort_query(ctx.db, ctx.principal, _cohort_request(input),
                                            ctx.now(), cost=ctx.cost)
    return CohortResult.from_answer(answer)


def resolve_analytics_filters(info: Info) -> list[FilterField]:
    fields = service.list_filter_fields(info.context.principal)
    return [*(FilterField.from_spec(f) for f in fields), FilterField.properties()]


@strawberry.type
class AnalyticsQuery:
    analytics: AnalyticsResult = strawberry.field(
        resolver=resolve_analytics,
        description="A time series of measures (scope analytics:read): buckets in the "
        "query's time zone, optional breakdown by dimensions, filters and a compare period.")
    attribution: AttributionResult = strawberry.field(
        resolver=resolve_attribution,
        description="Conversions and revenue attributed to a dimension's values under a "
        "model (scope analytics:read).")
    cohort_analysis: CohortResult = strawberry.field(
        resolver=resolve_cohort_analysis,
        description="Customers by the period of their first order: size, retention, LTV, "
        "AOV per period offset (scope analytics:read).")
    analytics_filters: list[FilterField] = strawberry.field(
        resolver=resolve_analytics_filters,
        description="Fields queries can filter or group by, with their operators.")
