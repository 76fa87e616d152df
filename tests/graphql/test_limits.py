"""GraphQL documents cost time linear in their size and bounded memory (issue #10): depth and
alias limits that measure each fragment once, a size limit before parsing, caches bounded in
bytes, coded errors for documents nested too deeply, and introspection for anonymous callers
as a setting."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

import httpx
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from strawberry.extensions.max_aliases import count_fields_with_alias
from strawberry.extensions.query_depth_limiter import determine_depth

from gateway.graphql_documents import BYTES_PER_TOKEN, ENTRY_OVERHEAD
from gateway.graphql_limits import measure_document
from gateway.settings import Settings
from tests.support import Clock, Harness, assert_graphql_error
from tests.support import open_harness as open_app


def fan_out(levels: int, leaf: str = "__typename") -> str:
    """`Fi` spreads `F(i+1)` twice: 2^levels expansions for a limiter that re-walks spreads."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "query { ...F0 }\n" + "\n".join(fragments)


def chain(length: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length)]
    fragments.append(f"fragment F{length} on Query {{ __typename }}")
    return "query { ...F0 }\n" + "\n".join(fragments)


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def open_harness(settings: Settings, clock: Clock) -> AbstractAsyncContextManager[Harness]:
    """The conftest harness, for settings other than the defaults."""
    return open_app(settings, clock, tenant=True)


# Depth and aliases, linear in the document


async def test_thirty_level_fragment_fan_out_is_answered_in_milliseconds(harness: Harness) -> None:
    """Rule: validation is linear in the document; 2^30 expansions are never walked (issue #10).
    The fan-out itself is harmless (one field), so it is answered, quickly; with an aliased leaf
    the aliases multiply past the bound and it is refused, as quickly."""
    started = time.perf_counter()
    body = await harness.graphql(fan_out(30))
    assert time.perf_counter() - started < 0.5
    assert body == {"data": {"__typename": "Query"}}

    started = time.perf_counter()
    body = await harness.graphql(fan_out(30, leaf="a: __typename"))
    assert time.perf_counter() - started < 0.5
    assert_graphql_error(body, "QUERY_TOO_LARGE")
    assert body["errors"][0]["message"] == f"{2 ** 30} aliases found. Allowed: 30"


async def test_aliases_are_counted_through_fragment_spreads(harness: Harness) -> None:
    """Rule: at most 30 aliases, a fragment's aliases counted at every spread of it
    (issue #10). 4 aliases x 2^3 spreads = 32 is refused; x 2^2 = 16 is answered."""
    leaf = "a: __typename b: __typename c: __typename d: __typename"
    body = await harness.graphql(fan_out(3, leaf=leaf))
    assert_graphql_error(body, "QUERY_TOO_LARGE")
    assert body["errors"][0]["message"] == "32 aliases found. Allowed: 30"
    body = await harness.graphql(fan_out(2, leaf=leaf))
    assert body == {"data": {"a": "Query", "b": "Query", "c": "Query", "d": "Query"}}


async def test_depth_is_counted_through_fragments(harness: Harness) -> None:
    """Rule: operations deeper than 12 are refused, fragments' fields counted where they are
    spread and introspection fields not counted (issue #10)."""
    # 13 levels of `viewer { pixel { ... } }`-like nesting split over two fragments; the rule
    # measures shape before the fields are checked against the schema.
    inner = "x { " * 7 + "y" + " }" * 7
    document = (f"query Deep {{ ...A }} fragment A on Query {{ x {{ x {{ x {{ x {{ x {{ ...B }} }}"
                f" }} }} }} }} fragment B on X {{ x {{ {inner} }} }}")
    body = await harness.graphql(document)
    assert "'Deep' exceeds maximum operation depth of 12" in [e["message"] for e in body["errors"]]
    assert "QUERY_TOO_LARGE" in codes(body)
    shallower = (document.replace("x { x { x { x { x { ...B", "x { x { x { x { ...B")
                 .replace("} } } } } } fragment B", "} } } } } fragment B"))
    body = await harness.graphql(shallower)
    assert "QUERY_TOO_LARGE" not in codes(body), body  # 12 deep: only the unknown fields
    assert body["errors"] and not any("Syntax" in e["message"] for e in body["errors"])

    key = await harness.mint("events:write")
    introspection = ("{ __schema { types { fields { type { ofType { ofType { ofType { ofType "
                     "{ ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } "
                     "} }")
    body = await harness.graphql(introspection, key=key)
    assert "errors" not in body, body


