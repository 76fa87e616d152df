"""The cost estimate and the request's ledger (gateway/cost.py, issue #12): buckets as the
engine plans them, what makes a query cost more, and what a request is charged."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway import cost
from gateway.cost import (
    CostLedger,
    analytics_cost,
    analytics_input_cost,
    bucket_count,
    group_count,
    rate_units,
)
from gateway.engine.buckets import plan_buckets
from gateway.engine.query import TimeRange
from gateway.errors import QueryTooCostly
from gateway.periods import day_range

NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize("granularity", ["none", "hour", "day", "week", "month", "quarter",
                                         "year"])
@pytest.mark.parametrize(("first", "last"), [
    (date(2026, 11, 1), date(2026, 11, 30)), (date(2025, 2, 27), date(2026, 11, 19)),
    (date(2026, 3, 1), date(2026, 3, 31)),  # a DST change in New York
])
def test_bucket_count_is_the_engines(granularity: str, first: date, last: date) -> None:
    """Rule: the estimate counts the buckets the engine plans for those days (issue #12), a
    DST day's hour aside."""
    for zone in (NY, KOLKATA):
        planned = plan_buckets(granularity, TimeRange(*day_range(first, last, zone)), zone.key,
                               10**6).count
        assert abs(bucket_count(granularity, first, last) - planned) <= 1, (zone, planned)


def test_groups_from_dimensions_and_limit() -> None:
    assert group_count([], None) == 1
    assert group_count(["customer_type"], None) == 3  # two values and a null
    assert group_count(["utm_source"], None) == cost.GROUPS_PER_DIMENSION
    assert group_count(["utm_source", "country"], 7) == 7


def _hourly(zone: ZoneInfo, *, rollups: bool = True, measures: tuple[str, ...] = (
        "core.revenue",), granularity: str = "hour") -> float:
    return analytics_cost(measures=measures, granularity=granularity,
                          ranges=[(date(2026, 8, 1), date(2026, 10, 31))], zone=zone,
                          rollups=rollups).ms


def test_what_makes_a_query_cost_more() -> None:
    """Rule: a half-hour zone's hourly buckets are not rollup-aligned, so the range is
    scanned raw and costs more; so does a percentile, or a database without rollups; every
    bucket and measure counts (issue #12)."""
    base = _hourly(NY)
    assert _hourly(KOLKATA) > base
    assert _hourly(NY, rollups=False) == _hourly(KOLKATA)
    assert _hourly(NY, measures=("orders.median_order_value",)) > base
    assert _hourly(NY, measures=("core.revenue", "core.orders")) > base
    assert _hourly(NY, granularity="day") < base
    # More buckets than the engine plans: refused by it at once, so only the overhead.
    assert _hourly(NY, granularity="second") == cost.QUERY_MS


def test_input_cost_is_the_services() -> None:
    """Rule: the estimate of a request as GraphQL receives it (presets, compare default)
    equals the estimate of the query the service resolves from it (issue #12)."""
    raw = {"measures": ["core.revenue", "web.sessions"], "granularity": "HOUR",
           "dateRange": {"preset": "last_7_days"}, "dimensions": ["device"], "limit": 3}
    resolved = analytics_cost(
        measures=["core.revenue", "web.sessions"], granularity="hour",
        ranges=[(date(2026, 11, 13), date(2026, 11, 19)), (date(2026, 11, 6),
                                                            date(2026, 11, 12))],
        zone=NY, dimensions=["device"], limit=3)
    assert analytics_input_cost(raw, NY, NOW, rollups=True) == resolved
    off = analytics_input_cost({**raw, "compare": False}, NY, NOW, rollups=True)
    assert off.points == resolved.points[:1] and off.ms < resolved.ms
    unknown = analytics_input_cost({**raw, "dateRange": {"preset": "forever"}}, NY, NOW,
                                   rollups=True)
    assert unknown.ms == cost.QUERY_MS  # refused by the service before any work


@pytest.mark.parametrize(("ms", "units"), [(0, 0), (100, 0), (101, 1), (200, 1), (201, 2),
                                           (1000, 9), (5000, 49)])
def test_rate_units(ms: float, units: int) -> None:
    """Rule: one rate-limit unit per 100 ms beyond the first 100 ms (issue #12)."""
    assert cost.COST_UNIT_MS == 100
    assert rate_units(ms) == units


class Charges:
    """What the rate limiter was asked to charge (the interface `Context.charge` offers)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def __call__(self, units: int) -> None:
        self.calls.append(units)


async def test_rest_request_is_charged_when_its_query_is_admitted() -> None:
    """Rule: a REST request prepays nothing; each query it admits is charged what it adds
    (issue #12)."""
    charges = Charges()
    ledger = CostLedger(1000, charge=charges)
    await ledger.admit(250.2)
    assert charges.calls == [2] and ledger.charged_ms == 251
    await ledger.admit(100)
    assert charges.calls == [2, 1] and ledger.charged_ms == 351
    with pytest.raises(QueryTooCostly) as refused:
        await ledger.admit(700)
    assert (refused.value.cost_ms, refused.value.budget_ms) == (1051, 1000)
    assert charges.calls == [2, 1] and ledger.spent_ms == 351


async def test_graphql_prepays_its_estimate_and_tops_up_past_it() -> None:
    """Rule: GraphQL is charged its document's estimate before execution; its queries are
    charged only for what they spend beyond it (issue #12)."""
    charges = Charges()
    ledger = CostLedger(1000, charge=charges)
    await ledger.prepay(500)
    assert charges.calls == [4]
    await ledger.admit(300)
    assert charges.calls == [4] and ledger.charged_ms == 500
    await ledger.admit(300)
    assert charges.calls == [4, 1] and ledger.charged_ms == 600
    with pytest.raises(QueryTooCostly) as refused:
        await CostLedger(1000, charge=charges).prepay(1000.5)
    assert refused.value.extensions == {"code": "QUERY_TOO_COSTLY", "cost": 1001,
                                        "budget": 1000}
    assert charges.calls == [4, 1]
