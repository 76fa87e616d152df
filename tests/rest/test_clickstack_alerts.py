"""ClickStack /api/v2/alerts and /api/v2/webhooks: envelopes, pagination, validation,
tenancy and scopes (issue #6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError, all_error_classes
from gateway.rest import clickstack
from tests.support import Harness

ALERTS = "/api/v2/alerts"
HOOKS = "/api/v2/webhooks"


def _bearer(key: str, pixel: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if pixel:
        h["x-pixel-id"] = pixel
    return h


def assert_clickstack_error(response: Any, status: int, contains: str | None = None) -> None:
    """ClickStack's error envelope: exactly {"message": str}."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"message"} and isinstance(body["message"], str), body
    if contains is not None:
        assert contains in body["message"], body


async def _hook(h: Harness, key: str, **extra: Any) -> dict[str, Any]:
    r = await h.client.post(HOOKS, json={"name": "ops", "url": "https://example.test/hook",
                                         **extra}, headers=_bearer(key))
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]  # response JSON is Any


def _measure_alert(webhook_id: str, **extra: Any) -> dict[str, Any]:
    return {"source": "measure", "measure": "core.revenue", "threshold": 100,
            "thresholdType": "above", "interval": "1h",
            "channel": {"type": "webhook", "webhookId": webhook_id}, **extra}


async def test_alert_crud_envelopes(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    created = await harness.client.post(ALERTS, json=_measure_alert(
        hook["id"], name="Big day", message="Revenue over 100"), headers=_bearer(key))
    assert created.status_code == 200
    alert = created.json()["data"]
    assert alert["state"] == "OK" and alert["enabled"] is True
    assert alert["channel"] == {"type": "webhook", "webhookId": hook["id"]}
    assert alert["channels"] == [alert["channel"]]
    assert alert["measure"] == "core.revenue" and alert["interval"] == "1h"
    assert alert["executionErrors"] == [] and alert["createdAt"].endswith("Z")
    got = await harness.client.get(f"{ALERTS}/{alert['id']}", headers=_bearer(key))
    assert got.json() == {"data": alert}
    replaced = await harness.client.put(f"{ALERTS}/{alert['id']}", json=_measure_alert(
        hook["id"], threshold=5, thresholdType="below", interval="5m"), headers=_bearer(key))
    body = replaced.json()["data"]
    assert (body["threshold"], body["thresholdType"], body["interval"]) == (5, "below", "5m")
    assert body["name"] is None  # full replace: omitted fields are cleared
    deleted = await harness.client.delete(f"{ALERTS}/{alert['id']}", headers=_bearer(key))
    assert deleted.status_code == 200 and deleted.json() == {}
    assert_clickstack_error(await harness.client.get(f"{ALERTS}/{alert['id']}",
                                                     headers=_bearer(key)), 404, "Alert not found")


async def test_list_is_paginated_with_total_header(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    ids = []
    for _ in range(5):  # oldest first
        harness.clock.advance(seconds=1)
        ids.append((await harness.client.post(ALERTS, json=_measure_alert(hook["id"]),
                                              headers=_bearer(key))).json()["data"]["id"])
    page = await harness.client.get(ALERTS, params={"limit": 2, "offset": 1}, headers=_bearer(key))
    assert page.status_code == 200 and page.headers["x-total-count"] == "5"
    body = page.json()
    assert body["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert [a["id"] for a in body["data"]] == ids[1:3]
    default = (await harness.client.get(ALERTS, headers=_bearer(key))).json()
    assert default["meta"] == {"total": 5, "limit": 1000, "offset": 0}
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        assert_clickstack_error(await harness.client.get(ALERTS, params=params,
                                                         headers=_bearer(key)), 400)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"thresholdType": "sideways"}, "thresholdType"),
    ({"interval": "2h"}, "interval"),
    ({"threshold": "high"}, "threshold"),
    ({"measure": "core.revenu"}, "did you mean core.revenue"),
    ({"channel": {"type": "email"}}, "channel"),
    ({"channel": {"type": "webhook", "webhookId": "nope"}}, "channel.webhookId: Webhook not found"),
    ({"channel": {"type": "webhook", "url": "ftp://x"}}, "channel.url"),
    ({"source": "saved_search"}, "source"),
])
async def test_validation_is_one_message(harness: Harness, change: dict[str, Any],
                                         fragment: str) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    response = await harness.client.post(ALERTS, json={**_measure_alert(hook["id"]), **change},
                                         headers=_bearer(key))
    assert_clickstack_error(response, 400, "Body validation failed: ")
    assert fragment in response.json()["message"]


