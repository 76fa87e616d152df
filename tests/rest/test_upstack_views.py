"""/accounts/api/dashboard/views: the Upstack dashboard-view surface (issue #6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Harness, assert_upstack_error

BASE = "/accounts/api/dashboard/views"
QUICKSTART = {
    "name": "NC + Meta Pulse",
    "widgets": [
        {"measure": "core.new_customer_roas", "title": "NC ROAS"},
        {"measure": "core.new_customer_mer", "title": "NC MER"},
        {"measure": "meta.cpm", "title": "Meta CPM"},
    ],
}


def _widget(measure: str, x: int, y: int, columns: int = 3, rows: int = 2) -> dict[str, Any]:
    return {"title": measure, "chartType": "line", "layout": {"x": x, "y": y, "columns": columns,
            "rows": rows}, "dataConfig": {"measures": [measure]}}


async def _writer(harness: Harness) -> dict[str, str]:
    return harness.headers(await harness.mint("dashboards:write"), harness.pixel_id)


async def test_quickstart_from_preset_then_open(harness: Harness) -> None:
    """The Upstack quickstart: from-preset returns the full view with auto-laid-out sparkline
    widgets in reading order; the view then opens by id."""
    h = await _writer(harness)
    created = await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART, headers=h)
    assert created.status_code == 200, created.text
    view = created.json()
    assert view["name"] == "NC + Meta Pulse" and view["pixelId"] == harness.pixel_id
    assert view["type"] == "view" and view["version"] == 1
    assert view["createdBy"] is None and view["updatedBy"] is None  # API-key write
    widgets = view["configuration"]["widgets"]
    assert [(w["title"], w["measure"], w["chartType"]) for w in widgets] == [
        ("NC ROAS", "core.new_customer_roas", "sparkline"),
        ("NC MER", "core.new_customer_mer", "sparkline"),
        ("Meta CPM", "meta.cpm", "sparkline"),
    ]
    assert [(w["layout"]["x"], w["layout"]["y"]) for w in widgets] == [(0, 0), (3, 0), (6, 0)]
    assert all(w["dataConfig"]["measures"] == [w["measure"]] for w in widgets)
    assert view["configuration"]["grid"] == {"maxWidth": 1200, "columns": 12}
    assert view["configuration"]["dateRange"] == {"preset": "last_30_days"}
    assert view["configuration"]["granularity"] == "day"
    opened = await harness.client.get(f"{BASE}/{view['id']}", headers=h)
    assert opened.status_code == 200
    assert opened.json() == view
    assert opened.headers["etag"] == '"1"'


async def test_from_preset_wraps_rows_without_overlap(harness: Harness) -> None:
    h = await _writer(harness)
    body = {"name": "many", "widgets": [{"measure": "core.revenue"}] * 9,
            "chartTypes": ["number", "bar"]}
    view = (await harness.client.post(f"{BASE}/from-preset", json=body, headers=h)).json()
    widgets = view["configuration"]["widgets"]
    places = [(w["layout"]["x"], w["layout"]["y"]) for w in widgets]
    # Tiles are 3 columns x 2 rows: four per row, the next row starting at y = 2.
    assert places == [(0, 0), (3, 0), (6, 0), (9, 0), (0, 2), (3, 2), (6, 2), (9, 2), (0, 4)]
    assert [w["chartType"] for w in widgets[:3]] == ["number", "bar", "sparkline"]
    assert widgets[0]["title"] == "Revenue"  # defaults to the measure's title
    assert len({w["id"] for w in widgets}) == 9


async def test_measure_by_title(harness: Harness) -> None:
    h = await _writer(harness)
    body = {"name": "titles", "widgets": [{"measure": "NC ROAS"}, {"measure": "meta cpm"}]}
    view = (await harness.client.post(f"{BASE}/from-preset", json=body, headers=h)).json()
    assert [w["measure"] for w in view["configuration"]["widgets"]] == [
        "core.new_customer_roas", "meta.cpm"]


async def test_missing_name_is_the_documented_body(harness: Harness) -> None:
    h = await _writer(harness)
    for path, body in ((BASE, {"configuration": {}}),
                       (f"{BASE}/from-preset", {"widgets": [{"measure": "core.revenue"}]})):
        response = await harness.client.post(path, json=body, headers=h)
        assert response.status_code == 400
        assert response.json() == {"message": "Bad Request", "errors": [
            {"message": "name is required", "key": "name", "path": ["name"]}]}


async def test_unknown_measure_points_at_the_widget(harness: Harness) -> None:
    h = await _writer(harness)
    body = {"name": "x", "widgets": [{"measure": "core.revenue"}, {"measure": "core.revenu"}]}
    response = await harness.client.post(f"{BASE}/from-preset", json=body, headers=h)
    assert_upstack_error(response, 400, fields=["widgets.1.measure"])
    error = response.json()["errors"][0]
    assert error["path"] == ["widgets", 1, "measure"]
    assert "core.revenue" in error["message"]  # the suggestion
    full = {"name": "x", "configuration": {"widgets": [{"measure": "nope.nothing"}]}}
    response = await harness.client.post(BASE, json=full, headers=h)
    assert_upstack_error(response, 400, fields=["configuration.widgets.0.measure"])


@pytest.mark.parametrize(("widgets", "field"), [
    ([_widget("core.revenue", 0, 0, 6, 2), _widget("core.orders", 4, 1)],
     "configuration.widgets.1.layout"),
    ([_widget("core.revenue", 10, 0, 3, 2)], "configuration.widgets.0.layout"),
    ([_widget("core.revenue", -1, 0)], "configuration.widgets.0.layout"),
    ([_widget("core.revenue", 0, 0, 13, 1)], "configuration.widgets.0.layout"),
    ([{**_widget("core.revenue", 0, 0), "chartType": "pie"}], "configuration.widgets.0.chartType"),
])
async def test_overlapping_or_off_grid_widgets_are_400(harness: Harness,
                                                      widgets: list[dict[str, Any]],
                                                      field: str) -> None:
    h = await _writer(harness)
    response = await harness.client.post(
        BASE, json={"name": "bad", "configuration": {"widgets": widgets}}, headers=h)
    assert_upstack_error(response, 400, fields=[field])


async def test_create_full_configuration_keeps_upstack_fields(harness: Harness) -> None:
    h = await _writer(harness)
    config = {
        "widgets": [_widget("core.revenue", 0, 0, 12, 3), _widget("core.orders", 0, 3, 6, 2)],
        "dateRange": {"start": "2026-10-01", "end": "2026-10-31"},
        "granularity": "week", "filters": {"and": []}, "attributionModel": "last_click",
        "sections": [{"id": "s1", "title": "Top"}],
    }
    response = await harness.client.post(BASE, json={
        "name": "Full", "description": "all of it", "type": "pnl_view", "order": 2,
        "configuration": config}, headers=h)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["description"] == "all of it" and view["order"] == 2
    assert view["type"] == "pnl_view"
    got = view["configuration"]
    assert got["dateRange"] == config["dateRange"] and got["granularity"] == "week"
    assert got["sections"] == config["sections"] and got["attributionModel"] == "last_click"
    assert got["widgets"][1]["layout"]["columns"] == 6
    listed = await harness.client.get(BASE, params={"type": "pnl_view"}, headers=h)
    assert [v["id"] for v in listed.json()["views"]] == [view["id"]]
    none = await harness.client.get(BASE, params={"type": "attribution_view"}, headers=h)
    assert none.json() == {"views": []}


async def test_patch_accepts_only_name_configuration_order(harness: Harness) -> None:
    h = await _writer(harness)
    view = (await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART, headers=h)).json()
    url = f"{BASE}/{view['id']}"
    for field in ("type", "pixelId", "createdBy", "id"):
        response = await harness.client.patch(url, json={field: "x"}, headers=h)
        assert_upstack_error(response, 400, fields=[field])
    renamed = await harness.client.patch(url, json={"name": "Renamed", "order": 5}, headers=h)
    assert renamed.status_code == 200
    body = renamed.json()
    assert body["name"] == "Renamed" and body["order"] == 5 and body["version"] == 2
    assert body["configuration"]["widgets"] == view["configuration"]["widgets"]
    # A configuration patch replaces the keys it names and keeps the others.
    patched = await harness.client.patch(
        url, json={"configuration": {"dateRange": {"preset": "last_7_days"}}}, headers=h)
    assert patched.json()["configuration"]["dateRange"] == {"preset": "last_7_days"}
    assert patched.json()["configuration"]["widgets"] == view["configuration"]["widgets"]
    assert patched.headers["etag"] == '"3"'


async def test_stale_version_is_409_and_nothing_changes(harness: Harness) -> None:
    """Lost updates are impossible: If-Match or a version field naming an old version."""
    h = await _writer(harness)
    view = (await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART, headers=h)).json()
    url = f"{BASE}/{view['id']}"
    first = await harness.client.patch(url, json={"name": "A"}, headers={**h, "If-Match": '"1"'})
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = await harness.client.patch(url, json={"name": "B"}, headers={**h, "If-Match": '"1"'})
    assert_upstack_error(stale, 409)
    stale_field = await harness.client.patch(url, json={"name": "C", "version": 1}, headers=h)
    assert_upstack_error(stale_field, 409)
    stored = (await harness.client.get(url, headers=h)).json()
    assert stored["name"] == "A" and stored["version"] == 2
    ok = await harness.client.patch(url, json={"name": "D", "version": 2}, headers=h)
    assert ok.status_code == 200 and ok.json()["version"] == 3
    both = await harness.client.patch(url, json={"name": "F", "version": 1},
                                      headers={**h, "If-Match": 'W/"3"'})
    assert both.status_code == 200 and both.json()["version"] == 4  # If-Match wins
    bad = await harness.client.patch(url, json={"name": "E"}, headers={**h, "If-Match": "abc"})
    assert_upstack_error(bad, 400, fields=["If-Match"])


async def test_copy_and_delete(harness: Harness) -> None:
    h = await _writer(harness)
    view = (await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART, headers=h)).json()
    copy = await harness.client.post(f"{BASE}/{view['id']}/copy", headers=h)
    assert copy.status_code == 200
    body = copy.json()
    assert body["id"] != view["id"] and body["name"] == "NC + Meta Pulse (copy)"
    assert body["version"] == 1 and body["configuration"] == view["configuration"]
    named = await harness.client.post(f"{BASE}/{view['id']}/copy", json={"name": "Mine"},
                                      headers=h)
    assert named.json()["name"] == "Mine"
    deleted = await harness.client.delete(f"{BASE}/{view['id']}", headers=h)
    assert deleted.json() == {"id": view["id"], "deleted": True}
    assert_upstack_error(await harness.client.get(f"{BASE}/{view['id']}", headers=h), 404,
                         message="Dashboard view not found")
    listed = (await harness.client.get(BASE, headers=h)).json()["views"]
    assert sorted(v["name"] for v in listed) == ["Mine", "NC + Meta Pulse (copy)"]


async def test_another_pixels_view_is_404_everywhere(harness: Harness) -> None:
    """Another pixel's view is 404 for read, update, copy and delete, and stays intact."""
    h = await _writer(harness)
    view = (await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART, headers=h)).json()
    other_pixel = await harness.create_pixel(name="other")
    stranger = harness.headers(await harness.mint("dashboards:write", pixels=[other_pixel]),
                               other_pixel)
    url = f"{BASE}/{view['id']}"
    for response in (
        await harness.client.get(url, headers=stranger),
        await harness.client.patch(url, json={"name": "x"}, headers=stranger),
        await harness.client.post(f"{url}/copy", headers=stranger),
        await harness.client.delete(url, headers=stranger),
        await harness.client.get(f"{BASE}/no-such-id", headers=h),
    ):
        assert_upstack_error(response, 404, message="Dashboard view not found")
    assert (await harness.client.get(BASE, headers=stranger)).json() == {"views": []}
    assert (await harness.client.get(url, headers=h)).json() == view