def _selections(draw: st.DrawFn, fragments_after: int, total: int, level: int) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["leaf", "field", "inline", "spread"]))
        if kind == "spread" and fragments_after < total:
            parts.append(f"...F{draw(st.integers(fragments_after, total - 1))}")
            continue
        alias = draw(st.sampled_from(["", "x: "]))
        name = draw(st.sampled_from(["a", "b", "__c"]))
        if kind == "leaf" or level >= 3:
            parts.append(alias + name)
        elif kind == "inline":
            parts.append("... on T { " + _selections(draw, fragments_after, total, level) + " }")
        else:
            inner = _selections(draw, fragments_after, total, level + 1)
            parts.append(f"{alias}{name} {{ {inner} }}")
    return " ".join(parts)


@st.composite
def acyclic_documents(draw: st.DrawFn) -> str:
    """An operation and up to 4 fragments; Fi spreads only Fj with j > i."""
    total = draw(st.integers(0, 4))
    fragments = [f"fragment F{i} on T {{ {_selections(draw, i + 1, total, 0)} }}"
                 for i in range(total)]
    return "query Q { " + _selections(draw, 0, total, 0) + " } " + " ".join(fragments)


@hypothesis_settings(max_examples=80, deadline=None)
@given(acyclic_documents())
def test_shape_matches_strawberrys_counting(document: str) -> None:
    """Rule: the linear rule counts depth and aliases exactly as Strawberry's limiters did
    (issue #10): same numbers on random acyclic documents with fragments, inline fragments,
    aliases and introspection-like fields."""
    node = parse(document)
    fragments = {d.name.value: d for d in node.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    operation = next(d for d in node.definitions if isinstance(d, OperationDefinitionNode))
    shape = measure_document(node)[operation]
    assert shape.aliases == count_fields_with_alias(operation, fragments)
    assert shape.depth == determine_depth(node=operation, fragments=fragments, depth_so_far=0,
                                          max_depth=10**6, context=None,  # type: ignore[arg-type]  # strawberry's depth counter needs no context here
                                          operation_name="Q", should_ignore=None)


async def test_nested_fragment_queries_still_work(harness: Harness) -> None:
    """Rule: the limits refuse only what is past them: ordinary fragments, nested and shared,
    answer as before (issue #10)."""
    key = await harness.mint("analytics:read")
    body = await harness.graphql(
        """query Catalog { ...Root viewer { ...Who } }
           fragment Root on Query { one: measure(key: "core.aov") { ...M }
                                    two: measure(key: "core.aov") { ...M } }
           fragment M on Measure { key ...Title }
           fragment Title on Measure { title }
           fragment Who on Viewer { kind pixel { id } }""", key=key)
    assert "errors" not in body, body
    assert body["data"]["one"] == body["data"]["two"] == {"key": "core.aov",
                                                          "title": "Average Order Value"}
    assert body["data"]["viewer"]["pixel"]["id"] == harness.pixel_id


# Nesting: coded errors, never an interpreter message


async def test_fragment_chain_of_300_is_a_coded_error(harness: Harness) -> None:
    """Rule: a spread chain past 50 fragments is QUERY_TOO_LARGE, never "maximum recursion
    depth exceeded" (issue #10); a chain of 40 is answered."""
    body = await harness.graphql(chain(300))
    assert body["data"] is None
    assert body["errors"][0]["message"] == \
        "'anonymous' nests fragment spreads 301 deep; the maximum is 50"
    assert set(codes(body)) == {"QUERY_TOO_LARGE"}
    assert "recursion" not in str(body)
    assert (await harness.graphql(chain(40))) == {"data": {"__typename": "Query"}}


async def test_deeply_nested_selections_and_values_are_coded_errors(harness: Harness) -> None:
    """Rule: 2,000 nested selections (and nested list values) are QUERY_TOO_LARGE: graphql-core's
    parser gives up at 200 levels, before the 5,000-token limit (issue #10)."""
    for document in ("{" + "viewer {" * 2000 + "kind" + "}" * 2000 + "}",
                     '{ measure(key: ' + "[" * 2000 + '"x"' + "]" * 2000 + ") { key } }"):
        body = await harness.graphql(document)
        assert codes(body) == ["QUERY_TOO_LARGE"], body
        assert "nested too deeply" in body["errors"][0]["message"]
    body = await harness.graphql("{" + " __typename" * 5001 + "}")
    assert codes(body) == ["QUERY_TOO_LARGE"]
    assert "more than 5000 tokens" in body["errors"][0]["message"]


async def test_deeply_nested_variables_are_a_coded_error(harness: Harness) -> None:
    """Rule: a variable nested 300 levels deep is a coded 4xx-class error, never a 500 or an
    uncoded message (issue #10): a filter is refused at its own nesting bound (field-level,
    naming the bound), free-form JSON at the event's properties rule."""
    key = await harness.mint("analytics:read", "events:write")
    nested: dict[str, Any] = {"field": "name", "op": "equals", "value": "x"}
    for _ in range(300):
        nested = {"not": nested}
    body = await harness.graphql(
        "query($i: AnalyticsQueryInput!) { analytics(input: $i) { __typename } }",
        {"i": {"measures": ["core.orders"], "filters": nested,
               "dateRange": {"start": "2026-11-01", "end": "2026-11-02"}}}, key=key)
    assert codes(body) == ["INVALID_INPUT"], body
    assert "at most 10 levels" in body["errors"][0]["message"]
    deep: Any = "x"
    for _ in range(300):
        deep = {"a": deep}
    body = await harness.graphql(
        "mutation($e: [EventInput!]!) { trackEvents(events: $e) { accepted } }",
        {"e": [{"name": "signup", "anonymousId": "a", "properties": deep}]}, key=key,
        pixel=harness.pixel_id)
    assert codes(body) == ["INVALID_INPUT"], body
    assert body["errors"][0]["extensions"]["details"][0]["key"] == "events.0.properties"


# Document size, before parsing


async def test_document_over_the_size_limit_is_refused_unparsed(settings: Settings,
                                                               clock: Clock) -> None:
    """Rule: a document over GATEWAY_GRAPHQL_MAX_DOCUMENT_BYTES is PAYLOAD_TOO_LARGE before it
    is parsed, by POST and by GET (issue #10); bytes are UTF-8, so 2-byte characters count
    twice."""
    small = replace(settings, graphql_max_document_bytes=1000)
    async with open_harness(small, clock) as h:
        store = h.state.schema.document_store
        fits = "{ __typename }" + " " * (1000 - 14)
        assert (await h.graphql(fits)) == {"data": {"__typename": "Query"}}
        for document in (fits + " ", "{ __typename }" + "#" + "é" * 500):
            misses = store.misses
            body = await h.graphql(document)
            assert codes(body) == ["PAYLOAD_TOO_LARGE"], body
            assert body["errors"][0]["message"] == "GraphQL document exceeds 1000 bytes"
            assert store.misses == misses  # never reached the parser
        response = await h.client.get("/graphql", params={"query": fits + " "})
        assert response.status_code == 200
        assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]

    # The default (100 KiB) refuses a 3 MB document in milliseconds.
    async with open_harness(settings, clock) as h:
        started = time.perf_counter()
        body = await h.graphql('{ measure(key: "' + "x" * 3_000_000 + '") { key } }')
        assert codes(body) == ["PAYLOAD_TOO_LARGE"]
        assert time.perf_counter() - started < 0.5
        assert len(h.state.schema.document_store) == 0


