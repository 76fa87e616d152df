"""Errors a client can read (issue #12): GraphQL's own errors keep their message and carry
Apollo's standard code in `extensions.code`, our coded errors keep theirs, and none of them is
logged: a client mistake is not a server error.

- GRAPHQL_PARSE_FAILED: the document is not GraphQL (syntax);
- GRAPHQL_VALIDATION_FAILED: it does not fit the schema (unknown field or argument, a literal
  of the wrong type);
- BAD_USER_INPUT: a variable's value does not fit its declared type (wrong type, missing,
  bad enum value, Int past 2^31-1, unknown input field), or an argument's value turns out
  invalid only at execution (null through a nullable variable into a non-null argument).

Every case answers HTTP 200 with `application/json`: the GraphQL-over-HTTP spec says a server
SHOULD answer 200 to every well-formed request with that media type, request errors
included (400 is for `application/graphql-response+json`, which we do not serve).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support import Harness

RANGE = '{preset: "last_7_days"}'

# name: (query, variables, code, a piece of the message)
CASES: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "variable of the wrong type": (
        "query($n: Int!) { alerts(limit: $n) { id } }", {"n": "ten"},
        "BAD_USER_INPUT", "Int cannot represent non-integer value: 'ten'"),
    "missing required variable": (
        "query($n: Int!) { alerts(limit: $n) { id } }", {},
        "BAD_USER_INPUT", "Expected a value of non-null type 'Int!' to be provided"),
    "bad enum value": (
        ("query($g: Granularity!) { analytics(input: {measures: [\"core.revenue\"], "
         f"dateRange: {RANGE}, granularity: $g}}) {{ granularity }} }}"), {"g": "FORTNIGHT"},
        "BAD_USER_INPUT", "Value 'FORTNIGHT' does not exist in 'Granularity' enum"),
    "bad enum value inside an input object": (
        "query($i: AnalyticsQueryInput!) { analytics(input: $i) { granularity } }",
        {"i": {"measures": ["core.revenue"], "dateRange": {"preset": "last_7_days"},
               "granularity": "FORTNIGHT"}},
        "BAD_USER_INPUT", "at .granularity: Value 'FORTNIGHT' does not exist"),
    "Int overflow": (
        "query($n: Int!) { alerts(limit: $n) { id } }", {"n": 2**31},
        "BAD_USER_INPUT", "non 32-bit signed integer value: 2147483648"),
    "unknown input object field": (
        "query($i: AnalyticsQueryInput!) { analytics(input: $i) { granularity } }",
        {"i": {"measures": ["core.revenue"], "dateRange": {"preset": "last_7_days"},
               "bogus": 1}},
        "BAD_USER_INPUT", "not to include unknown field 'bogus'"),
    "bad DateTime variable": (
        "query($s: DateTime) { auditLog(since: $s) { __typename } }", {"s": "yesterday"},
        "BAD_USER_INPUT", "Value cannot represent a DateTime"),
    "null into a non-null argument, found at execution": (
        "query($n: Int) { alerts(limit: $n) { id } }", {"n": None},
        "BAD_USER_INPUT", "Argument 'limit' has invalid value"),
    "syntax error": (
        "{ alerts(limit: ", {}, "GRAPHQL_PARSE_FAILED", "Syntax Error: Unexpected <EOF>."),
    "unknown field": (
        "{ nope }", {}, "GRAPHQL_VALIDATION_FAILED", "Cannot query field 'nope' on type 'Query'"),
    "unknown argument": (
        "{ alerts(bogus: 1) { id } }", {},
        "GRAPHQL_VALIDATION_FAILED", "Unknown argument 'bogus' on field 'Query.alerts'"),
    "literal enum value": (
        (f'{{ analytics(input: {{measures: ["core.revenue"], dateRange: {RANGE}, '
         "granularity: FORTNIGHT}) { granularity } }"), {},
        "GRAPHQL_VALIDATION_FAILED", "Value 'FORTNIGHT' does not exist in 'Granularity' enum"),
    "literal Int overflow": (
        "{ alerts(limit: 2147483648) { id } }", {},
        "GRAPHQL_VALIDATION_FAILED", "non 32-bit signed integer value: 2147483648"),
    "literal DateTime": (
        '{ auditLog(since: "yesterday") { __typename } }', {},
        "GRAPHQL_VALIDATION_FAILED", "Value cannot represent a DateTime"),
    "undeclared variable": (
        "{ alerts(limit: $n) { id } }", {},
        "GRAPHQL_VALIDATION_FAILED", "Variable '$n' is not defined"),
}


async def _ask(harness: Harness, query: str, variables: dict[str, Any],
               caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    key = await harness.mint("alerts:read", "analytics:read", "audit:read")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        response = await harness.client.post(
            "/graphql", json={"query": query, "variables": variables},
            headers=harness.headers(key, harness.pixel_id))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def _noisy(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", list(CASES))
async def test_graphql_request_errors_keep_their_message_and_carry_a_code(
        harness: Harness, caplog: pytest.LogCaptureFixture, name: str) -> None:
    """Rule (issue #12): GraphQL's own errors are answered as they are, with Apollo's code,
    not masked as "Unexpected error.", and nothing is logged (before: no code; earlier still,
    variable errors were masked and logged with a traceback)."""
    query, variables, code, message = CASES[name]
    body = await _ask(harness, query, variables, caplog)
    assert body.get("data") is None, body
    errors = body["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code] * len(errors), errors
    assert message in errors[0]["message"], errors
    assert not _noisy(caplog)


async def test_every_variable_error_is_reported_with_its_code(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Several bad variables: each is reported (graphql-core collects them), each coded."""
    query = ("query($n: Int!, $o: Int!, $g: Granularity!) { alerts(limit: $n, offset: $o) "
             f'{{ id }} analytics(input: {{measures: ["core.revenue"], dateRange: {RANGE}, '
             "granularity: $g}) { granularity } }")
    body = await _ask(harness, query, {"n": "x", "g": "NOPE"}, caplog)
    errors = body["errors"]
    assert len(errors) == 3, errors
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}
    assert not _noisy(caplog)


