"""One home for calendar rules (issue #11): presets, ranges, compare periods, granularities
and alert windows come from `gateway.periods`, so every surface answers the same.

The preset table below is the one place their meaning is pinned; the other tests prove the
query, a widget's data and an alert's window all answer what that module says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.attribution import MODELS
from gateway.periods import (
    COHORT_GRANULARITIES,
    GRANULARITIES,
    INTERVALS,
    PRESETS,
    interval_window,
)
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.settings import Settings
from tests.support import Harness, assert_graphql_error, assert_upstack_error
from tests.support_alerts import Dns

QUERY = "/db-mgmt/api/query"
VIEWS = "/accounts/api/dashboard/views"

# The harness clock: 2026-11-20T12:00Z, a Friday. In Pacific/Auckland (NZDT, +13) it is
# already Saturday 2026-11-21, 01:00: the local day decides.
MEANING: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    #                   UTC                          Pacific/Auckland
    "today":          (("2026-11-20", "2026-11-20"), ("2026-11-21", "2026-11-21")),
    "yesterday":      (("2026-11-19", "2026-11-19"), ("2026-11-20", "2026-11-20")),
    "last_7_days":    (("2026-11-13", "2026-11-19"), ("2026-11-14", "2026-11-20")),
    "last_14_days":   (("2026-11-06", "2026-11-19"), ("2026-11-07", "2026-11-20")),
    "last_28_days":   (("2026-10-23", "2026-11-19"), ("2026-10-24", "2026-11-20")),
    "last_30_days":   (("2026-10-21", "2026-11-19"), ("2026-10-22", "2026-11-20")),
    "last_90_days":   (("2026-08-22", "2026-11-19"), ("2026-08-23", "2026-11-20")),
    "last_365_days":  (("2025-11-20", "2026-11-19"), ("2025-11-21", "2026-11-20")),
    "this_week":      (("2026-11-16", "2026-11-20"), ("2026-11-16", "2026-11-21")),
    "last_week":      (("2026-11-09", "2026-11-15"), ("2026-11-09", "2026-11-15")),
    "this_month":     (("2026-11-01", "2026-11-20"), ("2026-11-01", "2026-11-21")),
    "last_month":     (("2026-10-01", "2026-10-31"), ("2026-10-01", "2026-10-31")),
    "this_quarter":   (("2026-10-01", "2026-11-20"), ("2026-10-01", "2026-11-21")),
    "last_quarter":   (("2026-07-01", "2026-09-30"), ("2026-07-01", "2026-09-30")),
    "this_year":      (("2026-01-01", "2026-11-20"), ("2026-01-01", "2026-11-21")),
    "last_year":      (("2025-01-01", "2025-12-31"), ("2025-01-01", "2025-12-31")),
    "month_to_date":  (("2026-11-01", "2026-11-20"), ("2026-11-01", "2026-11-21")),
    "year_to_date":   (("2026-01-01", "2026-11-20"), ("2026-01-01", "2026-11-21")),
}
ZONES = ("UTC", "Pacific/Auckland")


@pytest.fixture
def settings(new_database: Callable[..., str]) -> Settings:
    """No background evaluator: the alert test drives one pass itself."""
    return Settings(database_url=new_database(),
                    secret="test-secret-" + "x" * 32, alerts_enabled=False)


def test_the_table_names_every_preset() -> None:
    """Every preset of the one list has its meaning pinned here, and nothing else is one."""
    assert set(MEANING) == set(PRESETS)


async def test_each_preset_means_one_range(harness: Harness) -> None:
    """Each preset's inclusive local days on a fixed date, in UTC and in a zone where the
    local day is already the next one, through `POST /db-mgmt/api/query`; the instants are
    the local midnights around those days (issue #11: `last_N_days` is the N whole days
    before today, as the README says, wherever it is asked)."""
    key = await harness.mint("analytics:read")
    headers = harness.headers(key, harness.pixel_id)
    for preset, by_zone in MEANING.items():
        for zone_name, (first, last) in zip(ZONES, by_zone, strict=True):
            response = await harness.client.post(QUERY, headers=headers, json={
                "measures": ["core.orders"], "granularity": "none", "timezone": zone_name,
                "dateRange": {"preset": preset}})
            assert response.status_code == 200, response.text
            got = response.json()["results"][0]["dateRange"]
            assert (got["start"], got["end"]) == (first, last), (preset, zone_name)
            zone = ZoneInfo(zone_name)
            start = datetime.fromisoformat(got["startTime"]).astimezone(zone)
            end = datetime.fromisoformat(got["endTime"]).astimezone(zone)
            assert start == datetime.combine(date.fromisoformat(first), datetime.min.time(),
                                             zone)
            assert end == datetime.combine(date.fromisoformat(last) + timedelta(days=1),
                                           datetime.min.time(), zone)


async def test_a_preset_answers_the_same_range_on_every_surface(harness: Harness) -> None:
    """The same preset resolves to the same instants through the REST query, the GraphQL
    `analytics` query and a dashboard widget's `data` (the pixel's zone, Pacific/Auckland,
    where the local day differs from UTC's) (issue #11)."""
    pixel = await harness.create_pixel(name="nz", timezone="Pacific/Auckland")
    key = await harness.mint("analytics:read", "dashboards:write", pixels=[pixel])
    headers = harness.headers(key, pixel)
    for preset in PRESETS:
        created = await harness.client.post(VIEWS, headers=headers, json={
            "name": preset, "configuration": {"widgets": [{"measure": "core.orders"}],
                                              "dateRange": {"preset": preset}}})
        assert created.status_code == 200, created.text
    views = await harness.graphql(
        "{ dashboardViews { defaultDateRange { preset } widgets { data { start end } } } }",
        key=key, pixel=pixel)
    assert "errors" not in views, views
    widget = {v["defaultDateRange"]["preset"]: v["widgets"][0]["data"]
              for v in views["data"]["dashboardViews"]}
    assert set(widget) == set(PRESETS)

    def instants(start: str, end: str) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(start).astimezone(UTC), \
            datetime.fromisoformat(end).astimezone(UTC)

    for preset in PRESETS:
        rest = await harness.client.post(QUERY, headers=headers, json={
            "measures": ["core.orders"], "granularity": "none", "dateRange": {"preset": preset}})
        assert rest.status_code == 200, rest.text
        r = rest.json()["results"][0]["dateRange"]
        gql = await harness.graphql("""query($p: String!) { analytics(input: {
            measures: ["core.orders"], granularity: NONE, dateRange: {preset: $p}}) {
            dateRange { start end startTime endTime } } }""", {"p": preset},
                                    key=key, pixel=pixel)
        g = gql["data"]["analytics"]["dateRange"]
        assert (r["start"], r["end"]) == (g["start"], g["end"]) == MEANING[preset][1]
        expected = instants(r["startTime"], r["endTime"])
        assert instants(g["startTime"], g["endTime"]) == expected, preset
        assert instants(widget[preset]["start"], widget[preset]["end"]) == expected, preset


