"""A filter is parsed once (issue #11): GraphQL's `FilterInput` tree (which the REST adapter
also builds from its body) goes straight to the service's one parser, with no JSON round
trip; a dashboard view's stored JSON filter goes to the same parser. The bounds
(`gateway.limits.filter_problem`) read both forms the same way, before any work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.filters import filter_view
from gateway.limits import filter_problem
from gateway.types.analytics import FilterInput
from tests.support import Harness
from tests.support_inputs import leaf
from tests.support_query import seed_events

QUERY = "/db-mgmt/api/query"
RANGE = {"start": "2026-10-20", "end": "2026-11-10"}
ANALYTICS = """query($f: FilterInput) { analytics(input: {measures: ["core.revenue",
  "core.orders"], granularity: NONE, dateRange: {start: "2026-10-20", end: "2026-11-10"},
  filters: $f}) { totals { measure value } } }"""
DE_OR_FR = {"or": [{"field": "country", "op": "equals", "value": "DE"},
                   {"field": "country", "op": "in", "value": ["FR"]}]}


def _typed(raw: Any) -> FilterInput:
    """The FilterInput a GraphQL client's variables become (test-side, key for key)."""
    if isinstance(raw, list):
        return FilterInput(and_=[_typed(x) for x in raw])
    return FilterInput(
        and_=None if "and" not in raw else [_typed(x) for x in raw["and"]],
        or_=None if "or" not in raw else [_typed(x) for x in raw["or"]],
        not_=None if "not" not in raw else _typed(raw["not"]),
        field=raw.get("field"), op=raw.get("op"), value=raw.get("value"))


def test_both_forms_read_alike() -> None:
    """One level of a typed node reads as the JSON object it stands for, so a bound is
    crossed at the same place in either form."""
    typed = _typed(DE_OR_FR)
    view = filter_view(typed)
    assert set(view) == {"or"} and [filter_view(x) for x in view["or"]] == DE_OR_FR["or"]
    assert filter_view(DE_OR_FR) is DE_OR_FR
    for raw in ({"and": [leaf(i) for i in range(101)]}, {"or": [{"and": [leaf()]}] * 60},
                {"field": "country", "op": "in", "value": ["x"] * 1001}, DE_OR_FR):
        assert filter_problem(_typed(raw)) == filter_problem(raw)


async def test_one_meaning_on_every_surface(harness: Harness) -> None:
    """The same filter gives the same totals through REST (JSON body), GraphQL (typed
    variables) and a widget (the view's stored JSON); Upstack's `operator` spelling and a
    node carrying `and` next to `not` (the `and` is taken) mean the same on both."""
    await seed_events(harness.state.db, harness.pixel_id, seed=11,
                      start=datetime(2026, 10, 15, tzinfo=UTC), days=30, n=1200)
    key = await harness.mint("analytics:read", "dashboards:write")
    headers = harness.headers(key, harness.pixel_id)

    async def rest(filters: Any) -> dict[str, Any]:
        response = await harness.client.post(QUERY, headers=headers, json={
            "measures": ["core.revenue", "core.orders"], "granularity": "none",
            "dateRange": RANGE, "filters": filters})
        assert response.status_code == 200, response.text
        return {d["measure"]: d["primaryTotal"]
                for d in response.json()["results"][0]["measureDetails"]}

    async def graphql(filters: Any) -> dict[str, Any]:
        body = await harness.graphql(ANALYTICS, {"f": filters}, key=key)
        assert "errors" not in body, body
        return {t["measure"]: t["value"] for t in body["data"]["analytics"]["totals"]}

    want = await rest(DE_OR_FR)
    assert want["core.orders"] and want != await rest(None)
    assert await graphql(DE_OR_FR) == want
    spelled = {"or": [{"field": "country", "operator": "equals", "value": "DE"},
                      {"field": "country", "op": "in", "value": ["FR"]}]}
    assert await rest(spelled) == want
    both = {"and": [DE_OR_FR], "not": DE_OR_FR}
    assert await rest(both) == await graphql(both) == want

    view = await harness.client.post("/accounts/api/dashboard/views", headers=headers, json={
        "name": "v", "configuration": {"widgets": [{"measure": "core.revenue"}],
                                       "dateRange": RANGE, "filters": DE_OR_FR}})
    assert view.status_code == 200, view.text
    data = await harness.graphql('query($id: ID!) { dashboardView(id: $id) { widgets { '
                                 'data(granularity: "none") { total } } } }',
                                 {"id": view.json()["id"]}, key=key)
    assert data["data"]["dashboardView"]["widgets"][0]["data"]["total"] == want["core.revenue"]


async def test_one_parse_one_set_of_errors(harness: Harness) -> None:
    """What a filter means wrongly is said by the one parser: the same messages at the same
    paths from REST and from GraphQL."""
    key = await harness.mint("analytics:read")
    bad = {"and": [{"field": "country", "op": "startswith", "value": "D"},
                   {"op": "equals", "value": "x"}, {"not": {"field": "contry", "op": "is_set"}}]}
    response = await harness.client.post(QUERY, headers=harness.headers(key, harness.pixel_id),
                                         json={"measures": ["core.revenue"],
                                               "dateRange": RANGE, "filters": bad})
    assert response.status_code == 400, response.text
    rest = [(e["key"], e["message"]) for e in response.json()["errors"]]
    body = await harness.graphql(ANALYTICS, {"f": bad}, key=key)
    gql = [(d["key"], d["message"]) for d in body["errors"][0]["extensions"]["details"]]
    assert rest == gql
    assert [k for k, _ in rest] == ["filters.and.0.op", "filters.and.1.field"]
    unknown = {"not": {"field": "contry", "op": "is_set"}}
    response = await harness.client.post(QUERY, headers=harness.headers(key, harness.pixel_id),
                                         json={"measures": ["core.revenue"],
                                               "dateRange": RANGE, "filters": unknown})
    body = await harness.graphql(ANALYTICS, {"f": unknown}, key=key)
    assert [(e["key"], e["message"]) for e in response.json()["errors"]] == [
        (d["key"], d["message"]) for d in body["errors"][0]["extensions"]["details"]]
    assert "country" in response.json()["errors"][0]["message"]
