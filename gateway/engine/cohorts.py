"""Cohort analysis: customers grouped by the local period of their first order.

A customer is a `user_id` on `purchase` events; their cohort is the (week|month|year) period,
in the query's time zone, holding their first purchase ever (history before the range
counts, so a returning customer never joins a later cohort). Cohorts whose period starts in
the range are reported, each with offsets 0, 1, … up to the period holding the range's end.

Per cohort and offset k (period k = the cohort's period shifted by k; orders and refunds
count from the cohort's own period on):
- orders.customers_cohort: cohort size;
- orders.cohort_retention_percent: customers with a purchase in period k, % of the size;
- orders.ltv_cohort_gross_revenue: purchases through the end of period k, per customer;
- orders.ltv_cohort_net_revenue: the same minus refunds (by refund time), per customer;
- orders.avg_order_value_cohort: revenue / orders within period k (null without orders);
- orders.cohort_cm1: cumulative net revenue of the cohort (no cost of goods is tracked, so
  contribution margin 1 equals net revenue);
- orders.cohort_cm2: cm1 minus the ad spend of the cohort's own first period (acquisition).

Three bounded fetches (orders + refunds, first purchases, ad spend), reduced in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select

from gateway.catalog.cohorts import COHORT_MEASURES  # what each one means: see there
from gateway.engine.fields import T, compile_filter
from gateway.engine.query import Filter, TimeRange
from gateway.errors import QueryTooLarge
from gateway.periods import local_floor, local_step
from gateway.storage import Database

__all__ = ["COHORT_MEASURES", "CohortCell", "CohortQuery", "CohortResult", "run_cohorts"]


@dataclass(frozen=True)
class CohortQuery:
    """`filters` narrows the order and refund events considered."""

    pixel_id: str
    range: TimeRange
    measures: tuple[str, ...] = COHORT_MEASURES
    granularity: str = "month"
    timezone: str = "UTC"
    filters: Filter | None = None
    max_rows: int = 1_000_000


@dataclass(frozen=True)
class CohortCell:
    cohort_start: datetime  # aware UTC: the cohort's period
    cohort_end: datetime
    offset: int
    start: datetime  # period k
    end: datetime
    values: dict[str, float | None]


@dataclass(frozen=True)
class CohortResult:
    cells: list[CohortCell]  # cohort by cohort, offsets ascending


def _periods(first: datetime, end_ms: int, granularity: str, tz: ZoneInfo) -> list[int]:
    """Local period boundaries (epoch ms) from the period holding `first` past `end_ms`."""
    local = local_floor(first.astimezone(tz), granularity)
    edges: list[int] = []
    while True:
        at = int(local.replace(tzinfo=tz).timestamp() * 1000)
        edges.append(at)
        if at >= end_ms:
            return edges
        local = local_step(local, granularity)


async def run_cohorts(db: Database, q: CohortQuery) -> CohortResult:
    """Cohort cells for `q`; measures must be in COHORT_MEASURES, granularity in
    `gateway.periods.COHORT_GRANULARITIES`. Raises QueryTooLarge past `q.max_rows` events."""
    tz = ZoneInfo(q.timezone)
    start_ms, end_ms = q.range.start_ms, q.range.end_ms
    base = [T.pixel_id == q.pixel_id, T.user_id.is_not(None), T.ts < end_ms]
    if q.filters is not None:
        base.append(compile_filter(q.filters))
    async with db.engine.connect() as conn:
        firsts = (await conn.execute(
            select(T.user_id, func.min(T.ts)).where(and_(*base, T.name == "purchase"))
            .group_by(T.user_id).limit(q.max_rows + 1))).all()
        first_of = {u: int(ts) for u, ts in firsts if start_ms <= int(ts) < end_ms}
        edges = _periods(q.range.start, end_ms, q.granularity, tz)
        events = (await conn.execute(
            select(T.user_id, T.name, T.ts, T.revenue)
            .where(and_(*base, T.name.in_(("purchase", "refund")), T.ts >= edges[0]))
            .limit(q.max_rows + 1))).all()
        spend_rows: Sequence[Any] = []
        if "orders.cohort_cm2" in q.measures:
            spend_rows = (await conn.execute(
                select(T.ts, T.spend).where(T.pixel_id == q.pixel_id, T.name == "ad_spend",
                                            T.ts >= edges[0], T.ts < end_ms)
                .limit(q.max_rows + 1))).all()
    if max(len(firsts), len(events), len(spend_rows)) > q.max_rows:
        raise QueryTooLarge(f"Cohorts over more than {q.max_rows} events; narrow the range")

    import bisect

    def period_of(ts: int) -> int:
        return bisect.bisect_right(edges, ts) - 1

    cohort_of = {u: period_of(ts) for u, ts in first_of.items()}
    size: dict[int, int] = defaultdict(int)
    for c in cohort_of.values():
        size[c] += 1
    # Amounts are summed with fsum (exact, then rounded once): the rows come in whatever
    # order the database returns them, and a running float sum would depend on it.
    spend_amounts: dict[int, list[float]] = defaultdict(list)
    for ts, amount in spend_rows:
        spend_amounts[period_of(int(ts))].append(float(amount or 0.0))
    spend = defaultdict(float, {c: math.fsum(a) for c, a in spend_amounts.items()})
    last = len(edges) - 2  # the period holding the range's last instant
    # (cohort, period) -> revenue, orders, refunds, active customers
    revenue_amounts: dict[tuple[int, int], list[float]] = defaultdict(list)
    orders: dict[tuple[int, int], int] = defaultdict(int)
    refund_amounts: dict[tuple[int, int], list[float]] = defaultdict(list)
    active: dict[tuple[int, int], set[str]] = defaultdict(set)
    for user, name, ts, amount in events:
        joined = cohort_of.get(user)
        if joined is None:
            continue
        c, p = joined, period_of(int(ts))
        if name == "purchase":
            revenue_amounts[(c, p)].append(float(amount or 0.0))
            orders[(c, p)] += 1
            active[(c, p)].add(user)
        else:
            refund_amounts[(c, p)].append(float(amount or 0.0))
    revenue = defaultdict(float, {k: math.fsum(a) for k, a in revenue_amounts.items()})
    refunds = defaultdict(float, {k: math.fsum(a) for k, a in refund_amounts.items()})
    cells: list[CohortCell] = []
    for c in sorted(size):
        n = size[c]
        gross = net = 0.0
        for p in range(c, last + 1):
            gross += revenue[(c, p)]
            net += revenue[(c, p)] - refunds[(c, p)]
            values: dict[str, float | None] = {
                "orders.customers_cohort": n,
                "orders.cohort_retention_percent": 100.0 * len(active[(c, p)]) / n,
                "orders.ltv_cohort_gross_revenue": gross / n,
                "orders.ltv_cohort_net_revenue": net / n,
                "orders.avg_order_value_cohort": (revenue[(c, p)] / orders[(c, p)]
                                                  if orders[(c, p)] else None),
                "orders.cohort_cm1": net,
                "orders.cohort_cm2": net - spend[c],
            }
            cells.append(CohortCell(
                _utc(edges[c]), _utc(edges[c + 1]), p - c, _utc(edges[p]), _utc(edges[p + 1]),
                {m: values[m] for m in q.measures}))
    return CohortResult(cells)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