async def test_alert_windows_come_from_the_same_module(harness: Harness, dns: Dns) -> None:
    """Alerts take intervals, not presets: each evaluated window is exactly
    `gateway.periods.interval_window` of its interval at the evaluation's time, as the API
    reports it (issue #11)."""
    dns.names["hooks.example.com"] = ["93.184.216.34"]
    key = await harness.mint("alerts:write")
    auth = {"Authorization": f"Bearer {key}"}
    hook = await harness.client.post("/api/v2/webhooks", headers=auth, json={
        "name": "ops", "url": "https://hooks.example.com/in"})
    assert hook.status_code == 200, hook.text
    for interval in INTERVALS:
        created = await harness.client.post("/api/v2/alerts", headers=auth, json={
            "source": "measure", "measure": "core.revenue", "threshold": 10**9,
            "thresholdType": "above", "interval": interval, "name": interval,
            "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]}})
        assert created.status_code == 200, created.text
    now = harness.clock() + timedelta(minutes=7, seconds=20)
    await AlertEvaluator(harness.state.db, harness.state.settings).evaluate_due(now)
    body = await harness.graphql("{ alerts { interval history { windowStart windowEnd } } }",
                                 key=key)
    assert "errors" not in body, body
    seen = {a["interval"]: a["history"] for a in body["data"]["alerts"]}
    assert set(seen) == set(INTERVALS)
    for interval, history in seen.items():
        [entry] = history
        got = (datetime.fromisoformat(entry["windowStart"]),
               datetime.fromisoformat(entry["windowEnd"]))
        assert got == interval_window(interval, now), interval


async def test_granularity_lists_are_the_one_list(harness: Harness) -> None:
    """GraphQL's enums are the domain's lists, and a query, a view's configuration and a
    widget's data name the same granularities when refusing one (issue #11)."""
    key = await harness.mint("analytics:read", "dashboards:write")
    headers = harness.headers(key, harness.pixel_id)

    async def enum(name: str) -> list[str]:
        body = await harness.graphql(f'{{ __type(name: "{name}") {{ enumValues {{ name }} }} }}',
                                     key=key)
        return [v["name"].lower() for v in body["data"]["__type"]["enumValues"]]

    assert await enum("Granularity") == list(GRANULARITIES)
    assert await enum("CohortGranularity") == list(COHORT_GRANULARITIES)
    assert await enum("AttributionModel") == list(MODELS)
    listed = ", ".join(GRANULARITIES)
    query = await harness.client.post(QUERY, headers=headers, json={
        "measures": ["core.orders"], "dateRange": "today", "granularity": "fortnight"})
    assert_upstack_error(query, 400, fields=["granularity"])
    assert listed in query.json()["errors"][0]["message"]
    view = await harness.client.post(VIEWS, headers=headers, json={
        "name": "v", "configuration": {"widgets": [{"measure": "core.orders"}],
                                       "granularity": "fortnight"}})
    assert_upstack_error(view, 400, fields=["configuration.granularity"])
    assert listed in view.json()["errors"][0]["message"]
    for granularity in GRANULARITIES:  # every one of them is a view's granularity
        ok = await harness.client.post(VIEWS, headers=headers, json={
            "name": granularity, "configuration": {"widgets": [{"measure": "core.orders"}],
                                                   "granularity": granularity}})
        assert ok.status_code == 200, ok.text
    view_id = ok.json()["id"]
    data = await harness.graphql('query($id: ID!) { dashboardView(id: $id) { widgets { '
                                 'data(granularity: "fortnight") { total } } } }',
                                 {"id": view_id}, key=key)
    assert_graphql_error(data, "INVALID_INPUT")
    assert listed in data["errors"][0]["message"]
