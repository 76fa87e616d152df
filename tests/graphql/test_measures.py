"""GraphQL catalog fields, scopes and federation (issue #2)."""

from __future__ import annotations

from sqlalchemy import update

from gateway.storage.models import ApiKeyRow
from tests.support import Harness, assert_graphql_error


async def test_measures_and_lookup_by_title(harness: Harness) -> None:
    key = await harness.mint("events:write")
    body = await harness.graphql(
        """{ measures(category: "core") { key title format isAverage preferredTrendDirection }
             byKey: measure(key: "core.new_customer_roas") { key title }
             byTitle: measure(key: "nc roas") { key }
             bySynonym: measure(key: "average order value") { key }
             missing: measure(key: "core.nope") { key } }""", key=key)
    assert "errors" not in body, body
    data = body["data"]
    assert data["measures"] and all(m["key"].startswith("core.") for m in data["measures"])
    assert data["byKey"] == {"key": "core.new_customer_roas", "title": "NC ROAS"}
    assert data["byTitle"] == {"key": "core.new_customer_roas"}
    assert data["bySynonym"] == {"key": "core.aov"}
    assert data["missing"] is None


async def test_no_key_is_auth_required(harness: Harness) -> None:
    body = await harness.graphql("{ measures { key } }")
    assert_graphql_error(body, "AUTH_REQUIRED", path=["measures"])


async def test_bad_key_never_degrades_to_anonymous(harness: Harness) -> None:
    body = await harness.graphql("{ measures { key } }", key="upstack_bogus")
    assert_graphql_error(body, "INVALID_API_KEY")


async def test_key_of_another_pixel(harness: Harness) -> None:
    key = await harness.mint("analytics:read")
    other = await harness.create_pixel(name="elsewhere")
    body = await harness.graphql("{ measures { key } }", key=key, pixel=other)
    assert_graphql_error(body, "ACCESS_DENIED")


async def test_gated_field_without_scope_is_403_code(harness: Harness) -> None:
    key = await harness.mint("events:write")
    body = await harness.graphql("{ apiKeys { id } }", key=key)
    assert_graphql_error(body, "INSUFFICIENT_SCOPE", path=["apiKeys"])
    assert body["errors"][0]["extensions"]["scope"] == "keys:read"


async def test_legacy_scope_expands_at_request_time(harness: Harness) -> None:
    """A key stored before the rename (scopes ["db_query"]) acts as analytics:read."""
    key = await harness.mint("events:write", name="legacy")
    async with harness.state.db.session() as session:
        await session.execute(update(ApiKeyRow).where(ApiKeyRow.name == "legacy")
                              .values(scopes=["db_query", "attribution_query"]))
        await session.commit()
    harness.state.key_cache.clear()
    body = await harness.graphql("{ viewer { scopes pixel { id } } }", key=key)
    assert body["data"]["viewer"]["scopes"] == ["analytics:read"]
    assert body["data"]["viewer"]["pixel"]["id"] == harness.pixel_id


async def test_federation_entities_and_service(harness: Harness) -> None:
    key = await harness.mint("events:write")
    body = await harness.graphql(
        """query($r: [_Any!]!) { _entities(representations: $r) { ... on Measure { key title } }
                                 _service { sdl } }""",
        {"r": [{"__typename": "Measure", "key": "core.aov"},
               {"__typename": "Measure", "key": "core.nope"}]}, key=key)
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [{"key": "core.aov", "title": "Average Order Value"}, None]
    assert '@key(fields: "key")' in body["data"]["_service"]["sdl"]


async def test_graphiql_served_to_browsers(harness: Harness) -> None:
    response = await harness.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()