# Caches bounded in bytes


async def test_document_cache_stays_within_its_byte_budget(settings: Settings,
                                                           clock: Clock) -> None:
    """Rule: parsed and validated documents are held up to GATEWAY_GRAPHQL_DOCUMENT_CACHE_BYTES
    of estimated memory (text, tokens, errors), LRU (issue #10). Exact charge for one document;
    many distinct large documents never push the total past the budget, evict the oldest, and
    leave memory growth near the budget rather than near their total size."""
    budget = 150_000
    async with open_harness(replace(settings, graphql_document_cache_bytes=budget), clock) as h:
        store = h.state.schema.document_store
        first = '{ measure(key: "' + "a" * 30_000 + '") { key } }'
        await h.graphql(first)
        assert len(store) == 1
        assert store.size == (ENTRY_OVERHEAD + 2 * sys.getsizeof(first)
                              + BYTES_PER_TOKEN * parse(first).token_count)
        hits = store.hits
        await h.graphql(first)
        assert store.hits == hits + 1

        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            for n in range(24):  # 24 x 30 KB of text, each held twice if kept: ~1.4 MB
                await h.graphql("{ __typename }" + " " * 30_000 + f"# {n}")
                assert store.size <= budget
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert 1 <= len(store) <= budget // 60_000
        assert grown < 2.5 * budget, grown
        misses = store.misses
        await h.graphql(first)  # evicted long ago: parsed again
        assert store.misses == misses + 1


