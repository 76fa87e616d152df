"""The cost budget charges the rate limiter for real (issue #12: "a request is charged against
the rate limit by its cost, so one request cannot hide a thousand aliased queries").

The two halves are tested apart in tests/graphql/test_cost.py (what a document costs) and
tests/test_rate_limits.py (what a charge does); here both run in one app: the units a costly
request spends are the entry unit plus `rate_units` of the `X-Query-Cost` it reports, on
GraphQL and on REST, and a client spending its units on costly requests meets the 429 long
before a client of cheap ones would.
"""

from __future__ import annotations

import dataclasses

import httpx

from gateway.cost import rate_units
from gateway.settings import Settings
from tests.support import Clock, open_harness

# Hourly over eleven weeks by a dimension: costly (~0.65 s estimated), within the budget.
HOURLY = {"measures": ["core.revenue", "core.orders", "web.sessions"],
          "dateRange": {"start": "2026-09-01", "end": "2026-11-19"}, "granularity": "hour",
          "dimensions": ["utm_source"]}
GRAPHQL = ("{ a: analytics(input: {measures: [\"core.revenue\", \"core.orders\", "
           "\"web.sessions\"], granularity: HOUR, dimensions: [\"utm_source\"], "
           "dateRange: {start: \"2026-09-01\", end: \"2026-11-19\"}}) { primary { dt } } "
           "b: analytics(input: {measures: [\"web.sessions\"], granularity: DAY, "
           "dateRange: {start: \"2026-10-01\", end: \"2026-11-19\"}}) { primary { dt } } }")


def _remaining(response: httpx.Response) -> int:
    return int(response.headers["x-ratelimit-remaining"])


def _spent(response: httpx.Response) -> int:
    """What the request cost in units, as the gateway reports it: 1 + rate_units(cost)."""
    return 1 + rate_units(int(response.headers["x-query-cost"]))


async def test_graphql_and_rest_spend_their_cost_in_units(settings: Settings,
                                                         clock: Clock) -> None:
    limited = dataclasses.replace(settings, rate_limits={
        **settings.rate_limits, "upstack": (10_000, 3600.0), "graphql": (10_000, 3600.0)})
    async with open_harness(limited, clock, tenant=True) as h:
        key = await h.mint("analytics:read")
        gql = await h.client.post("/graphql", json={"query": GRAPHQL}, headers=h.headers(key))
        assert gql.status_code == 200 and "errors" not in gql.json(), gql.text
        units = _spent(gql)
        assert units > 1, "an hourly field over weeks by a dimension costs more than a request"
        assert _remaining(gql) == 10_000 - units

        rest = await h.client.post("/db-mgmt/api/query", json=HOURLY, headers=h.headers(key))
        assert rest.status_code == 200, rest.text
        units = _spent(rest)
        assert units > 1
        assert _remaining(rest) == 10_000 - units  # REST pays into its own bucket

        cheap = await h.client.get("/db-mgmt/api/measures", headers=h.headers(key))
        assert _remaining(cheap) == 10_000 - units - 1


async def test_costly_requests_meet_the_limit_first(settings: Settings, clock: Clock) -> None:
    """With a limit of 60 units, a client of costly (but affordable) operations is refused
    after a handful of them, while plain requests would be admitted sixty times; the refusal
    is the limiter's 429 with Retry-After, and the operation is not executed."""
    limited = dataclasses.replace(settings, rate_limits={
        **settings.rate_limits, "graphql": (60, 3600.0)})
    async with open_harness(limited, clock, tenant=True) as h:
        key = await h.mint("analytics:read")
        first = await h.client.post("/graphql", json={"query": GRAPHQL}, headers=h.headers(key))
        assert first.status_code == 200, first.text
        per_request = _spent(first)
        admitted, answers = 1, [first]
        for _ in range(60):
            answer = await h.client.post("/graphql", json={"query": GRAPHQL},
                                         headers=h.headers(key))
            answers.append(answer)
            if answer.status_code != 200:
                break
            admitted += 1
        refused = answers[-1]
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"].isdigit()
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert "data" not in refused.json() or refused.json()["data"] is None
        assert admitted == 60 // per_request, (admitted, per_request)
