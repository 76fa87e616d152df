"""Widget data: each widget's series from the query engine, batched so the number of SQL
statements is bounded by distinct (pixel, range, granularity) groups (issue #6)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from gateway.catalog import CATALOG
from gateway.engine import EngineQuery, TimeRange, run_query
from gateway.storage.events import insert_events
from tests.support import Harness, assert_graphql_error

BASE = "/accounts/api/dashboard/views"
RANGE_A = {"start": "2026-11-18", "end": "2026-11-19"}
RANGE_B = {"start": "2026-11-01", "end": "2026-11-19"}


async def _purchase(h: Harness, when: datetime, revenue: float) -> None:
    ms = int(when.timestamp() * 1000)
    async with h.state.db.session() as session:
        await insert_events(session, [{"pixel_id": h.pixel_id, "name": "purchase", "ts": ms,
                                       "received_at": ms, "revenue": revenue, "user_id": "u",
                                       "order_id": f"o{ms}"}])
        await session.commit()


async def _view(h: Harness, headers: dict[str, str], measures: list[str],
                date_range: dict[str, str], **config: Any) -> str:
    response = await h.client.post(BASE, json={"name": "v", "configuration": {
        "widgets": [{"measure": m} for m in measures], "dateRange": date_range, **config}},
        headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


@contextmanager
def _counting(h: Harness) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The audit log and lastUsedAt are written by background tasks (issue #3), on their
        # own schedule: not statements the page load issued. Nor is the rollup folder's
        # poll of its watermark (the engine's freshness check, one per engine call, reads
        # the same row and is left out with it).
        if not statement.startswith(("INSERT INTO audit_log", "UPDATE api_key SET last_used_at")
                                    ) and "event_rollup_state" not in statement:
            statements.append(statement)

    engine = h.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_series_values_and_defaults(harness: Harness) -> None:
    key = await harness.mint("dashboards:write")
    headers = harness.headers(key, harness.pixel_id)
    await _purchase(harness, datetime(2026, 11, 18, 9, tzinfo=UTC), 100)
    await _purchase(harness, datetime(2026, 11, 19, 9, tzinfo=UTC), 50)
    await _purchase(harness, datetime(2026, 11, 19, 10, tzinfo=UTC), 25)
    view_id = await _view(harness, headers, ["core.revenue", "Orders"], {"preset": "last_7_days"},
                          granularity="day")
    query = """query($id: ID!, $range: WidgetDateRangeInput, $g: String) {
      dashboardView(id: $id) { widgets { measure
        data(dateRange: $range, granularity: $g) { measure granularity start end total
          points { start value } } } } }"""
    body = await harness.graphql(query, {"id": view_id, "range": RANGE_A, "g": "day"}, key=key)
    revenue, orders = body["data"]["dashboardView"]["widgets"]
    assert revenue["data"]["total"] == 175 and orders["data"]["total"] == 3
    assert [p["value"] for p in revenue["data"]["points"]] == [100, 75]
    assert [p["value"] for p in orders["data"]["points"]] == [1, 2]
    assert revenue["data"]["start"].startswith("2026-11-18T00:00:00")
    assert revenue["data"]["end"].startswith("2026-11-20T00:00:00")
    # No arguments: the view's default range (last_7_days: the 7 whole days before the
    # clock's day, 2026-11-20, as everywhere: Nov 13..19, issue #11) and granularity.
    body = await harness.graphql(query, {"id": view_id}, key=key)
    data = body["data"]["dashboardView"]["widgets"][0]["data"]
    assert data["granularity"] == "day" and len(data["points"]) == 7
    assert data["points"][0]["start"].startswith("2026-11-13") and data["total"] == 175
    assert data["end"].startswith("2026-11-20T00:00:00")
    weekly = await harness.graphql(query, {"id": view_id, "range": RANGE_B, "g": "week"}, key=key)
    assert weekly["data"]["dashboardView"]["widgets"][0]["data"]["total"] == 175
    bad = await harness.graphql(query, {"id": view_id, "g": "fortnight"}, key=key)
    assert_graphql_error(bad, "INVALID_INPUT")


async def test_statements_bounded_by_groups_not_widgets(harness: Harness) -> None:
    """20 views x 30 widgets cost one views SELECT, one pixels SELECT and one engine call per
    distinct (pixel, range, granularity) group: the same as a single view of one widget with
    those measures, and nothing per widget."""
    key = await harness.mint("dashboards:write")
    headers = harness.headers(key, harness.pixel_id)
    await _purchase(harness, datetime(2026, 11, 18, 9, tzinfo=UTC), 100)
    # Folded now, so no engine call below folds it first (each still checks, one SELECT).
    await harness.state.db.fold_rollups()
    measures = [m.key for m in CATALOG][:30]
    views = [await _view(harness, headers, measures, RANGE_A) for _ in range(20)]
    every = "{ dashboardViews { id widgets { id data { total points { value } } } } }"
    await harness.graphql("{ viewer { kind } }", key=key)  # warm the key cache

    async def engine_statements(date_range: dict[str, str]) -> int:
        start = datetime.fromisoformat(date_range["start"]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(date_range["end"]).replace(tzinfo=UTC) + timedelta(days=1)
        with _counting(harness) as seen:
            await run_query(harness.state.db, EngineQuery(
                harness.pixel_id, tuple(measures), TimeRange(start, end)))
        return len(seen)

    per_group_a = await engine_statements(RANGE_A)
    with _counting(harness) as one_group:
        body = await harness.graphql(every, key=key)
    widgets = [w for v in body["data"]["dashboardViews"] for w in v["widgets"]]
    assert len(widgets) == 600 and "errors" not in body
    assert widgets[0]["data"]["total"] == 100
    assert len(one_group) == 2 + per_group_a, one_group

    for view_id in views[:10]:  # a second default range: a second group
        patched = await harness.client.patch(f"{BASE}/{view_id}", headers=headers,
                                             json={"configuration": {"dateRange": RANGE_B}})
        assert patched.status_code == 200
    per_group_b = await engine_statements(RANGE_B)
    with _counting(harness) as two_groups:
        body = await harness.graphql(every, key=key)
    assert "errors" not in body
    assert len(two_groups) == 2 + per_group_a + per_group_b, two_groups

    # A granularity argument applies to every widget: still two groups.
    with _counting(harness) as weekly:
        body = await harness.graphql(every.replace("data {", 'data(granularity: "week") {'),
                                     key=key)
    assert "errors" not in body
    assert len(weekly) <= 2 + 2 * max(per_group_a, per_group_b) < 600 / 20


async def test_view_filters_apply_to_widget_data(harness: Harness) -> None:
    """A view's default filters narrow its widgets' data; a bad filter is refused on save."""
    key = await harness.mint("dashboards:write")
    headers = harness.headers(key, harness.pixel_id)
    for source, revenue in (("google", 40.0), ("tiktok", 60.0)):
        ms = int(datetime(2026, 11, 18, 9, tzinfo=UTC).timestamp() * 1000) + int(revenue)
        async with harness.state.db.session() as session:
            await insert_events(session, [{"pixel_id": harness.pixel_id, "name": "purchase",
                                           "ts": ms, "received_at": ms, "revenue": revenue,
                                           "utm_source": source, "order_id": source}])
            await session.commit()
    only_google = {"and": [{"field": "utm_source", "op": "equals", "value": "google"}]}
    filtered = await _view(harness, headers, ["core.revenue"], RANGE_A, filters=only_google)
    everything = await _view(harness, headers, ["core.revenue"], RANGE_A)
    body = await harness.graphql(
        "{ dashboardViews { id defaultFilters widgets { data { total } } } }", key=key)
    totals = {v["id"]: v["widgets"][0]["data"]["total"] for v in body["data"]["dashboardViews"]}
    assert totals == {filtered: 40.0, everything: 100.0}
    bad = await harness.client.post(BASE, json={"name": "x", "configuration": {
        "filters": {"and": [{"field": "nope", "op": "equals", "value": 1}]}}}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["key"].startswith("configuration.filters.and.0")
