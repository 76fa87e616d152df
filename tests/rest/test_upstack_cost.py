"""The cost budget on the Upstack analytics routes (issue #12): the same estimate guards REST
bodies, checked by the service before the query runs, so REST and GraphQL refuse the same
query alike: 400 `{"message"}` with `X-Query-Cost` / `X-Query-Budget`, QUERY_TOO_COSTLY on
GraphQL; an answered query carries `X-Query-Cost`."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway import cost
from gateway.catalog import CATALOG
from gateway.settings import Settings
from tests.support import Harness, assert_graphql_error, assert_upstack_error

QUERY = "/db-mgmt/api/query"
# Thirty measures (a percentile among them: raw events are read) over a year, twice with the
# compare period: ~1.7 s on the demo store (benchmarks/cost.py).
HEAVY: dict[str, Any] = {"measures": [m.key for m in CATALOG][:30], "granularity": "month",
                         "dateRange": {"start": "2025-11-20", "end": "2026-11-19"}}


async def _post(h: Harness, path: str, body: dict[str, Any]) -> Any:
    key = await h.mint("analytics:read")
    return await h.client.post(path, json=body, headers=h.headers(key, h.pixel_id))


async def test_a_query_past_the_budget_is_400_before_it_runs(harness: Harness) -> None:
    """Rule: a REST analytics body past the budget is refused with the surface's error body,
    400, the cost and budget in headers, and no engine query is planned (issue #12)."""
    response = await _post(harness, QUERY, HEAVY)
    assert_upstack_error(response, 400, message="ms of server time")
    budget = Settings().query_cost_budget_ms
    assert response.headers["x-query-budget"] == str(budget)
    assert int(response.headers["x-query-cost"]) > budget
    assert set(response.json()) == {"message"}
    assert len(harness.state.db.plans) == 0


async def test_rest_and_graphql_refuse_the_same_query_alike(harness: Harness) -> None:
    """Rule: the service is the authority for both surfaces: the same query is refused on
    both, GraphQL costing at least what REST does (it also renders fields) (issue #12)."""
    rest = await _post(harness, QUERY, HEAVY)
    key = await harness.mint("analytics:read")
    measures = json.dumps(HEAVY["measures"])
    body = await harness.graphql(
        f'{{ analytics(input: {{measures: {measures}, granularity: MONTH, dateRange: '
        f'{{start: "2025-11-20", end: "2026-11-19"}}}}) {{ totals {{ value }} }} }}', key=key)
    assert_graphql_error(body, "QUERY_TOO_COSTLY")
    assert body["errors"][0]["extensions"]["cost"] >= int(rest.headers["x-query-cost"])


async def test_an_answered_query_carries_its_estimate(harness: Harness) -> None:
    """Rule: an answered analytics body says what it was charged: the service's estimate of
    the query it ran (issue #12)."""
    response = await _post(harness, QUERY, {
        "measures": ["core.revenue", "web.sessions"], "granularity": "hour",
        "dimensions": ["device"], "timezone": "Asia/Kolkata",
        "dateRange": {"start": "2026-11-01", "end": "2026-11-07"}})
    assert response.status_code == 200, response.text
    expected = cost.analytics_cost(
        measures=["core.revenue", "web.sessions"], granularity="hour",
        ranges=[(date(2026, 11, 1), date(2026, 11, 7)), (date(2026, 10, 25),
                                                          date(2026, 10, 31))],
        zone=ZoneInfo("Asia/Kolkata"), dimensions=["device"])
    assert int(response.headers["x-query-cost"]) == math.ceil(expected.ms)


@pytest.mark.parametrize(("path", "body"), [
    ("/db-mgmt/api/query-attribution", {"dateRange": {"start": "2016-11-20",
                                                      "end": "2026-11-19"}}),
    ("/db-mgmt/api/query-cohort-analysis", {"dateRange": {"start": "2016-11-20",
                                                          "end": "2026-11-19"},
                                            "granularity": "week"}),
])
async def test_attribution_and_cohorts_are_guarded_too(harness: Harness, path: str,
                                                       body: dict[str, Any]) -> None:
    """Rule: every REST route that runs analytics is admitted first: ten years of attribution
    or weekly cohorts are refused (issue #12)."""
    response = await _post(harness, path, body)
    assert_upstack_error(response, 400, message="ms of server time")
    ok = await _post(harness, path, {"dateRange": {"preset": "last_30_days"}})
    assert ok.status_code == 200, ok.text
    assert 0 < int(ok.headers["x-query-cost"]) < Settings().query_cost_budget_ms


async def test_the_readme_query_passes(harness: Harness) -> None:
    """Rule: the README's example body passes the default budget (issue #12)."""
    response = await _post(harness, QUERY, {
        "measures": ["core.revenue", "web.sessions", "core.roas"], "granularity": "day",
        "dimensions": ["utm_source"], "dateRange": {"preset": "last_30_days"},
        "timezone": "America/New_York",
        "filters": {"and": [{"field": "country", "op": "in", "value": ["US", "CA"]}]}})
    assert response.status_code == 200, response.text
    assert int(response.headers["x-query-cost"]) < Settings().query_cost_budget_ms
