"""Upstack query endpoints (issue #5): /db-mgmt/api/query, /query-attribution,
/query-cohort-analysis and /filters — shapes, defaults, validation paths, scopes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.storage.events import insert_events
from tests.support import Harness, assert_upstack_error
from tests.support_query import close, expected_series, generate

QUERY = "/db-mgmt/api/query"


async def _seed(h: Harness) -> list[dict[str, Any]]:
    events = generate(h.pixel_id, seed=31, start=datetime(2026, 10, 1, tzinfo=UTC), days=50,
                      n=1500)
    async with h.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()
    return events


async def _post(h: Harness, path: str, body: dict[str, Any], scopes: tuple[str, ...] = (
        "analytics:read",)) -> Any:
    key = await h.mint(*scopes)
    return await h.client.post(path, json=body, headers=h.headers(key, h.pixel_id))


async def test_query_envelope_and_values(harness: Harness) -> None:
    events = await _seed(harness)
    body = {"pixelId": harness.pixel_id, "granularity": "day",
            "measures": [{"measure": "core.revenue"}, "web.sessions", {"measure": "core.roas"}],
            "dimensions": ["utm_source"], "timezone": "America/New_York",
            "dateRange": {"start": "2026-10-20", "end": "2026-11-05"},
            "filters": {"and": [{"field": "device", "op": "not_equals", "value": "desktop"}]}}
    response = await _post(harness, QUERY, body)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["granularity"] == "day" and result["dimensions"] == ["utm_source"]
    assert result["dateRange"]["start"] == "2026-10-20"
    # Default compare: the preceding 17 days.
    assert result["compareDateRange"]["start"] == "2026-10-03"
    assert result["compareDateRange"]["end"] == "2026-10-19"
    first = result["data"]["primary"][0]
    assert first["dt"] == "2026-10-20" and first["start"] == "2026-10-20T00:00:00-04:00"
    assert {"utm_source", "core.revenue", "web.sessions", "core.roas"} <= set(first)
    # The fall-back day (Nov 1) is 25 hours long.
    nov1 = next(r for r in result["data"]["primary"] if r["dt"] == "2026-11-01")
    assert (nov1["start"], nov1["end"]) == ("2026-11-01T00:00:00-04:00",
                                            "2026-11-02T00:00:00-05:00")
    want, totals = expected_series(
        events, ["core.revenue", "web.sessions", "core.roas"],
        datetime(2026, 10, 20, 4, tzinfo=UTC), datetime(2026, 11, 6, 5, tzinfo=UTC), "day",
        "America/New_York", ["utm_source"],
        {"and": [{"field": "device", "op": "not_equals", "value": "desktop"}]})
    assert len(result["data"]["primary"]) == len(want)
    for row in result["data"]["primary"]:
        start = datetime.fromisoformat(row["start"]).astimezone(UTC)
        for m in ("core.revenue", "web.sessions", "core.roas"):
            assert close(row[m], want[(start, row["utm_source"])][m])
    details = {d["measure"]: d for d in result["measureDetails"]}
    assert close(details["core.revenue"]["primaryTotal"], totals["core.revenue"])
    assert close(details["core.revenue"]["primarySum"], totals["core.revenue"])
    assert close(details["core.roas"]["calculatedAverage"], totals["core.roas"])
    assert details["core.roas"]["isAverage"] and details["core.roas"]["format"] == "multiplier"
    assert details["core.revenue"]["percentDiff"] is not None
    p, c = details["core.revenue"]["primaryTotal"], details["core.revenue"]["compareTotal"]
    assert close(details["core.revenue"]["percentDiff"], (p - c) / abs(c) * 100)


async def test_granularity_none_has_no_default_compare_and_presets(harness: Harness) -> None:
    await _seed(harness)
    body = {"granularity": "none", "measures": ["core.orders"], "dateRange": "last_7_days",
            "timezone": "UTC"}
    [result] = (await _post(harness, QUERY, body)).json()["results"]
    # The clock says 2026-11-20: last_7_days is Nov 13..19.
    assert result["dateRange"]["start"] == "2026-11-13"
    assert result["dateRange"]["end"] == "2026-11-19"
    assert result["compareDateRange"] is None and result["data"]["compare"] == []
    assert len(result["data"]["primary"]) == 1


@pytest.mark.parametrize(("body", "fields", "hint"), [
    ({"measures": ["core.revnue"], "dateRange": "last_7_days"}, ["measures.0"],
     "core.revenue"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days",
      "filters": {"and": [{"field": "utm_sorce", "op": "equals", "value": "x"}]}},
     ["filters.and.0.field"], "utm_source"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days",
      "filters": {"field": "country", "op": "equal", "value": "US"}}, ["filters.op"],
     "equals"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days",
      "filters": {"field": "revenue", "op": "contains", "value": "x"}}, ["filters.op"], "gt"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days", "dimensions": ["contry"]},
     ["dimensions.0"], "country"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days", "granularity": "days"},
     ["granularity"], "day"),
    ({"measures": ["core.revenue"], "dateRange": {"start": "2026-11-10", "end": "2026-11-01"}},
     ["dateRange.end"], "before"),
    ({"measures": ["core.revenue"], "dateRange": {"preset": "last_31_days"}},
     ["dateRange.preset"], "last_30_days"),
    ({"measures": ["core.revenue"], "dateRange": {"start": "2026-11-01", "end": "2026-11-10"},
      "compareDateRange": {"start": "2026-11-05", "end": "2026-11-12"}},
     ["compareDateRange"], "overlap"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days", "timezone": "Europe/Berln"},
     ["timezone"], "Europe/Berlin"),
    ({"measures": [], "dateRange": "last_7_days"}, ["measures"], "1 to 30"),
    ({"measures": ["core.revenue"]}, ["dateRange"], "required"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days", "dimension": ["x"]},
     ["dimension"], "unknown field"),
    ({"measures": ["core.revenue"], "dateRange": "last_7_days",
      "dimensions": ["properties.bad key"]}, ["dimensions.0"], "properties.<key>"),
])
async def test_validation_paths_and_hints(harness: Harness, body: dict[str, Any],
                                          fields: list[str], hint: str) -> None:
    """Unknown measures, fields, operators… are rejected with a path and a suggestion."""
    response = await _post(harness, QUERY, body)
    assert_upstack_error(response, 400, fields=fields)
    assert hint in response.json()["errors"][0]["message"]


async def test_body_pixel_must_match(harness: Harness) -> None:
    other = await harness.create_pixel(name="other")
    response = await _post(harness, QUERY, {"pixelId": other, "measures": ["core.revenue"],
                                            "dateRange": "today"})
    assert_upstack_error(response, 403, message="pixelId")


@pytest.mark.parametrize(("scopes", "status"), [
    (("events:write",), 403), (("dashboards:read",), 403), (("db_query",), 200),
    (("analytics:read",), 200),
])
async def test_scope(harness: Harness, scopes: tuple[str, ...], status: int) -> None:
    response = await _post(harness, QUERY, {"measures": ["core.revenue"], "dateRange": "today"},
                           scopes)
    assert response.status_code == status, response.text


async def test_too_large_is_400(harness: Harness) -> None:
    response = await _post(harness, QUERY, {
        "measures": ["core.revenue"], "granularity": "second",
        "dateRange": {"start": "2026-01-01", "end": "2026-03-01"}})
    assert_upstack_error(response, 400, message="buckets")
    assert response.json()["message"]


async def test_attribution(harness: Harness) -> None:
    await _seed(harness)
    response = await _post(harness, "/db-mgmt/api/query-attribution", {
        "pixelId": harness.pixel_id, "dimension": "utm_source",
        "dateRange": {"start": "2026-10-15", "end": "2026-11-10"},
        "attributionModel": "position_based", "attributionWindow": 14, "timezone": "UTC"})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["attributionModel"] == "position_based"
    rows = result["data"]["primary"]
    assert rows and {"utm_source", "conversions", "revenue", "share"} <= set(rows[0])
    assert close(sum(r["share"] for r in rows), 100.0)
    assert result["dimensionFilters"][0] == [{"dimension": "utm_source",
                                              "value": rows[0]["utm_source"]}]
    assert result["compareDateRange"]["end"] == "2026-10-14"
    assert [d["measure"] for d in result["measureDetails"]] == ["conversions", "revenue"]


async def test_attribution_rejects_unknown_model(harness: Harness) -> None:
    response = await _post(harness, "/db-mgmt/api/query-attribution", {
        "dateRange": "last_30_days", "attributionModel": "u_shaped"})
    assert_upstack_error(response, 400, fields=["attributionModel"])


async def test_cohorts(harness: Harness) -> None:
    await _seed(harness)
    response = await _post(harness, "/db-mgmt/api/query-cohort-analysis", {
        "granularity": "week", "timezone": "UTC",
        "measures": ["orders.customers_cohort", "orders.cohort_retention_percent",
                     "orders.ltv_cohort_gross_revenue"],
        "dateRange": {"start": "2026-10-05", "end": "2026-11-15"},
        "viewFilters": [{"field": "country", "op": "is_set"}]})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    rows = result["data"]["primary"]
    assert rows[0]["periodOffset"] == 0 and rows[0]["cohort"] == "2026-10-05"
    assert rows[0]["orders.cohort_retention_percent"] == 100.0
    bad = await _post(harness, "/db-mgmt/api/query-cohort-analysis", {
        "granularity": "day", "measures": ["orders.customers_cohort"],
        "dateRange": "last_30_days"})
    assert_upstack_error(bad, 400, fields=["granularity"])
    bad = await _post(harness, "/db-mgmt/api/query-cohort-analysis", {
        "measures": ["orders.ltv_cohort_gross_revnue"], "dateRange": "last_30_days"})
    assert_upstack_error(bad, 400, fields=["measures.0"])
    assert "orders.ltv_cohort_gross_revenue" in bad.json()["errors"][0]["message"]


async def test_filters_discovery(harness: Harness) -> None:
    key = await harness.mint("analytics:read")
    response = await harness.client.get("/db-mgmt/api/filters", headers=harness.headers(key))
    assert response.status_code == 200
    fields = {f["id"]: f for f in response.json()["filters"]}
    assert {"utm_source", "channel", "country", "device", "path", "event",
            "properties.<key>"} <= set(fields)
    assert "contains" in fields["utm_source"]["operators"]
    assert "gt" in fields["revenue"]["operators"] and not fields["revenue"]["groupable"]
    denied = await harness.client.get("/db-mgmt/api/filters",
                                      headers=harness.headers(await harness.mint("events:write")))
    assert_upstack_error(denied, 403)
