"""API key lifecycle through GraphQL: create, list/get, rotate, revoke, update, status,
lastUsedAt, and no privilege escalation through key management (issue #3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support import Harness, assert_graphql_error
from tests.support_auth import flush_background

KEY_FIELDS = ("id name prefix start scopes pixelIds rateTier createdAt createdBy lastUsedAt "
              "expiresAt revokedAt status")
CREATE = ("mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) "
          "{ secret key { " + KEY_FIELDS + " } } }")
ROTATE = "mutation($id: ID!) { rotateApiKey(id: $id) { secret key { id start status } } }"
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id status revokedAt } }"
UPDATE = ("mutation($id: ID!, $input: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $input)"
          " { " + KEY_FIELDS + " } }")
GET = "query($id: ID!) { apiKey(id: $id) { " + KEY_FIELDS + " } }"
PIXELS = "{ pixels { id } }"


async def _create(h: Harness, admin: str, **input: object) -> dict[str, object]:
    body = await h.graphql(CREATE, {"input": {"name": "ci", "scopes": ["analytics:read"],
                                              "pixelIds": [h.pixel_id], **input}}, key=admin)
    assert "errors" not in body, body
    created: dict[str, object] = body["data"]["createApiKey"]
    return created


async def test_create_shows_secret_once_then_prefix_and_start(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    created = await _create(harness, admin, scopes=["read:data"])
    key = created["key"]
    assert isinstance(created["secret"], str) and created["secret"].startswith("upstack_")
    assert key["scopes"] == ["analytics:read"]  # alias reported canonically
    assert key["status"] == "ACTIVE" and key["pixelIds"] == [harness.pixel_id]
    assert created["secret"].startswith(key["prefix"] + key["start"])
    listed = await harness.graphql("{ apiKeys { id start } }", key=admin)
    assert created["secret"] not in str(listed)
    got = await harness.graphql(GET, {"id": key["id"]}, key=admin)
    assert got["data"]["apiKey"] == key


async def test_rotate_keeps_key_and_old_secret_stops_at_once(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    created = await _create(harness, admin)
    old = str(created["secret"])
    assert "errors" not in await harness.graphql(PIXELS, key=old)  # now cached
    rotated = await harness.graphql(ROTATE, {"id": created["key"]["id"]}, key=admin)
    new = rotated["data"]["rotateApiKey"]
    assert new["key"]["id"] == created["key"]["id"] and new["secret"] != old
    assert_graphql_error(await harness.graphql(PIXELS, key=old), "INVALID_API_KEY")
    assert "errors" not in await harness.graphql(PIXELS, key=new["secret"])


async def test_revoke_is_immediate_and_final(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    created = await _create(harness, admin)
    secret, key_id = str(created["secret"]), created["key"]["id"]
    assert "errors" not in await harness.graphql(PIXELS, key=secret)
    revoked = await harness.graphql(REVOKE, {"id": key_id}, key=admin)
    assert revoked["data"]["revokeApiKey"]["status"] == "REVOKED"
    assert_graphql_error(await harness.graphql(PIXELS, key=secret), "INVALID_API_KEY")
    assert_graphql_error(await harness.graphql(ROTATE, {"id": key_id}, key=admin), "CONFLICT")
    assert_graphql_error(await harness.graphql(UPDATE, {"id": key_id, "input": {
        "expiresAt": None}}, key=admin), "CONFLICT")
    again = await harness.graphql(REVOKE, {"id": key_id}, key=admin)
    assert again["data"]["revokeApiKey"]["status"] == "REVOKED"


async def test_update_narrows_on_the_next_request(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read", "dashboards:write")
    created = await _create(harness, admin, scopes=["keys:read", "analytics:read"], name="x")
    secret, key_id = str(created["secret"]), created["key"]["id"]
    assert "errors" not in await harness.graphql("{ apiKeys { id } }", key=secret)
    updated = await harness.graphql(UPDATE, {"id": key_id, "input": {
        "name": "renamed", "scopes": ["analytics:read"]}}, key=admin)
    key = updated["data"]["updateApiKey"]
    assert key["name"] == "renamed" and key["scopes"] == ["analytics:read"]
    assert_graphql_error(await harness.graphql("{ apiKeys { id } }", key=secret),
                         "INSUFFICIENT_SCOPE")


async def test_expiry_takes_effect_on_the_next_request(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    expires = harness.clock() + timedelta(hours=1)
    created = await _create(harness, admin, expiresAt=expires.isoformat())
    secret = str(created["secret"])
    assert "errors" not in await harness.graphql(PIXELS, key=secret)
    harness.clock.advance(hours=1)
    assert_graphql_error(await harness.graphql(PIXELS, key=secret), "INVALID_API_KEY")
    got = await harness.graphql(GET, {"id": created["key"]["id"]}, key=admin)
    assert got["data"]["apiKey"]["status"] == "EXPIRED"


async def test_last_used_at_is_written_in_the_background(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    created = await _create(harness, admin)
    assert created["key"]["lastUsedAt"] is None
    harness.clock.advance(minutes=3)
    await harness.graphql(PIXELS, key=str(created["secret"]))
    await flush_background(harness)
    got = await harness.graphql(GET, {"id": created["key"]["id"]}, key=admin)
    assert got["data"]["apiKey"]["lastUsedAt"] == harness.clock().isoformat()


async def test_another_organizations_key_is_not_found(harness: Harness) -> None:
    other_org = await harness.create_organization("Other")
    await harness.create_pixel(other_org)
    theirs = await harness.mint("keys:admin", "analytics:read", organization_id=other_org,
                                pixels=None)
    mine = await _create(harness, await harness.mint("keys:admin", "analytics:read"))
    key_id = mine["key"]["id"]
    for query, variables in ((GET, {"id": key_id}), (ROTATE, {"id": key_id}),
                             (REVOKE, {"id": key_id}),
                             (UPDATE, {"id": key_id, "input": {"name": "x"}})):
        assert_graphql_error(await harness.graphql(query, variables, key=theirs), "NOT_FOUND")
    listed = await harness.graphql("{ apiKeys { id } }", key=theirs)
    assert key_id not in str(listed)


# (holder's scopes, holder's pixels, request) -> must be refused with INSUFFICIENT_SCOPE
ESCALATIONS = [
    pytest.param(CREATE, {"input": {"name": "x", "scopes": ["dashboards:write"],
                                    "pixelIds": "PIXEL"}}, id="create-wider-scope"),
    pytest.param(CREATE, {"input": {"name": "x", "scopes": ["admin:users"],
                                    "pixelIds": "PIXEL"}}, id="create-alias-of-wider-scope"),
    pytest.param(CREATE, {"input": {"name": "x", "scopes": ["analytics:read"],
                                    "pixelIds": None}}, id="create-every-pixel"),
]


@pytest.mark.parametrize(("query", "variables"), ESCALATIONS)
async def test_no_escalation_on_create(harness: Harness, query: str,
                                       variables: dict[str, object]) -> None:
    """A key admin restricted to one pixel and analytics:read cannot mint more (issue #3)."""
    holder = await harness.mint("keys:admin", "analytics:read")
    if variables["input"].get("pixelIds") == "PIXEL":  # type: ignore[attr-defined]  # the input is a dict in every param
        variables = {"input": {**variables["input"], "pixelIds": [harness.pixel_id]}}  # type: ignore[dict-item]  # the input is a dict in every param
    assert_graphql_error(await harness.graphql(query, variables, key=holder),
                         "INSUFFICIENT_SCOPE")


async def test_no_escalation_on_update_or_rotate(harness: Harness) -> None:
    """Nobody widens a key beyond themselves, nor rotates a key holding more than they do; a
    key reaching pixels the caller does not is invisible, for revocation too (issue #10)."""
    other_pixel = await harness.create_pixel(name="second")
    holder = await harness.mint("keys:admin", "analytics:read")
    mine = await _create(harness, holder)
    await harness.mint("dashboards:write", pixels=None)  # every pixel: beyond the holder
    await harness.mint("dashboards:write")  # the holder's pixel, scopes beyond the holder
    operator = await harness.mint("keys:read", pixels=None)
    listed = (await harness.graphql("{ apiKeys { id scopes pixelIds } }", key=operator))
    wider_id = next(k["id"] for k in listed["data"]["apiKeys"]
                    if k["scopes"] == ["dashboards:write"] and k["pixelIds"] is None)
    richer_id = next(k["id"] for k in listed["data"]["apiKeys"]
                     if k["scopes"] == ["dashboards:write"] and k["pixelIds"] is not None)
    seen = (await harness.graphql("{ apiKeys { id } }", key=holder))["data"]["apiKeys"]
    assert wider_id not in {k["id"] for k in seen} and richer_id in {k["id"] for k in seen}
    refused = [
        (UPDATE, {"id": mine["key"]["id"], "input": {"scopes": ["dashboards:read"]}}),
        (UPDATE, {"id": mine["key"]["id"], "input": {"pixelIds": [other_pixel]}}),
        (UPDATE, {"id": mine["key"]["id"], "input": {"pixelIds": None}}),
        (ROTATE, {"id": richer_id}),
        (UPDATE, {"id": richer_id, "input": {"name": "mine now"}}),
    ]
    for query, variables in refused:
        assert_graphql_error(await harness.graphql(query, variables, key=holder),
                             "INSUFFICIENT_SCOPE")
    for query, variables in [(GET, {"id": wider_id}), (ROTATE, {"id": wider_id}),
                             (UPDATE, {"id": wider_id, "input": {"name": "mine now"}}),
                             (REVOKE, {"id": wider_id})]:
        assert_graphql_error(await harness.graphql(query, variables, key=holder), "NOT_FOUND")
    # Revoking only takes power away: allowed on a key within the caller's pixel reach even
    # when it holds more scopes.
    revoked = await harness.graphql(REVOKE, {"id": richer_id}, key=holder)
    assert revoked["data"]["revokeApiKey"]["status"] == "REVOKED"


async def test_unknown_scope_is_a_field_error(harness: Harness) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    body = await harness.graphql(CREATE, {"input": {"name": "x", "scopes": ["write:otel"]}},
                                 key=admin)
    assert_graphql_error(body, "INVALID_INPUT")
    assert body["errors"][0]["extensions"]["details"][0]["key"] == "scopes.0"


async def test_key_name_is_bounded_on_graphql_too(harness: Harness) -> None:
    """Rule (issue #10): one bound, in the service: at most 200 characters, and at most 64
    scopes and 1,000 pixels (a huge pixel list was a database error)."""
    admin = await harness.mint("keys:admin", "analytics:read")
    base = {"name": "ci", "scopes": ["analytics:read"], "pixelIds": [harness.pixel_id]}
    for bad, field in (({"name": "n" * 201}, "name"), ({"scopes": ["analytics:read"] * 65},
                                                       "scopes"),
                       ({"pixelIds": [harness.pixel_id] * 1001}, "pixelIds")):
        body = await harness.graphql(CREATE, {"input": {**base, **bad}}, key=admin)
        assert_graphql_error(body, "INVALID_INPUT")
        assert body["errors"][0]["extensions"]["details"][0]["path"] == [field]
