"""GraphQL analytics fields (issue #5): same engine and validation as REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.storage.events import insert_events
from tests.support import Harness, assert_graphql_error
from tests.support_query import generate

ANALYTICS = """
query Q($input: AnalyticsQueryInput!) {
  analytics(input: $input) {
    granularity timezone dimensions
    dateRange { start end startTime endTime }
    compareDateRange { start end }
    measureDetails { measure isAverage primarySum primaryTotal compareTotal percentDiff
                     calculatedAverage preferredTrendDirection format }
    primary { dt start end dimensions { dimension value } values { measure value } }
    compare { dt values { measure value } }
    totals { measure value }
  }
}"""


async def _seed(h: Harness) -> None:
    events = generate(h.pixel_id, seed=41, start=datetime(2026, 10, 1, tzinfo=UTC), days=45,
                      n=1200)
    async with h.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()


async def test_graphql_matches_rest(harness: Harness) -> None:
    await _seed(harness)
    key = await harness.mint("analytics:read")
    variables = {"input": {
        "measures": ["core.revenue", "core.customers", "core.aov"], "granularity": "WEEK",
        "dimensions": ["channel"], "timezone": "Europe/Berlin",
        "dateRange": {"start": "2026-10-12", "end": "2026-11-08"},
        "filters": {"or": [{"field": "country", "op": "in", "value": ["DE", "FR"]},
                           {"not": {"field": "device", "op": "is_set"}}]}}}
    body = await harness.graphql(ANALYTICS, variables, key=key)
    assert "errors" not in body, body
    gql = body["data"]["analytics"]
    rest = (await harness.client.post("/db-mgmt/api/query", headers=harness.headers(key), json={
        "measures": ["core.revenue", "core.customers", "core.aov"], "granularity": "week",
        "dimensions": ["channel"], "timezone": "Europe/Berlin",
        "dateRange": {"start": "2026-10-12", "end": "2026-11-08"},
        "filters": {"or": [{"field": "country", "op": "in", "value": ["DE", "FR"]},
                           {"not": {"field": "device", "op": "is_set"}}]}})).json()
    [result] = rest["results"]
    assert len(gql["primary"]) == len(result["data"]["primary"]) > 0
    for g, r in zip(gql["primary"], result["data"]["primary"], strict=True):
        assert g["dt"] == r["dt"] and g["dimensions"][0]["value"] == r["channel"]
        assert {v["measure"]: v["value"] for v in g["values"]} == {
            k: r[k] for k in ("core.revenue", "core.customers", "core.aov")}
    assert gql["compareDateRange"] == {"start": "2026-09-14", "end": "2026-10-11"}
    details = {d["measure"]: d for d in gql["measureDetails"]}
    assert details["core.aov"]["calculatedAverage"] == details["core.aov"]["primaryTotal"]


async def test_graphql_validation_error_has_paths(harness: Harness) -> None:
    key = await harness.mint("analytics:read")
    body = await harness.graphql(ANALYTICS, {"input": {
        "measures": ["core.revnue"], "dateRange": {"preset": "last_7_days"},
        "filters": {"and": [{"field": "country", "op": "startswith", "value": "U"}]}}},
        key=key)
    assert_graphql_error(body, "INVALID_INPUT", path=["analytics"])
    details = body["errors"][0]["extensions"]["details"]
    assert [d["key"] for d in details] == ["measures.0", "filters.and.0.op"]
    assert "core.revenue" in details[0]["message"]


async def test_graphql_scope(harness: Harness) -> None:
    key = await harness.mint("events:write")
    body = await harness.graphql(ANALYTICS, {"input": {
        "measures": ["core.revenue"], "dateRange": {"preset": "today"}}}, key=key)
    assert_graphql_error(body, "INSUFFICIENT_SCOPE")


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
