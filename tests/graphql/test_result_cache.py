"""The pure-field result cache never changes who may read what (issue #2)."""

from __future__ import annotations

from tests.support import Harness, assert_graphql_error

QUERY = "{ measures(category: \"web\") { key title } }"


async def test_repeated_catalog_query_is_a_cache_hit(harness: Harness) -> None:
    store = harness.state.schema.result_store
    key = await harness.mint("events:write")
    first = await harness.graphql(QUERY, key=key)
    hits = store.hits
    second = await harness.graphql(QUERY, key=key)
    assert store.hits == hits + 1
    assert first == second and first["data"]["measures"]


async def test_cached_result_still_requires_a_valid_key(harness: Harness) -> None:
    key = await harness.mint("events:write")
    await harness.graphql(QUERY, key=key)
    await harness.graphql(QUERY, key=key)
    assert_graphql_error(await harness.graphql(QUERY), "AUTH_REQUIRED")
    assert_graphql_error(await harness.graphql(QUERY, key="upstack_forged"), "INVALID_API_KEY")


async def test_variables_and_non_pure_fields_are_not_conflated(harness: Harness) -> None:
    store = harness.state.schema.result_store
    q = "query($c: String) { measures(category: $c) { category } }"
    a = await harness.graphql(q, {"c": "meta"}, key=await harness.mint("events:write"))
    b = await harness.graphql(q, {"c": "google"}, key=await harness.mint("events:write"))
    assert {m["category"] for m in a["data"]["measures"]} == {"meta"}
    assert {m["category"] for m in b["data"]["measures"]} == {"google"}
    # viewer is per credential: an operation selecting it is never served from the cache.
    misses = store.misses
    v = "{ viewer { keyId } measures { key } }"
    one = await harness.graphql(v, key=await harness.mint("events:write", name="one"))
    two = await harness.graphql(v, key=await harness.mint("events:write", name="two"))
    assert one["data"]["viewer"]["keyId"] != two["data"]["viewer"]["keyId"]
    assert store.misses == misses
