"""Attribution's defaults and its percentDiff have one home each (issue #11): the defaults in
`gateway.attribution`, used by the engine, the GraphQL input and the Upstack REST body alike;
percentDiff computed once, in the analytics service, and only shaped by REST."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from gateway.attribution import (
    DEFAULT_CONVERSION_EVENT,
    DEFAULT_DIMENSION,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_MODEL,
    DEFAULT_WINDOW_DAYS,
)
from gateway.engine import AttributionQuery
from tests.support import Harness
from tests.support_query import seed_events

ATTRIBUTION = "/db-mgmt/api/query-attribution"
RANGE = {"start": "2026-10-20", "end": "2026-11-10"}
GQL = """query($a: AttributionQueryInput!) { attribution(input: $a) {
  dimension attributionModel attributionWindow primary { value conversions revenue share }
  totals { conversions revenue } compareTotals { conversions revenue }
  percentDiff { conversions revenue } } }"""


async def _seed(h: Harness) -> None:
    await seed_events(h.state.db, h.pixel_id, seed=7, start=datetime(2026, 9, 25, tzinfo=UTC),
                      days=50)


def _rows(result: dict[str, Any]) -> list[tuple[Any, float, float]]:
    return [(r[result["dimension"]], r["conversions"], r["revenue"])
            for r in result["data"]["primary"]]


async def test_defaults_are_the_same_on_every_surface(harness: Harness) -> None:
    """Nothing but a date range: REST and GraphQL answer with the one set of defaults, and
    spelling the defaults out changes nothing (half-life and conversion event included)."""
    await _seed(harness)
    key = await harness.mint("analytics:read")
    headers = harness.headers(key, harness.pixel_id)
    engine = {f.name: f.default for f in fields(AttributionQuery)}
    assert {k: engine[k] for k in ("dimension", "model", "window_days", "conversion_event",
                                   "half_life_days")} == {
        "dimension": DEFAULT_DIMENSION, "model": DEFAULT_MODEL,
        "window_days": DEFAULT_WINDOW_DAYS, "conversion_event": DEFAULT_CONVERSION_EVENT,
        "half_life_days": DEFAULT_HALF_LIFE_DAYS}
    bare = await harness.client.post(ATTRIBUTION, headers=headers, json={"dateRange": RANGE})
    spelled = await harness.client.post(ATTRIBUTION, headers=headers, json={
        "dateRange": RANGE, "dimension": DEFAULT_DIMENSION, "attributionModel": DEFAULT_MODEL,
        "attributionWindow": DEFAULT_WINDOW_DAYS, "conversionEvent": DEFAULT_CONVERSION_EVENT,
        "halfLifeDays": DEFAULT_HALF_LIFE_DAYS})
    assert bare.status_code == spelled.status_code == 200, bare.text
    rest = bare.json()["results"][0]
    assert rest == spelled.json()["results"][0]
    assert (rest["dimension"], rest["attributionModel"], rest["attributionWindow"]) == (
        DEFAULT_DIMENSION, DEFAULT_MODEL, DEFAULT_WINDOW_DAYS)
    gql = await harness.graphql(GQL, {"a": {"dateRange": RANGE}}, key=key)
    g = gql["data"]["attribution"]
    assert (g["dimension"], g["attributionModel"].lower(), g["attributionWindow"]) == (
        DEFAULT_DIMENSION, DEFAULT_MODEL, DEFAULT_WINDOW_DAYS)
    assert [(r["value"], r["conversions"], r["revenue"]) for r in g["primary"]] == _rows(rest)
    # time_decay reads the half-life: its default is the same one on both surfaces.
    decay = await harness.client.post(ATTRIBUTION, headers=headers, json={
        "dateRange": RANGE, "attributionModel": "time_decay"})
    g_decay = await harness.graphql(GQL, {"a": {"dateRange": RANGE,
                                                "attributionModel": "TIME_DECAY"}}, key=key)
    assert [(r["value"], r["conversions"], r["revenue"])
            for r in g_decay["data"]["attribution"]["primary"]] == _rows(
        decay.json()["results"][0])

    described = await harness.graphql('{ __type(name: "AttributionQueryInput") { '
                                      'inputFields { name defaultValue } } }', key=key)
    defaults = {f["name"]: f["defaultValue"]
                for f in described["data"]["__type"]["inputFields"]}
    assert defaults["dimension"] == f'"{DEFAULT_DIMENSION}"'
    assert defaults["attributionModel"] == DEFAULT_MODEL.upper()
    assert defaults["attributionWindow"] == str(DEFAULT_WINDOW_DAYS)
    assert defaults["conversionEvent"] == f'"{DEFAULT_CONVERSION_EVENT}"'
    assert float(defaults["halfLifeDays"]) == DEFAULT_HALF_LIFE_DAYS


async def test_percent_diff_is_the_services_on_both_surfaces(harness: Harness) -> None:
    """REST's measureDetails carry the percentDiff GraphQL reports (computed once, in the
    service): (primary - compare) / |compare| x 100 of each total."""
    await _seed(harness)
    key = await harness.mint("analytics:read")
    rest = await harness.client.post(ATTRIBUTION, headers=harness.headers(key, harness.pixel_id),
                                     json={"dateRange": RANGE})
    details = {d["measure"]: d for d in rest.json()["results"][0]["measureDetails"]}
    g = (await harness.graphql(GQL, {"a": {"dateRange": RANGE}}, key=key))["data"]["attribution"]
    for name in ("conversions", "revenue"):
        p, c = g["totals"][name], g["compareTotals"][name]
        assert c, "the seeded data has a compare period"
        assert g["percentDiff"][name] == details[name]["percentDiff"]
        assert abs(details[name]["percentDiff"] - (p - c) / abs(c) * 100) < 1e-9
        assert (details[name]["primarySum"], details[name]["compareSum"]) == (p, c)
    off = await harness.graphql(GQL, {"a": {"dateRange": RANGE, "compare": False}}, key=key)
    assert off["data"]["attribution"]["percentDiff"] is None
    rest_off = await harness.client.post(
        ATTRIBUTION, headers=harness.headers(key, harness.pixel_id),
        json={"dateRange": RANGE, "compare": False})
    assert [d["percentDiff"] for d in rest_off.json()["results"][0]["measureDetails"]] == [
        None, None]
