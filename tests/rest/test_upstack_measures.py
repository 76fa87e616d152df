"""GET /db-mgmt/api/measures: the ungated catalog and the authentication rules (issue #2);
the body encoded once per catalog listing (issue #11)."""

from __future__ import annotations

import orjson
import pytest

from gateway.auth.keys import mint_key
from gateway.catalog import CATALOG, Aggregate, Catalog, MeasureDefinition
from gateway.rest.upstack.measures import CatalogBodies, measures_body
from gateway.types.measure import Measure
from tests.support import Harness, assert_upstack_error

PATH = "/db-mgmt/api/measures"


async def test_catalog_readable_by_events_only_key(harness: Harness) -> None:
    """The catalog is ungated: a key holding only events:write reads it."""
    key = await harness.mint("events:write")
    response = await harness.client.get(PATH, headers=harness.headers(key, harness.pixel_id))
    assert response.status_code == 200
    measures = response.json()["measures"]
    assert len(measures) == len(CATALOG) >= 30
    first = measures[0]
    assert first["id"] == first["key"] == "core.revenue"
    assert first["format"] == "Currency"
    assert {"title", "description", "category", "unit", "isAverage", "isPercentage",
            "preferredTrendDirection", "hasPacing"} <= set(first)


async def test_catalog_without_pixel_header_for_single_pixel_key(harness: Harness) -> None:
    key = await harness.mint("events:write")
    response = await harness.client.get(PATH, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


async def test_search_and_category(harness: Harness) -> None:
    key = await harness.mint("analytics:read")
    h = harness.headers(key)
    by_cat = (await harness.client.get(PATH, params={"category": "meta"}, headers=h)).json()
    assert by_cat["measures"] and {m["category"] for m in by_cat["measures"]} == {"meta"}
    found = (await harness.client.get(PATH, params={"search": "roas"}, headers=h)).json()
    keys = {m["key"] for m in found["measures"]}
    assert {"core.roas", "core.new_customer_roas", "meta.roas"} <= keys
    assert all("roas" in (m["key"] + m["title"] + m["description"]).lower()
               or any("roas" in s.lower() for s in m["synonyms"]) for m in found["measures"])


async def test_no_key_is_401(harness: Harness) -> None:
    assert_upstack_error(await harness.client.get(PATH), 401, message="Missing API key")


@pytest.mark.parametrize("bad", ["upstack_nope", "sk_live_123", "upstack_" + "A" * 40])
async def test_malformed_key_is_401(harness: Harness, bad: str) -> None:
    assert_upstack_error(await harness.client.get(PATH, headers={"x-api-key": bad}), 401,
                         message="Invalid API key")


async def test_unknown_well_formed_key_is_401(harness: Harness) -> None:
    """Right shape and checksum, but never issued here (minted under another secret)."""
    stranger = mint_key("upstack_", "some other server secret").secret
    assert_upstack_error(await harness.client.get(PATH, headers={"x-api-key": stranger}), 401,
                         message="Invalid API key")


async def test_key_of_another_pixel_is_401(harness: Harness) -> None:
    """A pixel the key cannot reach: its own org's other pixel, or another org's pixel."""
    key = await harness.mint("analytics:read")
    sibling = await harness.create_pixel(name="other site")
    other_org = await harness.create_organization("Other")
    foreign = await harness.create_pixel(other_org, name="their site")
    for pixel in (sibling, foreign, "not-a-uuid"):
        response = await harness.client.get(PATH, headers=harness.headers(key, pixel))
        assert_upstack_error(response, 401, message="cannot access")


async def test_all_pixel_key_cannot_reach_other_organization(harness: Harness) -> None:
    key = await harness.mint("analytics:read", pixels=None)
    other_org = await harness.create_organization("Other")
    foreign = await harness.create_pixel(other_org)
    ok = await harness.client.get(PATH, headers=harness.headers(key, harness.pixel_id))
    assert ok.status_code == 200
    assert_upstack_error(await harness.client.get(PATH, headers=harness.headers(key, foreign)),
                         401)


async def test_expired_key_is_401(harness: Harness) -> None:
    from datetime import timedelta

    key = await harness.mint("analytics:read", expires_at=harness.clock() + timedelta(hours=1))
    assert (await harness.client.get(PATH, headers=harness.headers(key))).status_code == 200
    harness.clock.advance(hours=1)
    assert_upstack_error(await harness.client.get(PATH, headers=harness.headers(key)), 401,
                         message="expired")


async def test_encoded_once_and_still_checked_on_every_request(harness: Harness) -> None:
    """The route serves the catalog body encoded once per listing, byte for byte what
    shaping it per request gives, and still checks the credential on every request: a
    revoked key is refused with the body cached (issue #11)."""
    admin = await harness.mint("keys:admin")
    key = await harness.mint("events:write")
    h = harness.headers(key)
    for params in ({}, {"category": "web"}, {"search": "roas"}, {"search": "no such thing"}):
        first = await harness.client.get(PATH, params=params, headers=h)
        again = await harness.client.get(PATH, params=params, headers=h)
        defs = CATALOG.listing(params.get("category"), params.get("search"))
        shaped = measures_body([Measure.from_definition(d) for d in defs])
        assert first.content == again.content == orjson.dumps(shaped)
        assert first.headers["content-type"] == "application/json"
    keys = (await harness.graphql("{ apiKeys { id prefix start } }", key=admin))["data"]
    key_id = next(k["id"] for k in keys["apiKeys"] if key.startswith(k["prefix"] + k["start"]))
    revoked = await harness.graphql("mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
                                    {"id": key_id}, key=admin)
    assert revoked["data"]["revokeApiKey"]["status"] == "REVOKED"
    assert_upstack_error(await harness.client.get(PATH, headers=h), 401,
                         message="API key has been revoked")


def test_bodies_are_keyed_by_the_catalog_listing() -> None:
    """A listing is one object per catalog and arguments, and its body is cached by that
    identity: another catalog (per pixel, once custom measures exist) gets its own body,
    never another's (issue #11)."""
    listing = CATALOG.listing()
    assert CATALOG.listing() is listing and CATALOG.listing("web") is CATALOG.listing("web")
    custom = MeasureDefinition("custom.orders", "Custom orders", "Orders, again.", "orders",
                               "number", Aggregate("count", ("purchase",)))
    other = Catalog([*CATALOG, custom])
    assert other.listing() is not listing
    bodies = CatalogBodies()
    ours = bodies.encoded(Measure.listing(listing))
    theirs = bodies.encoded(Measure.listing(other.listing()))
    assert ours is bodies.encoded(Measure.listing(CATALOG.listing()))
    assert b"custom.orders" in theirs and b"custom.orders" not in ours
    assert orjson.loads(theirs)["measures"][:-1] == orjson.loads(ours)["measures"]


async def test_a_repeated_credential_header_counts_once_first_wins(harness: Harness) -> None:
    """Headers are read once per request (gateway/context.py); a repeated header answers
    with its first value, as before: the first `x-api-key` decides (issue #11)."""
    good = await harness.mint("events:write")
    bad = "upstack_" + "A" * 40
    first_good = await harness.client.get(PATH, headers=[("x-api-key", good),
                                                         ("x-api-key", bad)])
    assert first_good.status_code == 200
    assert_upstack_error(await harness.client.get(PATH, headers=[("x-api-key", bad),
                                                                 ("x-api-key", good)]),
                         401, message="Invalid API key")
