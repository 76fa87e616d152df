"""REST and GraphQL give the same answers and the same errors (issue #11): each scenario runs
through both surfaces on the shared fixture (tests/support_parity.py).

The REST checks that used to compare by hand (measures as a direct call and as a stored
operation, analytics rows, stored events, dashboard scopes) live here now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.storage.events import insert_events
from tests.support import Harness
from tests.support_events import purchase
from tests.support_parity import Scenario, assert_parity, run_both
from tests.support_query import generate

MEASURE_FIELDS = ("key title description category unit format isAverage isPercentage "
                  "isAdditive hasPacing preferredTrendDirection synonyms formula aggregation")


def _measures_graphql(data: dict[str, Any]) -> list[Any]:
    return [(m["key"], m["title"], m["category"], m["format"].title(), m["isAverage"],
             m["preferredTrendDirection"].lower(), m["synonyms"], m["formula"])
            for m in data["measures"]]


def _measures_rest(body: dict[str, Any]) -> list[Any]:
    return [(m["key"], m["title"], m["category"], m["format"], m["isAverage"],
             m["preferredTrendDirection"], m["synonyms"], m["formula"])
            for m in body["measures"]]


@pytest.mark.parametrize("query", ["", "search=spend", "category=web"])
async def test_measures_catalog(harness: Harness, query: str) -> None:
    """The catalog route answers what `measures` answers, filters included (the check that
    compared the direct call with the stored operation, issue #2)."""
    key = await harness.mint("events:write")
    args = dict(p.split("=") for p in query.split("&") if p)
    params = ", ".join(f'{k}: "{v}"' for k, v in args.items())
    graphql, rest = await run_both(harness, key, Scenario(
        "measures",
        graphql=f"{{ measures{f'({params})' if params else ''} {{ {MEASURE_FIELDS} }} }}",
        pick_graphql=_measures_graphql, method="GET",
        path="/db-mgmt/api/measures" + (f"?{query}" if query else ""), pick_rest=_measures_rest))
    assert_parity(graphql, rest)
    assert graphql.value


ANALYTICS = """query Q($input: AnalyticsQueryInput!) { analytics(input: $input) {
  primary { dt dimensions { dimension value } values { measure value } }
  compareDateRange { start end } } }"""
QUERY = {"measures": ["core.revenue", "core.customers", "core.aov"],
         "dimensions": ["channel"], "timezone": "Europe/Berlin",
         "dateRange": {"start": "2026-10-12", "end": "2026-11-08"},
         "filters": {"or": [{"field": "country", "op": "in", "value": ["DE", "FR"]},
                            {"not": {"field": "device", "op": "is_set"}}]}}


def _rows_graphql(data: dict[str, Any]) -> Any:
    a = data["analytics"]
    return ([(p["dt"], p["dimensions"][0]["value"],
              {v["measure"]: v["value"] for v in p["values"]}) for p in a["primary"]],
            a["compareDateRange"])


def _rows_rest(body: dict[str, Any]) -> Any:
    [r] = body["results"]
    keys = QUERY["measures"]
    return ([(p["dt"], p["channel"], {k: p[k] for k in keys}) for p in r["data"]["primary"]],
            {k: r["compareDateRange"][k] for k in ("start", "end")})


async def test_analytics_query(harness: Harness) -> None:
    """A filtered, grouped, weekly query: the same rows and compare period (issue #5)."""
    events = generate(harness.pixel_id, seed=41, start=datetime(2026, 10, 1, tzinfo=UTC),
                      days=45, n=1200)
    async with harness.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()
    key = await harness.mint("analytics:read")
    graphql, rest = await run_both(harness, key, Scenario(
        "analytics", graphql=ANALYTICS,
        variables={"input": {**QUERY, "granularity": "WEEK"}}, pick_graphql=_rows_graphql,
        method="POST", path="/db-mgmt/api/query", body={**QUERY, "granularity": "week"},
        pick_rest=_rows_rest))
    assert_parity(graphql, rest)
    assert graphql.value[0] and graphql.value[1] == {"start": "2026-09-14", "end": "2026-10-11"}


@pytest.mark.parametrize(("scopes", "measure"), [
    (("events:write",), "core.revenue"),  # no analytics:read: the scope error first
    (("analytics:read",), "core.revnue"),  # a field error, with a hint, at measures.0
])
async def test_analytics_errors(harness: Harness, scopes: tuple[str, ...], measure: str) -> None:
    """Scope and validation errors: the same code and field paths (issue #5)."""
    key = await harness.mint(*scopes)
    body = {"measures": [measure], "dateRange": {"preset": "last_7_days"},
            "filters": {"and": [{"field": "country", "op": "startswith", "value": "U"}]}}
    graphql, rest = await run_both(harness, key, Scenario(
        "analytics error", graphql=ANALYTICS, variables={"input": body}, method="POST",
        path="/db-mgmt/api/query", body=body))
    assert_parity(graphql, rest)
    assert graphql.code == ("INSUFFICIENT_SCOPE" if measure == "core.revenue"
                            else "INVALID_INPUT")


TRACK = """mutation($events: [EventInput!]!) { trackEvents(events: $events) {
  received accepted duplicates rejected } }"""


async def test_events_store_the_same_row(harness: Harness) -> None:
    """One event through each surface: the same answer and identical stored rows (issue #4)."""
    from sqlalchemy import select
    from strawberry.utils.str_converters import to_camel_case

    from gateway.storage.models import EventRow

    key = await harness.mint("events:write")
    event = purchase("77", country="fr", properties={"a": [1]}, url="https://x.example/t")
    graphql, rest = await run_both(harness, key, Scenario(
        "track", graphql=TRACK,
        variables={"events": [{to_camel_case(k): v for k, v in
                               {**event, "event_id": "gql"}.items()}]},
        pick_graphql=lambda d: d["trackEvents"], method="POST", path="/tr/api/events",
        body={**event, "event_id": "rest"},
        pick_rest=lambda b: {k: b[k] for k in ("received", "accepted", "duplicates",
                                               "rejected")}), pixel=harness.pixel_id)
    assert_parity(graphql, rest)
    assert graphql.value["accepted"] == 1
    async with harness.state.db.session() as session:
        rows = (await session.execute(select(EventRow).order_by(EventRow.id))).scalars().all()
    a, b = (r.model_dump(exclude={"id", "event_id"}) for r in rows)
    assert a == b


PRESET = """mutation($input: DashboardViewFromPresetInput!) {
  createDashboardViewFromPreset(input: $input) { name } }"""


@pytest.mark.parametrize(("scopes", "code"), [
    (("dashboards:read",), "INSUFFICIENT_SCOPE"),
    (("dashboards:write",), "INVALID_INPUT"),
])
async def test_dashboard_preset_errors(harness: Harness, scopes: tuple[str, ...],
                                       code: str) -> None:
    """A reader may not write (scope before body); a writer's unknown measure is a field
    error at widgets.1.measure (issue #7)."""
    key = await harness.mint(*scopes)
    widgets = [{"measure": "core.revenue"}, {"measure": "core.revenu"}]
    graphql, rest = await run_both(harness, key, Scenario(
        "preset", graphql=PRESET, variables={"input": {"name": "x", "widgets": widgets}},
        method="POST", path="/accounts/api/dashboard/views/from-preset",
        body={"name": "x", "widgets": widgets}))
    assert_parity(graphql, rest)
    assert graphql.code == code


@pytest.mark.parametrize(("scopes", "code"), [
    (("dashboards:read",), "ok"), (("analytics:read",), "INSUFFICIENT_SCOPE")])
async def test_dashboard_list_scopes(harness: Harness, scopes: tuple[str, ...],
                                     code: str) -> None:
    """Listing views needs dashboards:read on both surfaces (issue #7)."""
    key = await harness.mint(*scopes)
    graphql, rest = await run_both(harness, key, Scenario(
        "views", graphql="{ dashboardViews { id } }",
        pick_graphql=lambda d: d["dashboardViews"], method="GET",
        path="/accounts/api/dashboard/views", pick_rest=lambda b: b["views"]))
    assert_parity(graphql, rest)
    assert graphql.code == code


WEBHOOK = "id name url service description hasSecret"


async def _webhook(h: Harness, key: str) -> str:
    body = await h.graphql("""mutation { createWebhook(input: {name: "ops",
        url: "https://example.test/h", secret: "0123456789abcdef"}) { id } }""", key=key)
    return str(body["data"]["createWebhook"]["id"])


def _hook_graphql(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda d: {k: v for k, v in d[name].items() if k != "id"}


def _hook_rest(body: dict[str, Any]) -> Any:
    return {k: body["data"][k] for k in ("name", "url", "service", "description", "hasSecret")}


@pytest.mark.parametrize(("change", "secret"), [
    ({}, True),  # no secret sent: the stored one is kept
    ({"secret": None}, False),  # null: removed
    ({"secret": "fedcba9876543210"}, True),
])
async def test_webhook_replace(harness: Harness, change: dict[str, Any], secret: bool) -> None:
    """PUT /api/v2/webhooks/{id} and updateWebhook: the same full replace, the same rule for
    the write-only secret (issue #11: every REST write has its GraphQL twin)."""
    key = await harness.mint("alerts:write")
    first, second = await _webhook(harness, key), await _webhook(harness, key)
    new = {"name": "renamed", "url": "https://example.test/h2", "description": "d", **change}
    graphql, rest = await run_both(harness, key, Scenario(
        "replace webhook",
        graphql=f"mutation($id: ID!, $i: WebhookInput!) {{ updateWebhook(id: $id, input: $i) "
                f"{{ {WEBHOOK} }} }}",
        variables={"id": first, "i": new}, pick_graphql=_hook_graphql("updateWebhook"),
        method="PUT", path=f"/api/v2/webhooks/{second}", body=new, pick_rest=_hook_rest))
    assert_parity(graphql, rest)
    assert graphql.value["hasSecret"] is secret and graphql.value["name"] == "renamed"


@pytest.mark.parametrize(("scopes", "change", "code"), [
    (("alerts:write",), {"description": "d" * 2049}, "INVALID_INPUT"),
    (("alerts:write",), {"url": "https://e.test/" + "u" * 2040}, "INVALID_INPUT"),
    (("alerts:read",), {}, "INSUFFICIENT_SCOPE"),
])
async def test_webhook_create_errors(harness: Harness, scopes: tuple[str, ...],
                                     change: dict[str, Any], code: str) -> None:
    """Bounds and scope on webhook writes, the same on both (issue #10)."""
    key = await harness.mint(*scopes)
    new = {"name": "w", "url": "https://example.test/h", **change}
    graphql, rest = await run_both(harness, key, Scenario(
        "create webhook", graphql="mutation($i: WebhookInput!) { createWebhook(input: $i) "
        "{ id } }", variables={"i": new}, method="POST", path="/api/v2/webhooks", body=new))
    assert_parity(graphql, rest)
    assert graphql.code == code


@pytest.mark.parametrize(("change", "code"), [
    ({"interval": "2m"}, "INVALID_INPUT"), ({"thresholdType": "sideways"}, "INVALID_INPUT"),
    ({}, "ok")])
async def test_alert_create(harness: Harness, change: dict[str, Any], code: str) -> None:
    """createAlert and POST /api/v2/alerts: the same alert or the same field error."""
    key = await harness.mint("alerts:write")
    hook = await _webhook(harness, key)
    alert = {"measure": "core.revenue", "threshold": 10, "thresholdType": "above",
             "interval": "15m", **change}
    fields = ("measure", "threshold", "thresholdType", "interval", "state", "enabled")
    graphql, rest = await run_both(harness, key, Scenario(
        "create alert", graphql="mutation($i: AlertInput!) { createAlert(input: $i) { "
        + " ".join(fields) + " } }",
        variables={"i": {**alert, "channel": {"webhookId": hook}}},
        pick_graphql=lambda d: {k: d["createAlert"][k] for k in fields}
        | {"state": d["createAlert"]["state"].upper()},
        method="POST", path="/api/v2/alerts",
        body={**alert, "source": "measure", "channel": {"type": "webhook", "webhookId": hook}},
        pick_rest=lambda b: {k: b["data"][k] for k in fields}
        | {"state": b["data"]["state"].upper()}))
    assert_parity(graphql, rest)
    assert graphql.code == code

