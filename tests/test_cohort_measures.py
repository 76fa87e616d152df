"""Cohort measures are described once, in `gateway.catalog.cohorts` (issue #11): the engine
takes its list from there and Upstack's cohort `measureDetails[]` are built from it, not from
rules re-invented in the REST module."""

from __future__ import annotations

from gateway.catalog.cohorts import COHORT_CATALOG, COHORT_MEASURES
from gateway.engine import COHORT_MEASURES as ENGINE_MEASURES
from tests.support import Harness


async def test_cohort_details_come_from_the_catalog(harness: Harness) -> None:
    """Every cohort measure's details as shipped: only the cohort size is summable, only
    retention is a percentage; all trend up and none has pacing."""
    assert ENGINE_MEASURES == COHORT_MEASURES == tuple(m.key for m in COHORT_CATALOG)
    key = await harness.mint("analytics:read")
    response = await harness.client.post(
        "/db-mgmt/api/query-cohort-analysis", headers=harness.headers(key, harness.pixel_id),
        json={"dateRange": {"start": "2026-10-01", "end": "2026-11-15"}})
    assert response.status_code == 200, response.text
    details = response.json()["results"][0]["measureDetails"]
    assert [d["measure"] for d in details] == list(COHORT_MEASURES)
    assert details == [{
        "measure": m, "isAverage": m != "orders.customers_cohort",
        "isPercentage": m == "orders.cohort_retention_percent", "success": True,
        "preferredTrendDirection": "up", "hasPacing": False} for m in COHORT_MEASURES]
    for d, m in zip(details, COHORT_CATALOG, strict=True):
        assert (d["isAverage"], d["isPercentage"], d["preferredTrendDirection"],
                d["hasPacing"]) == (m.is_average, m.is_percentage, m.preferred_trend,
                                    m.has_pacing)