@pytest.mark.parametrize(("scopes", "method", "path", "status"), [
    (("analytics:read",), "GET", BASE, 403),
    (("dashboards:read",), "GET", BASE, 200),
    (("dashboards:write",), "GET", BASE, 200),
    (("dashboards:read",), "POST", f"{BASE}/from-preset", 403),
    (("dashboards:read",), "POST", BASE, 403),
    ((), "GET", BASE, 401),
])
async def test_scopes(harness: Harness, scopes: tuple[str, ...], method: str, path: str,
                      status: int) -> None:
    headers = harness.headers(await harness.mint(*scopes), harness.pixel_id) if scopes else {}
    response = await harness.client.request(method, path, headers=headers,
                                            json=QUICKSTART if method == "POST" else None)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json() == {"message": "API key does not have the dashboards:write scope"} \
            or response.json() == {"message": "API key does not have the dashboards:read scope"}


async def test_body_pixel_must_match_the_header(harness: Harness) -> None:
    """Upstack: a pixelId in the body must equal x-pixel-id, else 403."""
    h = await _writer(harness)
    other = await harness.create_pixel(name="other")
    for path in (BASE, f"{BASE}/from-preset"):
        response = await harness.client.post(path, json={**QUICKSTART, "pixelId": other},
                                             headers=h)
        assert_upstack_error(response, 403, message="pixelId")
    same = await harness.client.post(f"{BASE}/from-preset",
                                     json={**QUICKSTART, "pixelId": harness.pixel_id}, headers=h)
    assert same.status_code == 200