@pytest.mark.parametrize(("query", "code"), [
    ("{ " + "alerts { " * 14 + "id" + " }" * 15, "QUERY_TOO_LARGE"),  # depth
    ("{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }", "QUERY_TOO_LARGE"),
    ("{ " + "__typename " * 5001 + "}", "QUERY_TOO_LARGE"),  # tokens: a parse abort
    ("{ alerts(limit: " + "[" * 300 + "]" * 300 + ") { id } }", "QUERY_TOO_LARGE"),  # a parse abort
    ("{ alerts { id } } # " + "x" * 110_000, "PAYLOAD_TOO_LARGE"),
], ids=["depth", "aliases", "tokens", "nesting", "document size"])
async def test_our_bounds_keep_their_codes(
        harness: Harness, caplog: pytest.LogCaptureFixture, query: str, code: str) -> None:
    """Our own coded refusals are not re-coded as parse or validation failures, though they
    are found while parsing or validating."""
    body = await _ask(harness, query, {}, caplog)
    assert body["errors"][0]["extensions"]["code"] == code, body["errors"]
    assert not _noisy(caplog)


async def test_anonymous_introspection_keeps_auth_required(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """The introspection refusal is a validation rule of ours: AUTH_REQUIRED, not
    GRAPHQL_VALIDATION_FAILED."""
    with caplog.at_level(logging.DEBUG):
        response = await harness.client.post("/graphql", json={"query": "{ __schema { types "
                                                                         "{ name } } }"})
    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["AUTH_REQUIRED"]
    assert not _noisy(caplog)


@pytest.mark.parametrize("representation", [
    {"__typename": "Nope", "key": "x"},  # not an entity of this schema
    {"key": "core.revenue"},  # no __typename
    5,  # not an object
    {"__typename": "Measure"},  # the entity's key is missing
    {"__typename": "Measure", "key": "core.revenue", "extra": 1},  # a field it is not keyed by
], ids=["unknown type", "no typename", "not an object", "no key", "extra field"])
async def test_a_bad_federation_representation_is_invalid_input(
        harness: Harness, caplog: pytest.LogCaptureFixture, representation: Any) -> None:
    """Rule (issue #12): `_entities` representations are client input. A router (or anyone)
    sending one naming no entity of ours, or without its key, is told so as INVALID_INPUT
    at the representation's index (before: Strawberry's resolver raised KeyError or
    AttributeError, masked as "Unexpected error." and logged with a traceback)."""
    query = ("query($r: [_Any!]!) { _entities(representations: $r) "
             "{ ... on Measure { key } } }")
    body = await _ask(harness, query, {"r": [{"__typename": "Measure", "key": "core.revenue"},
                                             representation]}, caplog)
    errors = body["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["INVALID_INPUT"], errors
    assert errors[0]["extensions"]["details"][0]["path"] == ["representations", 1], errors
    assert not _noisy(caplog)


async def test_good_federation_representations_still_resolve(harness: Harness) -> None:
    key = await harness.mint("dashboards:read")
    body = await harness.graphql(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Measure { key } } }",
        {"r": [{"__typename": "Measure", "key": "core.revenue"}]}, key=key)
    assert body == {"data": {"_entities": [{"key": "core.revenue"}]}}, body
