"""Only truly unexpected errors are masked, and each logs ONE record naming the request id,
which every response carries as `X-Request-Id` (issue #12).

The unexpected error is a real one, not a test-only resolver: a table of the test's SQLite
file is dropped under the running app, so the real service's query fails ("no such table")
as it would on a damaged database.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness


@pytest.fixture
async def quiet(settings: Settings, clock: Clock) -> AsyncIterator[Harness]:
    """The harness without the alert evaluator, whose background pass would also meet the
    dropped table (and log its own failure)."""
    async with open_harness(replace(settings, alerts_enabled=False), clock, tenant=True) as h:
        yield h


def _drop(settings: Settings, table: str) -> None:
    path = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(path, timeout=10) as connection:
        connection.execute(f"DROP TABLE {table}")
    connection.close()


def _records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[
        logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= level]


def _one_record_naming(caplog: pytest.LogCaptureFixture, request_id: str) -> logging.LogRecord:
    records = _records(caplog)
    assert len(records) == 1, [f"{r.name}: {r.getMessage()}" for r in records]
    record = records[0]
    assert record.levelno == logging.ERROR
    assert request_id in record.getMessage()
    assert getattr(record, "request_id", None) == request_id
    assert record.exc_info is not None and "no such table" in str(record.exc_info[1])
    return record


async def test_an_unexpected_graphql_error_is_masked_and_logged_once_with_the_request_id(
        quiet: Harness, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #12): an error that is not the client's is "Unexpected error." with code
    INTERNAL and the request id, HTTP 200 (a GraphQL field error); the log gets one ERROR
    record with the id and the traceback (before: Strawberry's own record per error, no id)."""
    key = await quiet.mint("alerts:read")
    _drop(settings, "webhook")
    with caplog.at_level(logging.INFO):
        response = await quiet.client.post(
            "/graphql", json={"query": "{ webhooks { id } }"},
            headers=quiet.headers(key, quiet.pixel_id))
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error.", error
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert error["path"] == ["webhooks"]
    assert "no such table" not in response.text
    record = _one_record_naming(caplog, request_id)
    assert record.name == "gateway.graphql"
    assert "webhooks" in record.getMessage() and "OperationalError" in record.getMessage()


async def test_an_unexpected_rest_error_is_logged_once_with_the_request_id(
        quiet: Harness, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #12): REST's unhandled error is the surface's INTERNAL body (500), and
    its one record names the request id the response carries."""
    key = await quiet.mint("alerts:read")
    _drop(settings, "webhook")
    with caplog.at_level(logging.INFO):
        response = await quiet.client.get("/api/v2/webhooks",
                                          headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 500
    assert set(response.json()) == {"message"}  # ClickStack's 500 body
    record = _one_record_naming(caplog, response.headers["x-request-id"])
    assert record.getMessage().startswith("unhandled error on GET /api/v2/webhooks")


async def test_an_error_escaping_the_app_is_answered_in_the_dialect_and_logged_once(
        quiet: Harness, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """An exception GraphQL's view does not catch (authenticating against a broken key
    table, before execution) is answered by the request-id middleware: a GraphQL body with
    code INTERNAL, 500, one record with the id (before: Starlette's plain-text 500, its
    traceback logged twice, by Starlette and by the server, with no id)."""
    key = await quiet.mint("alerts:read")  # never used, so not in the key cache
    _drop(settings, "api_key")
    with caplog.at_level(logging.INFO):
        response = await quiet.client.post("/graphql", json={"query": "{ webhooks { id } }"},
                                           headers=quiet.headers(key, quiet.pixel_id))
    assert response.status_code == 500
    assert response.json() == {"errors": [{"message": "Internal error",
                                           "extensions": {"code": "INTERNAL"}}]}
    record = _one_record_naming(caplog, response.headers["x-request-id"])
    assert record.getMessage().startswith("unhandled error on POST /graphql")


async def test_a_client_mistake_logs_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #12): bad input is not a server error: a bad variable, a syntax error and
    an unknown field log nothing at WARNING or above, on GraphQL; a bad body on REST too."""
    key = await harness.mint("alerts:read", "alerts:write")
    headers = harness.headers(key, harness.pixel_id)
    with caplog.at_level(logging.INFO):
        for body in ({"query": "query($n: Int!) { alerts(limit: $n) { id } }",
                      "variables": {"n": 2**31}},
                     {"query": "{ alerts("}, {"query": "{ nope }"}):
            response = await harness.client.post("/graphql", json=body, headers=headers)
            assert response.status_code == 200
            assert "INTERNAL" not in response.text
        response = await harness.client.post("/api/v2/alerts", json={"source": 5},
                                             headers=headers)
        assert response.status_code == 400
    assert not _records(caplog), [r.getMessage() for r in _records(caplog)]


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/health", None, 200),
    ("GET", "/nowhere", None, 404),
    ("POST", "/graphql", {"query": "{ __typename }"}, 200),
    ("GET", "/api/v2/alerts", None, 401),
    ("POST", "/tr/api/events", b" " * (6 << 20), 413),  # refused by the body limit
])
async def test_every_response_carries_a_request_id(
        harness: Harness, method: str, path: str, body: Any, status: int) -> None:
    """Every response has `X-Request-Id`, a fresh one per request, so a user can quote it."""
    ids = set()
    for _ in range(2):
        kwargs: dict[str, Any] = ({"json": body} if isinstance(body, dict)
                                  else {"content": body} if body else {})
        response = await harness.client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        assert len(response.headers.get_list("x-request-id")) == 1
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 2 and all(len(i) == 24 for i in ids), ids


async def test_a_client_request_id_is_kept_and_audited(harness: Harness) -> None:
    """A printable `X-Request-Id` sent by the client (or its proxy) is the request's id: it
    comes back on the response and is the `requestId` of the request's audit entries, so
    logs on both sides line up. One that is not printable is replaced; a long one is cut to
    64 characters."""
    key = await harness.mint("audit:read", "alerts:read")
    headers = harness.headers(key, harness.pixel_id)
    sent = await harness.client.get("/api/v2/alerts",
                                    headers={**headers, "x-request-id": "trace-42"})
    assert sent.headers["x-request-id"] == "trace-42"
    long = await harness.client.get("/health", headers={"x-request-id": "x" * 100})
    assert long.headers["x-request-id"] == "x" * 64
    bad = await harness.client.get("/health", headers={"x-request-id": "a\tb"})
    assert bad.headers["x-request-id"] != "a\tb" and len(bad.headers["x-request-id"]) == 24
    await harness.state.audit.flush()  # type: ignore[union-attr]  # the harness app has one
    log = await harness.client.get("/accounts/api/audit-log", headers=headers)
    assert log.status_code == 200, log.text
    assert "trace-42" in {e["requestId"] for e in log.json()["entries"]}, log.json()
