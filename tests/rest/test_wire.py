"""REST timestamps have one home, `gateway/rest/wire.py` (issue #11): each surface keeps the
spelling its clients know, and the same instant reads the same wherever a spelling is used."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.rest.wire import iso_offset, iso_z
from tests.support import Harness
from tests.support_alerts import Dns

AT = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_two_spellings() -> None:
    assert iso_z(AT) == "2026-11-20T12:00:00.123Z"
    assert iso_offset(AT) == "2026-11-20T12:00:00.123456+00:00"
    assert iso_offset(None) is None


async def test_every_surface_spells_its_instants_from_the_one_home(harness: Harness,
                                                                   dns: Dns) -> None:
    """Upstack views and ClickStack alerts and webhooks: UTC milliseconds with Z; Upstack
    keys: the stored instant's isoformat, as shipped."""
    harness.clock.now = AT
    dns.names["hooks.example.com"] = ["93.184.216.34"]
    admin = harness.headers(await harness.mint("keys:admin", "dashboards:write", "alerts:write"),
                            harness.pixel_id)
    key = await harness.client.post("/accounts/api/api-keys", headers=admin, json={
        "name": "etl", "scopes": ["alerts:read"], "pixelIds": [harness.pixel_id]})
    assert key.status_code == 201, key.text
    k = key.json()["apiKey"]
    assert (k["createdAt"], k["updatedAt"], k["lastUsedAt"]) == (iso_offset(AT),) * 2 + (None,)

    view = await harness.client.post("/accounts/api/dashboard/views", headers=admin, json={
        "name": "v", "configuration": {"widgets": [{"measure": "core.orders"}]}})
    assert view.status_code == 200, view.text
    assert view.json()["createdAt"] == view.json()["updatedAt"] == iso_z(AT)

    hook = await harness.client.post("/api/v2/webhooks", headers=admin, json={
        "name": "ops", "url": "https://hooks.example.com/in"})
    assert hook.status_code == 200, hook.text
    assert hook.json()["data"]["createdAt"] == iso_z(AT)
    alert = await harness.client.post("/api/v2/alerts", headers=admin, json={
        "source": "measure", "measure": "core.revenue", "threshold": 1, "thresholdType": "above",
        "interval": "1h", "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]}})
    assert alert.status_code == 200, alert.text
    assert alert.json()["data"]["createdAt"] == alert.json()["data"]["updatedAt"] == iso_z(AT)
