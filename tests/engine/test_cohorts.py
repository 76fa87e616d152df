"""Cohorts against a brute-force oracle (issue #5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.engine import COHORT_MEASURES, CohortQuery, TimeRange, run_cohorts
from gateway.storage.events import insert_events
from tests.support import Harness
from tests.support_query import close, generate, local_bucket

START = datetime(2026, 8, 1, 4, tzinfo=UTC)
END = datetime(2026, 11, 1, 4, tzinfo=UTC)


def _oracle(events: list[dict[str, Any]], granularity: str, tz: str, span: TimeRange
            ) -> dict[tuple[datetime, int], dict[str, float | None]]:
    lo, hi = span.start_ms, span.end_ms
    orders = [e for e in events if e["name"] in ("purchase", "refund") and e["ts"] < hi]
    first: dict[str, int] = {}
    for e in orders:
        if e["name"] == "purchase":
            first[e["user_id"]] = min(first.get(e["user_id"], e["ts"]), e["ts"])
    cohorts = {u: local_bucket(ts, granularity, tz)[0] for u, ts in first.items()
               if lo <= ts < hi}
    periods = []
    cur = local_bucket(lo, granularity, tz)
    while cur[0] < span.end:
        periods.append(cur[0])
        cur = local_bucket(int(cur[1].timestamp() * 1000), granularity, tz)
    out = {}
    for c in sorted(set(cohorts.values())):
        members = {u for u, cc in cohorts.items() if cc == c}
        n = len(members)
        spend = sum(e["spend"] for e in events if e["name"] == "ad_spend" and e["ts"] < hi
                    and local_bucket(e["ts"], granularity, tz)[0] == c)
        for k, p in enumerate(x for x in periods if x >= c):
            mine = [e for e in orders if e["user_id"] in members]
            end_p = local_bucket(int(p.timestamp() * 1000), granularity, tz)[1]
            # From the cohort's own period on (stray earlier refunds do not count).
            upto = [e for e in mine
                    if c.timestamp() * 1000 <= e["ts"] < end_p.timestamp() * 1000]
            inside = [e for e in upto if local_bucket(e["ts"], granularity, tz)[0] == p]
            buys = [e for e in inside if e["name"] == "purchase"]
            gross = sum(e["revenue"] for e in upto if e["name"] == "purchase")
            net = gross - sum(e["revenue"] for e in upto if e["name"] == "refund")
            out[(c, k)] = {
                "orders.customers_cohort": n,
                "orders.cohort_retention_percent": 100 * len({e["user_id"] for e in buys}) / n,
                "orders.ltv_cohort_gross_revenue": gross / n,
                "orders.ltv_cohort_net_revenue": net / n,
                "orders.avg_order_value_cohort":
                    sum(e["revenue"] for e in buys) / len(buys) if buys else None,
                "orders.cohort_cm1": net,
                "orders.cohort_cm2": net - spend,
            }
    return out


@pytest.mark.parametrize(("granularity", "tz"), [("month", "America/New_York"),
                                                 ("week", "Europe/Berlin"), ("year", "UTC")])
async def test_cohorts_match_oracle(harness: Harness, granularity: str, tz: str) -> None:
    # Events from mid-July: customers who bought before the range never join a cohort.
    events = generate(harness.pixel_id, seed=21, start=datetime(2026, 7, 15, tzinfo=UTC),
                      days=110, n=1500)
    async with harness.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()
    span = TimeRange(START, END)
    result = await run_cohorts(harness.state.db, CohortQuery(
        harness.pixel_id, span, granularity=granularity, timezone=tz))
    want = _oracle(events, granularity, tz, span)
    got = {(c.cohort_start, c.offset): c.values for c in result.cells}
    assert set(got) == set(want)
    for key, values in want.items():
        for m in COHORT_MEASURES:
            assert close(got[key][m], values[m]), (key, m, got[key][m], values[m])
    assert ZoneInfo(tz)  # the zone is real