async def test_round_trip_edit_of_data_config_wins(harness: Harness) -> None:
    """A client editing `dataConfig.measures` of a widget it read back (our `measure`
    shorthand still old) gets its edit: dataConfig is authoritative."""
    h = await _writer(harness)
    view = (await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART, headers=h)).json()
    widgets = view["configuration"]["widgets"]
    widgets[0]["dataConfig"]["measures"] = ["Revenue", "core.orders"]
    response = await harness.client.patch(f"{BASE}/{view['id']}", headers=h,
                                          json={"configuration": {"widgets": widgets}})
    assert response.status_code == 200, response.text
    first = response.json()["configuration"]["widgets"][0]
    assert first["measure"] == "core.revenue"
    assert first["dataConfig"]["measures"] == ["core.revenue", "core.orders"]
    assert first["layout"] == view["configuration"]["widgets"][0]["layout"]


async def test_bodies_refuse_unknown_fields_and_a_create_takes_a_replayed_view(
        harness: Harness) -> None:
    """Rule (issue #10): view bodies refuse fields they do not define, each a field error
    naming it (before, they were silently ignored). A create body may carry a view's
    read-only fields: a `show` output replayed into `create`, as the CLI's --from-file does."""
    h = await _writer(harness)
    typo = await harness.client.post(BASE, json={"name": "x", "descripton": "oops"}, headers=h)
    assert_upstack_error(typo, 400, fields=["descripton"])
    assert "unknown field" in typo.json()["errors"][0]["message"]
    view = (await harness.client.post(f"{BASE}/from-preset", json=QUICKSTART,
                                      headers=h)).json()
    replayed = await harness.client.post(BASE, json=view, headers=h)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["id"] != view["id"] and replayed.json()["version"] == 1
    assert replayed.json()["configuration"]["widgets"] == view["configuration"]["widgets"]

    preset = {**QUICKSTART, "widgets": [{**QUICKSTART["widgets"][0], "colour": "red"}],
              "theme": "dark"}
    assert_upstack_error(await harness.client.post(f"{BASE}/from-preset", json=preset,
                                                   headers=h),
                         400, fields=["theme", "widgets.0.colour"])
    assert_upstack_error(await harness.client.post(f"{BASE}/from-preset", json={
        **QUICKSTART, "layout": "masonry"}, headers=h), 400, fields=["layout"])
    documented = await harness.client.post(f"{BASE}/from-preset", json={
        **QUICKSTART, "layout": "kpi-grid"}, headers=h)
    assert documented.status_code == 200, documented.text
    assert_upstack_error(await harness.client.post(f"{BASE}/{view['id']}/copy",
                                                   json={"nmae": "c"}, headers=h),
                         400, fields=["nmae"])
    assert_upstack_error(await harness.client.patch(f"{BASE}/{view['id']}",
                                                    json={"createdAt": "x"}, headers=h),
                         400, fields=["createdAt"])


async def test_scope_is_checked_before_body_fields(harness: Harness) -> None:
    """A caller without the scope gets 403, not a list of our field names (issue #10)."""
    reader = harness.headers(await harness.mint("dashboards:read"), harness.pixel_id)
    for path in (BASE, f"{BASE}/from-preset"):
        response = await harness.client.post(path, json={"name": "x", "bogus": 1},
                                             headers=reader)
        assert_upstack_error(response, 403)
