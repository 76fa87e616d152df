"""One error shape everywhere (issue #17): unknown paths and wrong methods answer JSON in
the dialect of the surface the path belongs to, GraphQL transport errors answer GraphQL's
`{"errors": [...]}`, and nothing answers plain text.

    Upstack     /db-mgmt/, /accounts/, /tr/   {"message"}
    ClickStack  /api/v2/                      {"message"}
    GraphQL     /graphql                      {"errors": [{"message", "extensions": {code}}]}
    elsewhere                                 {"message", "code"}
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness

UPSTACK, CLICKSTACK, GRAPHQL, GATEWAY = "upstack", "clickstack", "graphql", "gateway"


def assert_dialect(response: httpx.Response, dialect: str, status: int, code: str) -> None:
    """The one assertion helper for every error envelope of this module."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    if dialect == GRAPHQL:
        assert set(body) == {"errors"}, body
        assert body["errors"][0]["extensions"]["code"] == code, body
        assert body["errors"][0]["message"], body
    elif dialect == GATEWAY:
        assert body == {"message": body["message"], "code": code}, body
    else:  # Upstack and ClickStack: {"message"}, no code in the body
        assert set(body) == {"message"} and body["message"], body


@pytest.mark.parametrize(("method", "path", "dialect", "status", "code", "allow"), [
    ("GET", "/db-mgmt/api/nope", UPSTACK, 404, "NOT_FOUND", None),
    ("GET", "/accounts/api/nothing/here", UPSTACK, 404, "NOT_FOUND", None),
    ("POST", "/tr/api/other", UPSTACK, 404, "NOT_FOUND", None),
    ("PUT", "/db-mgmt/api/measures", UPSTACK, 405, "METHOD_NOT_ALLOWED", "GET, HEAD"),
    ("DELETE", "/accounts/api/api-keys", UPSTACK, 405, "METHOD_NOT_ALLOWED", "GET, HEAD, POST"),
    ("GET", "/api/v2/nope", CLICKSTACK, 404, "NOT_FOUND", None),
    ("PATCH", "/api/v2/alerts/a1", CLICKSTACK, 405, "METHOD_NOT_ALLOWED",
     "DELETE, GET, HEAD, PUT"),
    ("DELETE", "/graphql", GRAPHQL, 405, "METHOD_NOT_ALLOWED", "GET, HEAD, POST"),
    ("GET", "/nothing", GATEWAY, 404, "NOT_FOUND", None),
    ("GET", "/static/0000/graphiql.min.js", GATEWAY, 404, "NOT_FOUND", None),
    ("POST", "/health", GATEWAY, 405, "METHOD_NOT_ALLOWED", "GET, HEAD"),
    ("OPTIONS", "/db-mgmt/api/measures", UPSTACK, 405, "METHOD_NOT_ALLOWED", "GET, HEAD"),
])
async def test_unknown_paths_and_methods_answer_their_dialect(
        harness: Harness, method: str, path: str, dialect: str, status: int, code: str,
        allow: str | None) -> None:
    response = await harness.client.request(method, path)
    assert_dialect(response, dialect, status, code)
    if allow is not None:
        assert sorted(m.strip() for m in response.headers["allow"].split(",")) == sorted(
            allow.split(", "))


@pytest.mark.parametrize(("content_type", "body", "status", "code"), [
    ("application/json", b"{not json", 400, "INVALID_INPUT"),
    ("text/plain", b'{"query": "{ __typename }"}', 415, "UNSUPPORTED_MEDIA_TYPE"),
    (None, b'{"query": "{ __typename }"}', 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("application/json", b"{}", 400, "INVALID_INPUT"),
    ("application/json", b'{"query": 5}', 400, "INVALID_INPUT"),
    ("application/json", b'{"query": "{ __typename }", "variables": []}', 400,
     "INVALID_INPUT"),
])
async def test_graphql_transport_errors_are_graphql_json(
        harness: Harness, content_type: str | None, body: bytes, status: int,
        code: str) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = await harness.client.post("/graphql", content=body, headers=headers)
    assert_dialect(response, GRAPHQL, status, code)


async def test_a_mutation_over_get_is_refused_in_json(harness: Harness) -> None:
    response = await harness.client.get("/graphql", params={"query": "mutation { logout }"})
    assert_dialect(response, GRAPHQL, 400, "INVALID_INPUT")
    assert "not allowed when using GET" in response.text


async def test_graphiql_turned_off_answers_json_404(settings: Settings, clock: Clock) -> None:
    """GATEWAY_GRAPHIQL=0: a browser's GET /graphql is a GraphQL 404, not plain text."""
    async with open_harness(replace(settings, graphiql=False), clock) as h:
        response = await h.client.get("/graphql", headers={"accept": "text/html"})
    assert_dialect(response, GRAPHQL, 404, "NOT_FOUND")
