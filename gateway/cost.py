"""The cost budget: what a request asks for, in milliseconds of server time, before it runs.

The one home of the estimate. The GraphQL extension (gateway/graphql_cost.py) costs a whole
document with it before execution; the analytics services (queries, attribution, cohorts,
widget data) cost each query with it from its resolved input, just before the engine runs,
so GraphQL and REST give the same answer for the same query.

An analytics query costs

    QUERY_MS                                        validation, plan, statements launched
    + per period (the compare period is a second one):
        days x measures x ROLLUP_DAY_MS             reading hourly rollups, where they answer
                                                    (whole-hour zone, hour or coarser
                                                    buckets, no percentile, SQLite);
        | days x rows x RAW_ROW_MS                  else scanning raw events: `rows` are the
                                                    events a day holds of the names each
                                                    measure part reads (EVENTS_PER_DAY, the
                                                    demo's mix), summed over the parts
        + points x (POINT_MS + measures x CELL_MS)  assembling buckets x groups, each with
                                                    one value per measure

`points` is buckets x groups, buckets counted from the range, granularity and zone
(`gateway.periods`), groups estimated from the dimensions (a field with a fixed set of values
counts them, any other GROUPS_PER_DIMENSION) and cut by `limit`. A query the engine refuses
at once (more buckets than it allows) costs only QUERY_MS; its cells are capped at the
engine's bound. Attribution costs its range plus its look-back window of raw events per
period; cohorts their range, and one row per cohort and period offset. GraphQL adds
FIELD_MS per field it resolves (list fields multiply their items' fields by the page size),
ROOT_FIELD_MS per root field, and WIDGET_MS plus the points of each widget's `data`.

The constants are calibrated on this machine with `python benchmarks/cost.py --fit` (the
365-day demo store, real requests through the app, server time as CPU ms of the process;
docs/benchmarks.md has the whole table, 2026-12-01):

    request                                           CPU ms  estimate  est/CPU
    REST daily 30 d, 1 measure                           5.6       6  1.06
    REST daily 30 d, 3 measures by utm_source           32.3      16  0.49
    REST daily 365 d, 10 measures                       59.5      57  0.96
    REST daily 365 d, 3 measures by device, country    997.9   1,244  1.25
    REST hourly 30 d, 1 measure                         19.3      17  0.88
    REST hourly 90 d, 3 measures                       191.5      79  0.41
    REST hourly 365 d, 1 measure                       283.4     149  0.53
    REST hourly 90 d Asia/Kolkata (raw), 3 measures    428.0     214  0.50
    REST daily 365 d Asia/Kolkata (raw), 3 measures    616.1     570  0.93
    REST daily 365 d Asia/Kolkata (raw), 1 measure      12.0      17  1.42
    REST daily 90 d Asia/Kolkata (raw), 10 measures     23.8      22  0.93
    REST minute 5 d (raw), 1 measure                    70.1      63  0.90
    REST month 365 d, 30 measures                     1831.8   1,687  0.92
    REST attribution 30 d                               87.5      76  0.87
    REST attribution 180 d, linear                     274.8     253  0.92
    REST cohorts monthly 365 d                          44.4      45  1.01
    REST cohorts weekly 90 d                            24.3      18  0.74
    GraphQL hourly 30 d, 1 measure                      62.1      67  1.08
    GraphQL hourly 90 d, 3 measures                    349.4     313  0.90
    GraphQL hourly 365 d, 1 measure                    822.3     732  0.89
    GraphQL daily 90 d by utm_source, totals only       19.6      23  1.17
    GraphQL widget page (20 views x 30 widgets)        335.3     297  0.89
    GraphQL catalog (55 measures, cached)                1.3       0  -
    GraphQL introspection (GraphiQL's query)            32.3     101  3.12
    GraphQL viewer and pixels                            3.4       3  0.88
    issue: 10 aliased hourly fields, 90 d             2198.3   1,858  0.85
    issue: 30 aliased fields, a year, Asia/Kolkata    1124.7   1,293  1.15

The default budget (1,000 ms, settings) refuses the last two rows, the issue's, and passes
every other page the demo, README and examples/ show. The estimate is of what the request
asks for, on data as dense as the demo's: a store ten times denser scans
ten times longer, and the query time limit, not this budget, bounds that.

A request may spend at most the budget (`Settings.query_cost_budget_ms`); past it the answer
is QUERY_TOO_COSTLY with the cost and the budget. What it spends is charged against its
rate limit: `rate_units(ms)` units beyond the one every request pays on entry.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.catalog import CATALOG
from gateway.engine.fields import find_field
from gateway.engine.measures import plan_measures
from gateway.engine.run import Limits
from gateway.errors import QueryTooCostly
from gateway.limits import MAX_NAME_LENGTH, date_problem, find_zone
from gateway.periods import (
    DEFAULT_PRESET,
    MAX_RANGE_DAYS,
    PRESETS,
    floor_day,
    preceding_days,
    preset_days,
)

__all__ = [
    "CELL_MS",
    "COST_UNIT_MS",
    "EVENTS_PER_DAY",
    "FIELD_MS",
    "POINT_MS",
    "QUERY_MS",
    "RAW_ROW_MS",
    "ROLLUP_DAY_MS",
    "ROOT_FIELD_MS",
    "WIDGET_MS",
    "CostLedger",
    "Estimate",
    "analytics_cost",
    "analytics_input_cost",
    "attribution_cost",
    "attribution_input_cost",
    "bucket_count",
    "cohort_cost",
    "cohort_input_cost",
    "group_count",
    "rate_units",
    "widget_cost",
    "widget_input_cost",
]

# Calibrated by benchmarks/cost.py (see the module docstring).
QUERY_MS = 4.5
ROLLUP_DAY_MS = 0.0023
RAW_ROW_MS = 0.00057
POINT_MS = 0.0037
CELL_MS = 0.0044
ATTRIBUTION_DAY_MS = 0.59
COHORT_DAY_MS = 0.10
FIELD_MS = 0.0051
ROOT_FIELD_MS = 2.6
WIDGET_MS = 0.16
GROUPS_PER_DIMENSION = 10
# Events a day of a store as dense as the demo (gateway.demo), by name: what a raw scan of a
# day reads for a measure part over those events; custom events count OTHER_EVENTS_PER_DAY.
EVENTS_PER_DAY = {"page_view": 1300, "purchase": 14, "refund": 1, "ad_spend": 5}
OTHER_EVENTS_PER_DAY = 100

# Rate-limit units: one per COST_UNIT_MS of estimated server time beyond the first
# COST_UNIT_MS (which the entry unit covers).
COST_UNIT_MS = 100

_LIMITS = Limits()
_FIXED_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


@dataclass(frozen=True)
class Estimate:
    """A query's cost (`ms`) and the sizes of what it answers, for the GraphQL walker:
    `points` per period (primary, compare), `measures`, `dimensions`, `rows`."""

    ms: float
    points: tuple[int, ...] = ()
    measures: int = 0
    dimensions: int = 0
    rows: int = 0


def rate_units(ms: float) -> int:
    """Rate-limit units for `ms` of estimated server time, beyond the entry unit: one per
    COST_UNIT_MS past the first COST_UNIT_MS (100 ms: 0; 101-200 ms: 1; 5 s: 49)."""
    return max(0, math.ceil(ms / COST_UNIT_MS) - 1)


def bucket_count(granularity: str, first: date, last: date) -> int:
    """Buckets of `granularity` covering the local days first..last (both inclusive), as the
    engine plans them (a DST day's hour more or less aside)."""
    days = (last - first).days + 1
    if granularity == "none":
        return 1
    if granularity in _FIXED_SECONDS:
        return days * 86_400 // _FIXED_SECONDS[granularity]
    if granularity == "day":
        return days
    if granularity == "week":
        return (last - floor_day(first, "week")).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    if granularity == "month":
        return months + 1
    if granularity == "quarter":
        return (last.year - first.year) * 4 + (last.month - 1) // 3 - (first.month - 1) // 3 + 1
    return last.year - first.year + 1  # year (anything else was refused before)


def group_count(dimensions: Sequence[str], limit: int | None) -> int:
    """Estimated dimension groups: a field with a fixed set of values has that many (and a
    null), any other GROUPS_PER_DIMENSION; the product, cut by `limit`."""
    groups = 1
    for name in dimensions:
        spec = find_field(name)
        groups *= len(spec.values) + 1 if spec is not None and spec.values else \
            GROUPS_PER_DIMENSION
        groups = min(groups, _LIMITS.max_cells)
    return groups if limit is None else max(1, min(groups, limit))


@functools.lru_cache(maxsize=256)
def _whole_hours(zone: str, first_year: int, last_year: int) -> bool:
    """Whether every UTC offset `zone` uses in those years is a whole number of hours
    (sampled twice a month over at most three years: offsets repeat yearly)."""
    tz = ZoneInfo(zone)
    for year in range(first_year, min(last_year, first_year + 2) + 1):
        for month in range(1, 13):
            for day in (1, 15):
                offset = datetime(year, month, day, 12, tzinfo=tz).utcoffset()
                if offset is None or offset.total_seconds() % 3600:
                    return False
    return True


def _parts(names: tuple[str, ...]) -> tuple[bool, float]:
    """(whether a part is a percentile, rows a raw scan reads per day summed over the parts:
    each part is a conditional aggregate over its events' rows) for measure keys or titles;
    unknown names (the service refuses them) count nothing."""
    found = tuple(dict.fromkeys(d.key for k in names if len(k) <= MAX_NAME_LENGTH
                                and (d := CATALOG.resolve(k)) is not None))
    return _plan_parts(found) if found else (False, 0.0)


@functools.lru_cache(maxsize=1024)  # keyed by catalog keys only: a client cannot grow it
def _plan_parts(keys: tuple[str, ...]) -> tuple[bool, float]:
    plan = plan_measures(keys, CATALOG)
    rows = sum(EVENTS_PER_DAY.get(name, OTHER_EVENTS_PER_DAY)
               for part in plan.parts for name in part.events)
    return any(part.fn.startswith("p") for part in plan.parts), float(rows)


def _percentile(keys: Sequence[str]) -> bool:
    return _parts(tuple(keys))[0]


def _reads_rollups(granularity: str, zone: ZoneInfo, first: date, last: date,
                   measures: Sequence[str], rollups: bool) -> bool:
    """Whether the period is answered from hourly rollups (gateway/engine/rollup_plan.py's
    `aligned`, from what is known before planning)."""
    return (rollups and granularity not in ("second", "minute")
            and _whole_hours(zone.key, first.year, last.year) and not _percentile(measures))


def analytics_cost(*, measures: Sequence[str], granularity: str,
                   ranges: Sequence[tuple[date, date]], zone: ZoneInfo,
                   dimensions: Sequence[str] = (), limit: int | None = None,
                   rollups: bool = True) -> Estimate:
    """One analytics query: `ranges` are the periods' local days (primary, then compare);
    `rollups`: whether the database keeps rollups (SQLite)."""
    groups = group_count(dimensions, limit)
    total = QUERY_MS
    points: list[int] = []
    for first, last in ranges:
        buckets = bucket_count(granularity, first, last)
        if buckets > _LIMITS.max_buckets:  # the engine refuses it before any SQL
            return Estimate(QUERY_MS, measures=len(measures), dimensions=len(dimensions))
        cells = min(buckets * groups, _LIMITS.max_cells)
        days = (last - first).days + 1
        if _reads_rollups(granularity, zone, first, last, measures, rollups):
            total += days * len(measures) * ROLLUP_DAY_MS
        else:
            total += days * _parts(tuple(measures))[1] * RAW_ROW_MS
        total += cells * (POINT_MS + len(measures) * CELL_MS)
        points.append(cells)
    return Estimate(total, tuple(points), len(measures), len(dimensions))


def attribution_cost(*, dimension: str, ranges: Sequence[tuple[date, date]],
                     window_days: int) -> Estimate:
    """One attribution query: per period, its days and the look-back window of raw events,
    one row per value of the dimension."""
    total = QUERY_MS
    for first, last in ranges:
        total += ((last - first).days + 1 + max(0, window_days)) * ATTRIBUTION_DAY_MS
    rows = group_count((dimension,), None)
    return Estimate(total, tuple(rows for _ in ranges), rows=rows)


def cohort_cost(*, measures: int, granularity: str, first: date, last: date) -> Estimate:
    """One cohort analysis: its days of orders, and one row per cohort and period offset
    (n cohorts have n(n+1)/2), each with a value per measure."""
    n = bucket_count(granularity, first, last)
    rows = n * (n + 1) // 2
    total = QUERY_MS + ((last - first).days + 1) * COHORT_DAY_MS
    total += rows * (POINT_MS + measures * CELL_MS)
    return Estimate(total, (rows,), measures, rows=rows)


def widget_cost(*, granularity: str, first: date, last: date) -> Estimate:
    """One widget's `data` (its share of the one engine query its group runs, and its
    points)."""
    buckets = bucket_count(granularity, first, last)
    if buckets > _LIMITS.max_buckets:
        return Estimate(WIDGET_MS)
    return Estimate(WIDGET_MS + buckets * (POINT_MS + CELL_MS), (buckets,), 1)


# From a request's input, as a client sends it (GraphQL arguments) ------------------------

Days = tuple[date, date]


def _days(raw: Any, zone: ZoneInfo, now: datetime) -> Days | None:
    """The local days of a `{start, end, preset}` range; None when the service would refuse
    it (it then costs nothing beyond QUERY_MS)."""
    if not isinstance(raw, Mapping):
        return None
    preset = raw.get("preset")
    if preset is not None:
        return preset_days(preset, now, zone) if preset in PRESETS else None
    days = []
    for given in (raw.get("start"), raw.get("end")):
        value = given
        if isinstance(given, str) and len(given) == 10:
            try:
                value = date.fromisoformat(given)
            except ValueError:
                return None
        if not isinstance(value, date) or date_problem(value) is not None:
            return None  # as the service decides (gateway.limits: 2000-01-01..2100-12-31)
        days.append(value)
    first, last = days
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        return None
    return first, last


def _ranges(raw: Mapping[str, Any], zone: ZoneInfo, now: datetime,
            default_compare: bool) -> list[Days]:
    primary = _days(raw.get("dateRange"), zone, now)
    if primary is None:
        return []
    found = [primary]
    compare = raw.get("compare")
    if compare is not False:
        explicit = raw.get("compareDateRange")
        if explicit is not None:
            other = _days(explicit, zone, now)
            if other is not None:
                found.append(other)
        elif compare or default_compare:
            found.append(preceding_days(*primary))
    return found


def _zone(raw: Mapping[str, Any], default: ZoneInfo) -> ZoneInfo | None:
    name = raw.get("timezone")
    return default if name is None else find_zone(name)


def _enum(value: Any, default: str) -> str:
    """An enum argument's value: a Python enum member (GraphQL coerces to it) or its text."""
    found = getattr(value, "value", value)
    return found.lower() if isinstance(found, str) else default


def analytics_input_cost(raw: Mapping[str, Any], zone: ZoneInfo, now: datetime, *,
                         rollups: bool) -> Estimate:
    """`analytics(input:)` as sent (GraphQL names: measures, dateRange, granularity, …);
    `zone` is the pixel's, used when the input names none."""
    tz = _zone(raw, zone)
    measures = raw.get("measures") or []
    granularity = _enum(raw.get("granularity"), "day")
    dimensions = raw.get("dimensions") or []
    limit = raw.get("limit")
    if tz is None or not isinstance(measures, list) or not 1 <= len(measures) <= 30 \
            or not isinstance(dimensions, list) or len(dimensions) > 5:
        return Estimate(QUERY_MS)
    ranges = _ranges(raw, tz, now, granularity != "none")
    if not ranges:
        return Estimate(QUERY_MS)
    return analytics_cost(
        measures=[str(m) for m in dict.fromkeys(map(str, measures))], granularity=granularity,
        ranges=ranges, zone=tz, dimensions=[str(d) for d in dimensions],
        limit=limit if isinstance(limit, int) and limit >= 1 else None, rollups=rollups)


def attribution_input_cost(raw: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> Estimate:
    """`attribution(input:)` as sent; compare defaults to on, as the service decides."""
    tz = _zone(raw, zone)
    window = raw.get("attributionWindow")
    if tz is None:
        return Estimate(QUERY_MS)
    ranges = _ranges(raw, tz, now, True)
    if not ranges:
        return Estimate(QUERY_MS)
    return attribution_cost(dimension=str(raw.get("dimension") or ""), ranges=ranges,
                            window_days=min(window, 365) if isinstance(window, int) else 30)


def cohort_input_cost(raw: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> Estimate:
    """`cohortAnalysis(input:)` as sent (measures default to all seven)."""
    tz = _zone(raw, zone)
    measures = raw.get("measures")
    count = 7 if measures is None else len(measures) if isinstance(measures, list) else 0
    days = None if tz is None else _days(raw.get("dateRange"), tz, now)
    if days is None or not 1 <= count <= 30:
        return Estimate(QUERY_MS)
    return cohort_cost(measures=count, granularity=_enum(raw.get("granularity"), "month"),
                       first=days[0], last=days[1])


def widget_input_cost(date_range: Any, granularity: Any, zone: ZoneInfo,
                      now: datetime) -> Estimate:
    """A widget's `data(dateRange:, granularity:)`; without them the view's stored default,
    unknown before execution, is taken as the default preset, daily."""
    days = _days(date_range, zone, now) if date_range is not None else \
        preset_days(DEFAULT_PRESET, now, zone)
    name = granularity if isinstance(granularity, str) else "day"
    if days is None:
        return Estimate(WIDGET_MS)
    return widget_cost(granularity=name, first=days[0], last=days[1])


# The ledger of one request ---------------------------------------------------------------

Charge = Callable[[int], Awaitable[None]]


@dataclass
class CostLedger:
    """What one request may spend (`budget_ms`) and has been charged for.

    GraphQL `prepay`s its document's estimate before execution; each analytics query then
    `admit`s its own estimate (from its resolved input) just before it runs: refused past the
    budget, and charged only for what the request spends beyond what it paid. A REST request
    prepays nothing: its one query is charged when admitted. `charge(units)` is the rate
    limiter's (`Context.charge`), called with `rate_units` of what is newly spent.

    >>> ledger = CostLedger(5000, charge=ctx.charge)
    >>> await ledger.admit(analytics_cost(...).ms)    # raises QueryTooCostly past 5,000 ms
    """

    budget_ms: int
    charge: Charge | None = None
    estimated_ms: int = 0
    spent_ms: int = 0
    _units: int = field(default=0, repr=False)

    @property
    def charged_ms(self) -> int:
        """The request's cost as charged: its estimate, or what its queries spent if more."""
        return max(self.estimated_ms, self.spent_ms)

    def refuse(self, cost_ms: int) -> QueryTooCostly:
        return QueryTooCostly(cost_ms, self.budget_ms)

    async def prepay(self, ms: float) -> None:
        """The whole request's estimate (GraphQL, before execution): QueryTooCostly past the
        budget, else charged."""
        cost = math.ceil(ms)
        if cost > self.budget_ms:
            raise self.refuse(cost)
        self.estimated_ms = max(self.estimated_ms, cost)
        await self._settle()

    async def admit(self, ms: float) -> None:
        """One query about to run: QueryTooCostly when it would take what the request's
        queries spend past the budget; otherwise charged for what exceeds the prepaid."""
        cost = math.ceil(ms)
        if self.spent_ms + cost > self.budget_ms:
            raise self.refuse(self.spent_ms + cost)
        self.spent_ms += cost  # before any await: concurrent resolvers see it
        await self._settle()

    async def _settle(self) -> None:
        due = rate_units(self.charged_ms) - self._units
        if due > 0 and self.charge is not None:
            self._units += due
            await self.charge(due)