async def test_tile_alert_and_inline_url(harness: Harness) -> None:
    """An alert on a dashboard widget takes the widget's measure; deleting the view deletes
    its alerts. An inline channel URL works without a webhook resource."""
    key = await harness.mint("alerts:write", "dashboards:write")
    view = (await harness.client.post("/accounts/api/dashboard/views/from-preset", json={
        "name": "v", "widgets": [{"measure": "NC ROAS"}]}, headers=harness.headers(key))).json()
    tile = view["configuration"]["widgets"][0]["id"]
    body = {"source": "tile", "dashboardId": view["id"], "tileId": tile, "threshold": 2,
            "thresholdType": "below", "interval": "1d",
            "channel": {"type": "webhook", "url": "https://example.test/inline"}}
    created = await harness.client.post(ALERTS, json=body, headers=_bearer(key))
    assert created.status_code == 200, created.text
    alert = created.json()["data"]
    assert alert["measure"] == "core.new_customer_roas" and alert["tileId"] == tile
    assert alert["channel"] == {"type": "webhook", "url": "https://example.test/inline"}
    missing_tile = await harness.client.post(ALERTS, json={**body, "tileId": "zzz"},
                                             headers=_bearer(key))
    assert_clickstack_error(missing_tile, 400, "tileId")
    # The widget's measure changes: the alert follows it.
    widgets = [{**view["configuration"]["widgets"][0], "measure": "core.roas",
                "dataConfig": {"measures": ["core.roas"]}}]
    patched = await harness.client.patch(f"/accounts/api/dashboard/views/{view['id']}",
                                         json={"configuration": {"widgets": widgets}},
                                         headers=harness.headers(key))
    assert patched.status_code == 200, patched.text
    followed = await harness.client.get(f"{ALERTS}/{alert['id']}", headers=_bearer(key))
    assert followed.json()["data"]["measure"] == "core.roas"
    # A second alert on a widget that an update removes goes with it.
    second = (await harness.client.post(ALERTS, json=body, headers=_bearer(key))).json()["data"]
    await harness.client.patch(f"/accounts/api/dashboard/views/{view['id']}",
                               json={"configuration": {"widgets": [{"measure": "core.orders"}]}},
                               headers=harness.headers(key))
    assert_clickstack_error(await harness.client.get(f"{ALERTS}/{second['id']}",
                                                     headers=_bearer(key)), 404)
    alert = (await harness.client.post(ALERTS, json={**body, "tileId": (await harness.client.get(
        f"/accounts/api/dashboard/views/{view['id']}", headers=harness.headers(key))).json()[
        "configuration"]["widgets"][0]["id"]}, headers=_bearer(key))).json()["data"]
    await harness.client.delete(f"/accounts/api/dashboard/views/{view['id']}",
                                headers=harness.headers(key))
    assert_clickstack_error(await harness.client.get(f"{ALERTS}/{alert['id']}",
                                                     headers=_bearer(key)), 404)


async def test_webhook_secret_is_write_only_and_in_use_webhook_is_409(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key, secret="s3cret-value-xyz")
    assert hook["hasSecret"] is True and "secret" not in hook
    listed = await harness.client.get(HOOKS, headers=_bearer(key))
    assert "s3cret-value-xyz" not in listed.text and listed.headers["x-total-count"] == "1"
    gql = await harness.graphql("{ webhooks { id hasSecret url } }", key=key)
    assert gql["data"]["webhooks"] == [{"id": hook["id"], "hasSecret": True,
                                        "url": "https://example.test/hook"}]
    alert = (await harness.client.post(ALERTS, json=_measure_alert(hook["id"]),
                                       headers=_bearer(key))).json()["data"]
    assert_clickstack_error(await harness.client.delete(f"{HOOKS}/{hook['id']}",
                                                        headers=_bearer(key)), 409)
    await harness.client.delete(f"{ALERTS}/{alert['id']}", headers=_bearer(key))
    assert (await harness.client.delete(f"{HOOKS}/{hook['id']}", headers=_bearer(key))
            ).json() == {}
    bad = await harness.client.post(HOOKS, json={"name": "x", "url": "https://e.test",
                                                 "secret": "short"}, headers=_bearer(key))
    assert_clickstack_error(bad, 400, "secret")
    assert "short" not in bad.text


