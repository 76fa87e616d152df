"""API key lifecycle on the Upstack surface: `/accounts/api/api-keys` (issue #3)."""

from __future__ import annotations

from tests.support import Harness, assert_upstack_error

BASE = "/accounts/api/api-keys"


async def test_key_lifecycle_over_rest(harness: Harness) -> None:
    admin = harness.headers(await harness.mint("keys:admin", "analytics:read",
                                               rate_tier="premium"))
    made = await harness.client.post(BASE, headers=admin, json={
        "name": "etl", "scopes": ["db_query"], "pixelIds": [harness.pixel_id],
        "expiresAt": "2027-01-01T00:00:00Z", "rateTier": "premium"})
    assert made.status_code == 201, made.text
    body = made.json()
    secret, key = body["key"], body["apiKey"]
    assert key["scopes"] == ["analytics:read"] and key["status"] == "active"
    assert key["rateTier"] == "premium" and key["expiresAt"].startswith("2027-01-01")
    assert set(key) >= {"prefix", "start", "createdAt", "createdBy", "lastUsedAt", "revokedAt"}

    listed = await harness.client.get(BASE, headers=admin)
    assert secret not in listed.text and key["id"] in listed.text
    got = await harness.client.get(f"{BASE}/{key['id']}", headers=admin)
    assert got.json()["apiKey"] == key

    patched = await harness.client.patch(f"{BASE}/{key['id']}", headers=admin,
                                         json={"name": "etl-2", "expiresAt": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["apiKey"]["name"] == "etl-2"
    assert patched.json()["apiKey"]["expiresAt"] is None

    rotated = await harness.client.post(f"{BASE}/{key['id']}/rotate", headers=admin)
    new_secret = rotated.json()["key"]
    assert rotated.json()["apiKey"]["id"] == key["id"] and new_secret != secret
    assert_upstack_error(await harness.client.get("/db-mgmt/api/measures",
                                                  headers=harness.headers(secret)), 401)
    ok = await harness.client.get("/db-mgmt/api/measures", headers=harness.headers(new_secret))
    assert ok.status_code == 200

    revoked = await harness.client.post(f"{BASE}/{key['id']}/revoke", headers=admin)
    assert revoked.json()["apiKey"]["status"] == "revoked"
    assert_upstack_error(await harness.client.get("/db-mgmt/api/measures",
                                                  headers=harness.headers(new_secret)), 401,
                         message="revoked")
    assert_upstack_error(await harness.client.post(f"{BASE}/{key['id']}/rotate", headers=admin),
                         409)


async def test_rest_key_errors(harness: Harness) -> None:
    admin = harness.headers(await harness.mint("keys:admin", "analytics:read"))
    assert_upstack_error(await harness.client.get(f"{BASE}/nope", headers=admin), 404)
    bad = await harness.client.post(BASE, headers=admin, json={
        "name": "x", "scopes": ["analytics:read"], "pixelIds": [harness.pixel_id],
        "expiresAt": "tomorrow"})
    assert_upstack_error(bad, 400, fields=["expiresAt"])
    wider = await harness.client.post(BASE, headers=admin, json={
        "name": "x", "scopes": ["analytics:read"]})  # every pixel: more than the admin has
    assert_upstack_error(wider, 403)
    reader = harness.headers(await harness.mint("keys:read"))
    assert_upstack_error(await harness.client.post(BASE, headers=reader, json={
        "name": "x", "scopes": ["keys:read"]}), 403, message="keys:admin")


async def test_key_bodies_refuse_unknown_fields_and_bound_the_name(harness: Harness) -> None:
    """Rule (issue #10): key bodies refuse fields they do not define (a read-only `status`
    in a PATCH does not silently do nothing), and the name is at most 200 characters (a
    1 MB name was accepted)."""
    admin = harness.headers(await harness.mint("keys:admin", "analytics:read"))
    base = {"name": "etl", "scopes": ["analytics:read"], "pixelIds": [harness.pixel_id]}
    assert_upstack_error(await harness.client.post(BASE, headers=admin,
                                                   json={**base, "expires": "2027-01-01"}),
                         400, fields=["expires"])
    for name in ("n" * 201, "n" * 1_000_000):
        assert_upstack_error(await harness.client.post(BASE, headers=admin,
                                                       json={**base, "name": name}),
                             400, fields=["name"])
    made = await harness.client.post(BASE, headers=admin, json={**base, "name": "n" * 200})
    assert made.status_code == 201, made.text
    key_id = made.json()["apiKey"]["id"]
    assert_upstack_error(await harness.client.patch(f"{BASE}/{key_id}", headers=admin,
                                                    json={"status": "revoked"}),
                         400, fields=["status"])
    assert_upstack_error(await harness.client.patch(f"{BASE}/{key_id}", headers=admin,
                                                    json={"name": "x" * 201}),
                         400, fields=["name"])
    got = (await harness.client.get(f"{BASE}/{key_id}", headers=admin)).json()["apiKey"]
    assert got["status"] == "active" and got["name"] == "n" * 200
    reader = harness.headers(await harness.mint("keys:read"))
    assert_upstack_error(await harness.client.post(BASE, headers=reader,
                                                   json={**base, "bogus": 1}), 403)
