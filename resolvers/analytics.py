"""Analytics fields: queries, attribution, cohorts and filter discovery."""

from __future__ import annotations

import strawberry

from gateway.context import Info
from gateway.services import analytics as service
from gateway.types.analytics import (
    AnalyticsQueryInput,
    AnalyticsResult,
    AttributionQueryInput,
    AttributionResult,
    CohortQueryInput,
    CohortResult,
    FilterField,
)

__all__ = ["AnalyticsQuery", "resolve_analytics", "resolve_analytics_filters",
           "resolve_attribution", "resolve_cohort_analysis"]


async def resolve_analytics(info: Info, input: AnalyticsQueryInput) -> AnalyticsResult:
    ctx = info.context
    answer = await service.run_analytics_query(ctx.db, ctx.principal, input.to_request(),
                                               ctx.now())
    return AnalyticsResult.from_answer(answer)


async def resolve_attribution(info: Info, input: AttributionQueryInput) -> AttributionResult:
    ctx = info.context
    answer = await service.run_attribution_query(ctx.db, ctx.principal, input.to_request(),
                                                 ctx.now())
    return AttributionResult.from_answer(answer, answer.timezone)


async def resolve_cohort_analysis(info: Info, input: CohortQueryInput) -> CohortResult:
    ctx = info.context
    answer = await service.run_cohort_query(ctx.db, ctx.principal, input.to_request(),
                                            ctx.now())
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