async def test_other_pixels_alerts_and_webhooks_are_404(harness: Harness) -> None:
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    alert = (await harness.client.post(ALERTS, json=_measure_alert(hook["id"]),
                                       headers=_bearer(key))).json()["data"]
    other = await harness.create_pixel(name="other")
    stranger = await harness.mint("alerts:write", pixels=[other])
    for response in (
        await harness.client.get(f"{ALERTS}/{alert['id']}", headers=_bearer(stranger)),
        await harness.client.put(f"{ALERTS}/{alert['id']}", json=_measure_alert(hook["id"]),
                                 headers=_bearer(stranger)),
        await harness.client.delete(f"{ALERTS}/{alert['id']}", headers=_bearer(stranger)),
        await harness.client.delete(f"{HOOKS}/{hook['id']}", headers=_bearer(stranger)),
    ):
        assert_clickstack_error(response, 404)
    # Referencing another pixel's webhook is the same 400 as a missing one.
    response = await harness.client.post(ALERTS, json=_measure_alert(hook["id"]),
                                         headers=_bearer(stranger))
    assert_clickstack_error(response, 400, "Webhook not found")
    assert (await harness.client.get(ALERTS, headers=_bearer(stranger))).json()["data"] == []


@pytest.mark.parametrize(("scopes", "method", "status"), [
    (("alerts:read",), "GET", 200),
    (("alerts:read",), "POST", 403),
    (("alerts:write",), "GET", 200),
    (("dashboards:write",), "GET", 403),
])
async def test_scopes(harness: Harness, scopes: tuple[str, ...], method: str,
                      status: int) -> None:
    key = await harness.mint(*scopes)
    response = await harness.client.request(method, ALERTS, headers=_bearer(key),
                                            json={} if method == "POST" else None)
    assert response.status_code == status, response.text
    if status == 403:
        assert_clickstack_error(response, 403, "scope")


async def test_missing_bearer_is_json_401(harness: Harness) -> None:
    assert_clickstack_error(await harness.client.get(ALERTS), 401)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.code)
def test_every_error_renders_on_clickstack(cls: type[GatewayError]) -> None:
    try:
        exc = cls()
    except TypeError:
        exc = cls("scope:x")  # type: ignore[call-arg]  # only the scope errors take an argument
    response = clickstack.surface.error_response(exc)
    assert response.status_code == cls.status
    assert set(orjson.loads(response.body)) == {"message"}