async def test_result_cache_stays_within_its_byte_budget(settings: Settings,
                                                         clock: Clock) -> None:
    """Rule: catalog results are held up to GATEWAY_GRAPHQL_RESULT_CACHE_BYTES (query text,
    variables and 4x the result's JSON), LRU (issue #10)."""
    budget = 200_000
    async with open_harness(replace(settings, graphql_result_cache_bytes=budget), clock) as h:
        store = h.state.schema.result_store
        key = await h.mint("events:write")
        for n in range(12):
            body = await h.graphql(f"{{ measures {{ key title description }} }} # {n}", key=key)
            assert body["data"]["measures"]
            assert 0 < store.size <= budget
        assert 1 <= len(store) < 12
        hits = store.hits
        await h.graphql("{ measures { key title description } } # 11", key=key)
        assert store.hits == hits + 1
        misses = store.misses
        await h.graphql("{ measures { key title description } } # 0", key=key)
        assert store.misses == misses + 1


# Introspection for anonymous callers


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_anonymous_introspection_is_off_by_default(harness: Harness) -> None:
    """Rule: with GATEWAY_ANONYMOUS_INTROSPECTION off (the default) `__schema` and `__type` need
    a valid credential (AUTH_REQUIRED); a credentialed caller introspects; `__typename` and
    federation's `_service { sdl }` stay open (issue #10)."""
    for document in (INTROSPECTION, '{ __type(name: "Query") { name } }',
                     "query { ...I } fragment I on Query { __schema { types { name } } }"):
        body = await harness.graphql(document)
        assert codes(body) == ["AUTH_REQUIRED"], body
        assert body["data"] is None
    assert codes(await harness.graphql(INTROSPECTION, key="upstack_forged")) == ["AUTH_REQUIRED"]
    assert (await harness.graphql("{ __typename }")) == {"data": {"__typename": "Query"}}
    sdl = await harness.graphql("{ _service { sdl } }")
    assert "type Query" in sdl["data"]["_service"]["sdl"]

    key = await harness.mint("events:write")
    body = await harness.graphql(INTROSPECTION, key=key)
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    # The two rule sets are each built once: repeats are validation-cache hits.
    store = harness.state.schema.document_store
    hits = store.hits
    await harness.graphql(INTROSPECTION)
    await harness.graphql(INTROSPECTION, key=key)
    assert store.hits == hits + 2
    response = await harness.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


async def test_anonymous_introspection_when_enabled(settings: Settings, clock: Clock) -> None:
    """Rule: GATEWAY_ANONYMOUS_INTROSPECTION=1 opens introspection to anonymous callers, still
    within graphql-core's introspection depth bound (issue #10)."""
    assert Settings.from_environ({"GATEWAY_ANONYMOUS_INTROSPECTION": "1"}).anonymous_introspection
    assert not Settings.from_environ({}).anonymous_introspection
    async with open_harness(replace(settings, anonymous_introspection=True), clock) as h:
        body = await h.graphql(INTROSPECTION)
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        deep = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
        assert (await h.graphql(deep))["errors"][0]["message"] == \
            "Maximum introspection depth exceeded"


async def test_health_answers_while_fan_outs_are_refused(harness: Harness) -> None:
    """Rule: hostile documents do not hold the event loop (issue #10)."""
    document = fan_out(40, leaf="a: __typename")
    started = time.perf_counter()
    results = await asyncio.gather(*(harness.graphql(document) for _ in range(5)),
                                   harness.client.get("/health"))
    assert time.perf_counter() - started < 1.0
    health = results[-1]
    assert isinstance(health, httpx.Response) and health.status_code == 200
