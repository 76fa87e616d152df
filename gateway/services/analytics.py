"""Analytics operations: queries, attribution, cohorts and filter discovery.

Scope `analytics:read`; the pixel is the request's (`require_pixel`), and a `pixelId` sent
in a body must equal it (PixelMismatch, 403, as Upstack documents). Input problems are
collected and raised together as one InvalidInput with field paths and suggestions.
Each valid query is then admitted to the request's cost ledger (`cost`, gateway/cost.py):
QueryTooCostly past the request's budget, whatever the surface, and charged against its rate
limit, before the engine runs. The engine (`gateway.engine`) does the computing; this module
decides what to ask it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.attribution import MODELS
from gateway.auth.policy import require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.catalog import CATALOG, MeasureDefinition
from gateway.cost import CostLedger, analytics_cost, attribution_cost, cohort_cost
from gateway.engine import (
    COHORT_MEASURES,
    FIELDS,
    AttributionQuery,
    AttributionResult,
    CohortQuery,
    CohortResult,
    EngineQuery,
    EngineResult,
    FieldSpec,
    run_attribution,
    run_cohorts,
    run_query,
)
from gateway.errors import PixelMismatch
from gateway.filters import FilterNode
from gateway.limits import MAX_NAME_LENGTH
from gateway.periods import COHORT_GRANULARITIES, GRANULARITIES, overlaps
from gateway.services.analytics_input import (
    DateRangeRequest,
    Problems,
    ResolvedRange,
    parse_filter,
    preceding,
    resolve_dimension,
    resolve_measures,
    resolve_range,
    resolve_timezone,
)
from gateway.storage import Database
from gateway.storage.tenancy import find_pixel

__all__ = ["AttributionAnswer", "AttributionRequest", "CohortAnswer", "CohortRequest",
           "MeasureSummary", "QueryAnswer", "QueryRequest", "list_filter_fields",
           "percent_diff", "run_analytics_query", "run_attribution_query",
           "run_cohort_query"]

SCOPE = "analytics:read"
MAX_DIMENSIONS = 5
MAX_LIMIT = 1000


@dataclass(frozen=True)
class QueryRequest:
    """A query as either surface sends it. `filters` is the typed filter tree (parsed once,
    by `parse_filter`). `compare`: None = default (the preceding period when
    granularity != none), False = off."""

    measures: Sequence[str]
    date_range: DateRangeRequest | None
    granularity: str = "day"
    dimensions: Sequence[str] = ()
    timezone: str | None = None
    filters: FilterNode | None = None
    compare_date_range: DateRangeRequest | None = None
    compare: bool | None = None
    order_by: str | None = None
    descending: bool = True
    limit: int | None = None
    pixel_id: str | None = None


@dataclass(frozen=True)
class MeasureSummary:
    """Per-measure figures over each period (Upstack `measureDetails[]`).

    `*_sum`/`*_avg`: sum and mean of the bucket values; `*_total`: the period value
    (formulas and distinct counts recomputed over the whole period); `calculated_average`:
    that period value for average/ratio measures; `percent_diff` compares the totals.
    """

    measure: MeasureDefinition
    primary_sum: float | None
    primary_avg: float | None
    primary_total: float | None
    compare_sum: float | None = None
    compare_avg: float | None = None
    compare_total: float | None = None
    percent_diff: float | None = None

    @property
    def calculated_average(self) -> float | None:
        return self.primary_total if self.measure.is_average else None


@dataclass(frozen=True)
class QueryAnswer:
    request: EngineQuery
    date_range: ResolvedRange
    compare_date_range: ResolvedRange | None
    result: EngineResult
    summaries: list[MeasureSummary]


def _check_pixel(principal: Principal | None, body_pixel: str | None) -> tuple[Principal, str]:
    found = require_scope(principal, SCOPE)
    pixel = require_pixel(found)
    if body_pixel is not None and body_pixel != pixel:
        raise PixelMismatch(f"pixelId {body_pixel!r} does not match the request's pixel")
    return found, pixel


async def _zone(db: Database, pixel_id: str, name: str | None, problems: Problems
                ) -> ZoneInfo | None:
    if name is None:  # the pixel's own zone
        async with db.session() as session:
            row = await find_pixel(session, pixel_id)
        name = row.timezone if row is not None else "UTC"
    return resolve_timezone(name, problems, "timezone")


def _compare_range(explicit: DateRangeRequest | None, enabled: bool | None, granularity: str,
                   primary: ResolvedRange | None, tz: ZoneInfo | None, now: datetime,
                   problems: Problems) -> ResolvedRange | None:
    if enabled is False or primary is None or tz is None:
        return None
    if explicit is not None:
        found = resolve_range(explicit, tz, now, problems, "compareDateRange")
        if found is not None and overlaps((found.range.start, found.range.end),
                                          (primary.range.start, primary.range.end)):
            problems.add("compareDateRange must not overlap dateRange", "compareDateRange")
        return found
    if enabled or granularity != "none":
        return preceding(primary, tz)
    return None


def percent_diff(primary: float | None, compare: float | None) -> float | None:
    """(primary - compare) / |compare| x 100: Upstack's `percentDiff`, the one formula for
    every answer that compares periods. None without both values or when compare is 0."""
    if primary is None or not compare:
        return None
    return (primary - compare) / abs(compare) * 100.0


def _summaries(keys: Sequence[str], result: EngineResult, compare: bool) -> list[MeasureSummary]:
    out = []
    for k in keys:
        d = CATALOG.get(k)  # keys were resolved against the catalog
        p_vals = [v for b in result.primary if (v := b.values[k]) is not None]
        c_vals = [v for b in result.compare if (v := b.values[k]) is not None]
        p_total = result.totals.get(k)
        c_total = result.compare_totals.get(k) if compare else None
        out.append(MeasureSummary(
            d, float(sum(p_vals)) if p_vals else None,
            sum(p_vals) / len(p_vals) if p_vals else None, p_total,
            (float(sum(c_vals)) if c_vals else None) if compare else None,
            (sum(c_vals) / len(c_vals) if c_vals else None) if compare else None,
            c_total, percent_diff(p_total, c_total)))
    return out


def _days(*ranges: ResolvedRange | None) -> list[tuple[date, date]]:
    return [(r.start, r.end) for r in ranges if r is not None]


async def run_analytics_query(db: Database, principal: Principal | None, req: QueryRequest,
                              now: datetime, *, cost: CostLedger | None = None) -> QueryAnswer:
    """Validate `req`, admit it to `cost` and run it. Raises AuthRequired/InsufficientScope,
    PixelMismatch, InvalidInput (every problem, with paths), QueryTooCostly (and the rate
    limiter's RateLimited) or QueryTooLarge."""
    _, pixel = _check_pixel(principal, req.pixel_id)
    problems = Problems()
    measures = resolve_measures(req.measures, problems, "measures")
    problems.one_of(req.granularity, GRANULARITIES, "granularity", "granularity")
    dims: tuple[str, ...] = ()
    if len(req.dimensions) > MAX_DIMENSIONS:  # none looked at: each unknown one costs a hint
        problems.add(f"at most {MAX_DIMENSIONS} dimensions", "dimensions")
    else:
        dims = tuple(d for i, name in enumerate(req.dimensions)
                     if (d := resolve_dimension(name, problems, "dimensions", i)) is not None)
    tz = await _zone(db, pixel, req.timezone, problems)
    primary = None if tz is None else resolve_range(req.date_range, tz, now, problems,
                                                    "dateRange")
    compare = _compare_range(req.compare_date_range, req.compare, req.granularity, primary,
                             tz, now, problems)
    filters = parse_filter(req.filters, problems, "filters")
    order_by = None
    if req.order_by is not None:
        found = CATALOG.resolve(req.order_by)
        if found is None or found.key not in measures:
            problems.add("orderBy must be one of the query's measures", "orderBy")
        else:
            order_by = found.key
    if req.limit is not None and not 1 <= req.limit <= MAX_LIMIT:
        problems.add(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    if problems.errors or primary is None or tz is None:
        raise problems.error()
    query = EngineQuery(
        pixel_id=pixel, measures=measures, range=primary.range, granularity=req.granularity,
        timezone=tz.key, dimensions=dims, filters=filters,
        compare_range=None if compare is None else compare.range, order_by=order_by,
        descending=req.descending, limit=req.limit)
    if cost is not None:
        await cost.admit(analytics_cost(
            measures=measures, granularity=req.granularity, ranges=_days(primary, compare),
            zone=tz, dimensions=dims, limit=req.limit, rollups=db.is_sqlite).ms)
    result = await run_query(db, query)
    return QueryAnswer(query, primary, compare, result,
                       _summaries(measures, result, compare is not None))


@dataclass(frozen=True)
class AttributionRequest:
    """An attribution query as either surface sends it; the surfaces fill in the defaults
    (`gateway.attribution`), this service bounds the values."""

    date_range: DateRangeRequest | None
    dimension: str
    model: str
    window_days: int
    conversion_event: str
    half_life_days: float
    timezone: str | None = None
    filters: FilterNode | None = None
    compare_date_range: DateRangeRequest | None = None
    compare: bool | None = None
    pixel_id: str | None = None


@dataclass(frozen=True)
class AttributionAnswer:
    """`percent_diff`: per total (conversions, revenue), `percent_diff` of the period
    against the compare period; empty without a compare period."""

    request: AttributionQuery
    date_range: ResolvedRange
    compare_date_range: ResolvedRange | None
    result: AttributionResult
    timezone: str
    percent_diff: dict[str, float | None] = field(default_factory=dict)


async def run_attribution_query(db: Database, principal: Principal | None,
                                req: AttributionRequest, now: datetime, *,
                                cost: CostLedger | None = None) -> AttributionAnswer:
    """Attribution per dimension value; compare defaults to the preceding period. Admitted
    to `cost` before it runs (QueryTooCostly past the budget)."""
    _, pixel = _check_pixel(principal, req.pixel_id)
    problems = Problems()
    dim = resolve_dimension(req.dimension, problems, "dimension")
    problems.one_of(req.model, MODELS, "attribution model", "attributionModel")
    if not 1 <= req.window_days <= 365:
        problems.add("attributionWindow must be 1 to 365 days", "attributionWindow")
    if not 0 < req.half_life_days <= 365:
        problems.add("halfLifeDays must be above 0 and at most 365", "halfLifeDays")
    if not req.conversion_event or len(req.conversion_event) > 128:
        problems.add("conversionEvent must be an event name", "conversionEvent")
    tz = await _zone(db, pixel, req.timezone, problems)
    primary = None if tz is None else resolve_range(req.date_range, tz, now, problems,
                                                    "dateRange")
    compare = _compare_range(req.compare_date_range, req.compare, "day", primary, tz, now,
                             problems)
    filters = parse_filter(req.filters, problems, "filters")
    if problems.errors or primary is None or dim is None or tz is None:
        raise problems.error()
    q = AttributionQuery(pixel, primary.range, dim, req.model, req.window_days,
                         req.conversion_event, req.half_life_days, filters,
                         None if compare is None else compare.range)
    if cost is not None:
        await cost.admit(attribution_cost(dimension=dim, ranges=_days(primary, compare),
                                          window_days=req.window_days).ms)
    result = await run_attribution(db, q)
    diffs = {} if not result.compare_totals else {
        k: percent_diff(v, result.compare_totals.get(k)) for k, v in result.totals.items()}
    return AttributionAnswer(q, primary, compare, result, tz.key, diffs)


@dataclass(frozen=True)
class CohortRequest:
    """A cohort analysis as either surface sends it; `measures` default to all of them."""

    measures: Sequence[str] = COHORT_MEASURES
    date_range: DateRangeRequest | None = None
    granularity: str = "month"
    timezone: str | None = None
    filters: FilterNode | None = None
    pixel_id: str | None = None


@dataclass(frozen=True)
class CohortAnswer:
    request: CohortQuery
    date_range: ResolvedRange
    result: CohortResult


async def run_cohort_query(db: Database, principal: Principal | None, req: CohortRequest,
                           now: datetime, *, cost: CostLedger | None = None) -> CohortAnswer:
    """Cohorts of the range; admitted to `cost` before it runs (QueryTooCostly past the
    budget)."""
    _, pixel = _check_pixel(principal, req.pixel_id)
    problems = Problems()
    if not 1 <= len(req.measures) <= 30:
        problems.add("give 1 to 30 measures", "measures")
    for i, m in enumerate(req.measures if len(req.measures) <= 30 else ()):
        if m not in COHORT_MEASURES:
            import difflib

            close = (difflib.get_close_matches(m, COHORT_MEASURES, n=2, cutoff=0.5)
                     if isinstance(m, str) and len(m) <= MAX_NAME_LENGTH else [])
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            shown = str(m)[:MAX_NAME_LENGTH]
            problems.add(f"unknown cohort measure {shown!r}{hint}; use one of "
                         f"{', '.join(COHORT_MEASURES)}", "measures", i)
    if req.granularity not in COHORT_GRANULARITIES:
        problems.add(f"cohort granularity must be one of {', '.join(COHORT_GRANULARITIES)}",
                     "granularity")
    tz = await _zone(db, pixel, req.timezone, problems)
    primary = None if tz is None else resolve_range(req.date_range, tz, now, problems,
                                                    "dateRange")
    filters = parse_filter(req.filters, problems, "filters")
    if problems.errors or primary is None or tz is None:
        raise problems.error()
    q = CohortQuery(pixel, primary.range, tuple(dict.fromkeys(req.measures)), req.granularity,
                    tz.key, filters)
    if cost is not None:
        await cost.admit(cohort_cost(measures=len(q.measures), granularity=req.granularity,
                                     first=primary.start, last=primary.end).ms)
    return CohortAnswer(q, primary, await run_cohorts(db, q))


def list_filter_fields(principal: Principal | None) -> list[FieldSpec]:
    """Filter discovery: every field, its type, operators and whether it can be grouped by
    (plus `properties.<key>` as a pattern). Scope analytics:read."""
    require_scope(principal, SCOPE)
    return list(FIELDS.values())