async def test_text_fields_are_bounded(harness: Harness) -> None:
    """issue #10: a 1 MB webhook description (or any over-long webhook or alert text) is a
    400 on that field, on both surfaces, without echoing the value; within the bound the
    description comes back as the string sent (and null when not sent)."""
    key = await harness.mint("alerts:write")
    big = "d" * 1_000_000
    for change, field in (({"name": "n" * 201}, "name"), ({"description": "d" * 2049},
                          "description"), ({"description": big}, "description"),
                          ({"description": 42}, "description"),
                          ({"url": "https://e.test/" + "u" * 2040}, "url"),
                          ({"secret": "s" * 257}, "secret")):
        response = await harness.client.post(HOOKS, json={
            "name": "ops", "url": "https://example.test/hook", **change}, headers=_bearer(key))
        assert_clickstack_error(response, 400, f"{field}: ")
        assert len(response.text) < 300, response.text[:300]
    kept = await _hook(harness, key, description="d" * 2048)
    assert kept["description"] == "d" * 2048
    assert (await _hook(harness, key))["description"] is None
    gql = await harness.graphql("""mutation($d: String) { createWebhook(input: {name: "w",
        url: "https://example.test/h", description: $d}) { id } }""", {"d": "d" * 2049},
                                key=key)
    assert gql["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert gql["errors"][0]["extensions"]["details"][0]["path"] == ["description"]

    for change, field in (({"name": "n" * 513}, "name"), ({"message": "m" * 4097}, "message"),
                          ({"measure": "m" * 1_000_000}, "measure"),
                          ({"channel": {"type": "webhook", "webhookId": "w" * 100_000}},
                           "channel.webhookId"),
                          ({"source": "tile", "measure": None, "dashboardId": "v" * 100_000,
                            "tileId": "t"}, "dashboardId"),
                          ({"source": "tile", "measure": None, "dashboardId": "v",
                            "tileId": "t" * 100_000}, "tileId")):
        response = await harness.client.post(ALERTS, json={**_measure_alert(kept["id"]),
                                                           **change}, headers=_bearer(key))
        assert_clickstack_error(response, 400, f"{field}: ")
        assert len(response.text) < 300, response.text[:300]
async def test_alert_bodies_refuse_unknown_fields_and_take_their_own_echo(
        harness: Harness) -> None:
    """Rule (issue #10): an alert body refuses fields the spec does not define; a GET body
    PUT back unchanged is accepted (the spec's stated intent for channel/channels); spec
    fields we do not implement pass only with the value that means what we do."""
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key)
    assert_clickstack_error(await harness.client.post(
        ALERTS, json=_measure_alert(hook["id"], treshold=5), headers=_bearer(key)),
        400, "treshold: unknown field")
    alert = (await harness.client.post(ALERTS, json=_measure_alert(
        hook["id"], note=None, numConsecutiveWindows=1, scheduleOffsetMinutes=0),
        headers=_bearer(key))).json()["data"]
    echoed = await harness.client.put(f"{ALERTS}/{alert['id']}", json=alert,
                                      headers=_bearer(key))
    assert echoed.status_code == 200, echoed.text
    assert {k: v for k, v in echoed.json()["data"].items() if k != "updatedAt"} == {
        k: v for k, v in alert.items() if k != "updatedAt"}
    for extra, message in (
            ({"thresholdMax": 200}, "thresholdMax is not supported"),
            ({"numConsecutiveWindows": 3}, "numConsecutiveWindows is not supported"),
            ({"note": "runbook: …"}, "note is not supported"),
            ({"channels": [alert["channel"], {"type": "webhook", "webhookId": "other"}]},
             "one channel per alert"),
            ({"channels": [{"type": "webhook", "webhookId": "other"}]},
             "channel must equal channels[0]"),
            ({"channel": {**alert["channel"], "priority": "high"}},
             "channel.priority: unknown field")):
        response = await harness.client.put(f"{ALERTS}/{alert['id']}",
                                            json={**alert, **extra}, headers=_bearer(key))
        assert_clickstack_error(response, 400, message)
    reader = await harness.mint("alerts:read")
    assert_clickstack_error(await harness.client.put(
        f"{ALERTS}/{alert['id']}", json={**alert, "bogus": 1}, headers=_bearer(reader)), 403)


async def test_webhook_bodies_refuse_unknown_fields_and_take_their_own_echo(
        harness: Harness) -> None:
    """Rule (issue #10): as for alerts; the spec's templated request (body, headers,
    queryParams) is refused unless empty, and a description is at most 2,048 characters."""
    key = await harness.mint("alerts:write")
    hook = await _hook(harness, key, secret="s3cret-value-xyz", description="ops")
    assert_clickstack_error(await harness.client.post(
        HOOKS, json={"name": "x", "url": "https://e.test", "sevice": "slack"},
        headers=_bearer(key)), 400, "sevice: unknown field")
    echoed = await harness.client.put(f"{HOOKS}/{hook['id']}", json={**hook, "headers": {}},
                                      headers=_bearer(key))
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["data"]["hasSecret"] is True  # no `secret` sent: kept
    for extra, message in (({"headers": {"Authorization": "Bearer t"}}, "headers"),
                           ({"body": "{{title}}"}, "body"),
                           ({"description": "d" * 2049}, "description")):
        assert_clickstack_error(await harness.client.put(
            f"{HOOKS}/{hook['id']}", json={**hook, **extra}, headers=_bearer(key)), 400,
            message)
