"""Dashboard views through GraphQL: the same service and rules as REST (issue #6)."""

from __future__ import annotations

from tests.support import Harness, assert_graphql_error

VIEW_FIELDS = """id pixelId name description version createdBy granularity
  defaultDateRange { start end preset } defaultFilters
  widgets { id title kind measure measures layout { x y columns rows } options }"""

CREATE = f"""mutation($input: CreateDashboardViewInput!) {{
  createDashboardView(input: $input) {{ {VIEW_FIELDS} }} }}"""
PRESET = f"""mutation($input: DashboardViewFromPresetInput!) {{
  createDashboardViewFromPreset(input: $input) {{ {VIEW_FIELDS} }} }}"""
UPDATE = """mutation($id: ID!, $input: UpdateDashboardViewInput!, $version: Int) {
  updateDashboardView(id: $id, input: $input, version: $version) { id name version } }"""


async def test_create_read_update_copy_delete(harness: Harness) -> None:
    key = await harness.mint("dashboards:write")
    created = await harness.graphql(CREATE, {"input": {
        "name": "Pulse", "description": "d",
        "configuration": {
            "widgets": [{"measure": "Revenue", "kind": "NUMBER",
                         "layout": {"x": 0, "y": 0, "columns": 6, "rows": 2}},
                        {"measure": "core.orders"}],
            "dateRange": {"start": "2026-11-01", "end": "2026-11-15"},
            "granularity": "week", "filters": {"and": []}}}}, key=key)
    assert "errors" not in created, created
    view = created["data"]["createDashboardView"]
    assert view["version"] == 1 and view["createdBy"] is None and view["granularity"] == "week"
    assert view["defaultDateRange"] == {"start": "2026-11-01", "end": "2026-11-15", "preset": None}
    assert view["defaultFilters"] == {"and": []}
    first, second = view["widgets"]
    assert (first["measure"], first["kind"], first["layout"]) == (
        "core.revenue", "NUMBER", {"x": 0, "y": 0, "columns": 6, "rows": 2})
    assert second["kind"] == "SPARKLINE" and second["layout"] == {"x": 6, "y": 0, "columns": 3,
                                                                  "rows": 2}
    listed = await harness.graphql("{ dashboardViews { id name } }", key=key)
    assert listed["data"]["dashboardViews"] == [{"id": view["id"], "name": "Pulse"}]

    updated = await harness.graphql(UPDATE, {"id": view["id"], "input": {"name": "New"},
                                             "version": 1}, key=key)
    assert updated["data"]["updateDashboardView"] == {"id": view["id"], "name": "New",
                                                      "version": 2}
    stale = await harness.graphql(UPDATE, {"id": view["id"], "input": {"name": "Old"},
                                           "version": 1}, key=key)
    assert_graphql_error(stale, "STALE_VERSION", path=["updateDashboardView"])
    copy = await harness.graphql(
        'mutation($id: ID!) { copyDashboardView(id: $id) { name version } }',
        {"id": view["id"]}, key=key)
    assert copy["data"]["copyDashboardView"] == {"name": "New (copy)", "version": 1}
    gone = await harness.graphql('mutation($id: ID!) { deleteDashboardView(id: $id) }',
                                 {"id": view["id"]}, key=key)
    assert gone["data"]["deleteDashboardView"] == view["id"]
    missing = await harness.graphql('query($id: ID!) { dashboardView(id: $id) { id } }',
                                    {"id": view["id"]}, key=key)
    assert_graphql_error(missing, "NOT_FOUND")


async def test_validation_details_carry_paths(harness: Harness) -> None:
    key = await harness.mint("dashboards:write")
    body = await harness.graphql(PRESET, {"input": {"name": "x", "widgets": [
        {"measure": "core.revenue"}, {"measure": "core.revenu"}]}}, key=key)
    assert_graphql_error(body, "INVALID_INPUT")
    details = body["errors"][0]["extensions"]["details"]
    assert details[0]["path"] == ["widgets", 1, "measure"]
    assert "core.revenue" in details[0]["message"]
    overlap = await harness.graphql(CREATE, {"input": {"name": "o", "configuration": {"widgets": [
        {"measure": "core.revenue", "layout": {"x": 0, "y": 0, "columns": 4, "rows": 2}},
        {"measure": "core.orders", "layout": {"x": 3, "y": 1}}]}}}, key=key)
    assert overlap["errors"][0]["extensions"]["details"][0]["key"] == \
        "configuration.widgets.1.layout"


async def test_federation_entities_batch_and_hide_other_pixels(harness: Harness) -> None:
    """`DashboardView` is an entity keyed by id; references to another pixel's views are null."""
    key = await harness.mint("dashboards:write")
    ids = []
    for name in ("a", "b"):
        body = await harness.graphql(PRESET, {"input": {"name": name, "widgets": [
            {"measure": "core.revenue"}]}}, key=key)
        ids.append(body["data"]["createDashboardViewFromPreset"]["id"])
    other = await harness.create_pixel(name="other")
    other_key = await harness.mint("dashboards:write", pixels=[other])
    foreign = (await harness.graphql(PRESET, {"input": {"name": "f", "widgets": [
        {"measure": "core.revenue"}]}}, key=other_key))["data"]["createDashboardViewFromPreset"]
    query = """query($reps: [_Any!]!) { _entities(representations: $reps) {
      ... on DashboardView { id name } } }"""
    reps = [{"__typename": "DashboardView", "id": i} for i in (*ids, foreign["id"])]
    body = await harness.graphql(query, {"reps": reps}, key=key)
    assert body["data"]["_entities"] == [{"id": ids[0], "name": "a"}, {"id": ids[1], "name": "b"},
                                         None]
