"""GraphQL analytics fields (issue #5); parity with REST: tests/test_parity.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.storage.events import insert_events
from tests.support import Harness
from tests.support_query import generate


async def _seed(h: Harness) -> None:
    events = generate(h.pixel_id, seed=41, start=datetime(2026, 10, 1, tzinfo=UTC), days=45,
                      n=1200)
    async with h.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()


async def test_graphql_attribution_cohorts_filters(harness: Harness) -> None:
    await _seed(harness)
    key = await harness.mint("analytics:read")
    body = await harness.graphql("""
      query($a: AttributionQueryInput!, $c: CohortQueryInput!) {
        attribution(input: $a) { dimension attributionModel primary { value conversions
          revenue share } totals { conversions revenue } compareTotals { conversions } }
        cohortAnalysis(input: $c) { granularity rows { cohort periodOffset
          values { measure value } } }
        analyticsFilters { name operators groupable }
      }""", {"a": {"dateRange": {"start": "2026-10-10", "end": "2026-11-10"},
                   "dimension": "channel", "attributionModel": "TIME_DECAY",
                   "halfLifeDays": 3},
             "c": {"dateRange": {"start": "2026-10-01", "end": "2026-11-14"},
                   "granularity": "WEEK", "measures": ["orders.customers_cohort"]}}, key=key)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    att = data["attribution"]
    assert att["attributionModel"] == "TIME_DECAY" and att["primary"]
    assert abs(sum(r["conversions"] for r in att["primary"])
               - att["totals"]["conversions"]) < 1e-6
    assert att["compareTotals"] is not None
    assert data["cohortAnalysis"]["rows"][0]["periodOffset"] == 0
    assert any(f["name"] == "properties.<key>" for f in data["analyticsFilters"])
