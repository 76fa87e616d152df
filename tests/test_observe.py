"""The access log, `x-request-id` and `GET /metrics`, through the real app (issue #17)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.metrics import MAX_OPERATION_NAMES
from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(k)[label] for n, k in samples if n == name and label in dict(k)}


@asynccontextmanager
async def client_at(settings: Settings, clock: Clock, host: str
                    ) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a client calling from `host`."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


async def test_one_access_line_per_request_without_the_secret(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Each request logs method, path (no query string), status, duration, request id and
    the key's prefix, never the key itself (issue #17)."""
    key = await harness.mint("analytics:read")
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        ok = await harness.client.get("/db-mgmt/api/measures?search=roas",
                                      headers=harness.headers(key, harness.pixel_id))
        missing = await harness.client.get("/no/such/path", headers={"x-request-id": "r 1"})
        bad = await harness.client.get("/db-mgmt/api/measures",
                                       headers={"authorization": "Bearer nonsense"})
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert len(lines) == 3, lines
    first = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', lines[0]))
    assert first["method"] == "GET" and first["path"] == "/db-mgmt/api/measures"
    assert first["status"] == "200" and float(first["duration_ms"]) >= 0
    assert first["request_id"] == ok.headers["x-request-id"]
    assert first["key"] == key[:len("upstack_") + 6] and first["client"] == "127.0.0.1"
    assert key not in "\n".join(lines) and "roas" not in lines[0]
    assert 'status=404' in lines[1] and 'request_id="r 1"' in lines[1]
    assert missing.headers["x-request-id"] == "r 1"
    assert "status=401" in lines[2] and "key=bearer" in lines[2] and "nonsense" not in lines[2]
    assert bad.status_code == 401
    record = next(r for r in caplog.records if r.name == "gateway.access")
    assert record.http["status"] == 200  # type: ignore[attr-defined]  # set via `extra`


async def test_access_log_off(settings: Settings, clock: Clock,
                              caplog: pytest.LogCaptureFixture) -> None:
    async with open_harness(replace(settings, access_log=False), clock) as h:
        with caplog.at_level(logging.INFO, logger="gateway.access"):
            await h.client.get("/health")
    assert not [r for r in caplog.records if r.name == "gateway.access"]


async def test_request_id_is_echoed_and_is_the_audit_logs(harness: Harness) -> None:
    """One id per request: generated (or the client's), echoed on the response, and the one
    the audit log records (issue #17)."""
    admin = await harness.mint("audit:read", "keys:read")
    sent = await harness.client.get("/accounts/api/api-keys",
                                    headers={**harness.headers(admin), "x-request-id": "abc-1"})
    made = await harness.client.get("/accounts/api/api-keys", headers=harness.headers(admin))
    generated = made.headers["x-request-id"]
    assert sent.headers["x-request-id"] == "abc-1" and re.fullmatch(r"[0-9a-f]{24}", generated)
    too_long = await harness.client.get("/health", headers={"x-request-id": "x" * 100})
    assert too_long.headers["x-request-id"] == "x" * 64
    await harness.state.audit.flush()  # type: ignore[union-attr]  # the app has an audit log
    log = await harness.client.get("/accounts/api/audit-log", headers=harness.headers(admin))
    ids = {e["requestId"] for e in log.json()["entries"]}
    assert {"abc-1", generated} <= ids


async def test_requests_count_by_route_template_not_path(harness: Harness) -> None:
    """Raw paths never become labels: ids collapse into the template, unknown paths into
    `unmatched` (issue #17)."""
    key = await harness.mint("dashboards:read")
    for n in range(3):
        await harness.client.get(f"/accounts/api/dashboard/views/no-such-{n}",
                                 headers=harness.headers(key, harness.pixel_id))
        await harness.client.get(f"/random/{n}")
    await harness.client.delete("/health")  # a wrong method: the route, 405
    samples = await scrape(harness.client)
    total = "gateway_http_requests_total"
    assert value(samples, total, method="GET", route="/accounts/api/dashboard/views/{id}",
                 status="4xx") == 3
    assert value(samples, total, method="GET", route="unmatched", status="4xx") == 3
    assert value(samples, total, method="DELETE", route="/health", status="4xx") == 1
    assert not [r for r in labelled(samples, total, "route") if "no-such" in r or "random" in r]
    assert value(samples, "gateway_http_request_duration_seconds_count", method="GET",
                 route="unmatched", status="4xx") == 3
    assert value(samples, "gateway_build_info", version=__import__("gateway").__version__) == 1


async def test_graphql_operations_by_name_with_a_cap(harness: Harness) -> None:
    """Operation names are labels up to MAX_OPERATION_NAMES per process, then `other`;
    unnamed ones are `anonymous`, a document that does not parse `invalid` (issue #17)."""
    key = await harness.mint("analytics:read")
    headers = harness.headers(key, harness.pixel_id)
    for n in range(MAX_OPERATION_NAMES + 5):
        await harness.graphql(f"query Op{n} {{ measures {{ key }} }}", key=key,
                              pixel=harness.pixel_id)
    await harness.graphql("query Op0 { measures { key } }", key=key, pixel=harness.pixel_id)
    await harness.graphql("{ measures { key } }", key=key, pixel=harness.pixel_id)
    await harness.graphql("{ nope }", key=key, pixel=harness.pixel_id)
    await harness.client.post("/graphql", json={"query": "{ measures "}, headers=headers)
    samples = await scrape(harness.client)
    ops = "gateway_graphql_operations_total"
    names = labelled(samples, ops, "operation")
    assert len(names) == MAX_OPERATION_NAMES + 3, sorted(names)
    assert value(samples, ops, operation="Op0", outcome="ok") == 2
    assert value(samples, ops, operation="other", outcome="ok") == 5
    assert value(samples, ops, operation="anonymous", outcome="ok") == 1
    assert value(samples, ops, operation="anonymous", outcome="error") == 1
    assert value(samples, ops, operation="invalid", outcome="error") == 1


async def test_engine_ingestion_and_rollup_metrics(harness: Harness) -> None:
    """Ingestion counts each event once (accepted, duplicate, rejected); the rollup lag is
    what is not folded yet; engine queries say what they read (issue #17)."""
    key = await harness.mint("events:write", "analytics:read")
    headers = harness.headers(key, harness.pixel_id)
    batch = [{"name": "page_view", "event_id": f"e{n}", "anonymous_id": "a", "path": "/",
              "timestamp": "2026-11-19T10:00:00Z"} for n in range(3)]
    batch.append({"name": "purchase", "anonymous_id": "a"})  # no order_id, no revenue
    sent = await harness.client.post("/tr/api/events", json={"events": batch}, headers=headers)
    assert sent.json()["accepted"] == 3, sent.text
    again = await harness.client.post("/tr/api/events", json={"events": batch[:2]},
                                      headers=headers)
    assert again.json()["duplicates"] == 2
    refused = await harness.client.post("/tr/api/events", json={"events": [batch[3]]},
                                        headers=headers)
    assert refused.status_code == 400
    before = await scrape(harness.client)
    events = "gateway_events_ingested_total"
    assert value(before, events, outcome="accepted") == 3
    assert value(before, events, outcome="duplicate") == 2
    assert value(before, events, outcome="rejected") == 2
    assert value(before, "gateway_rollup_lag_events") == await harness.state.db.rollup_lag()

    body = {"measures": ["web.page_views"], "granularity": "day",
            "dateRange": {"start": "2026-11-18", "end": "2026-11-19"}, "compare": False}
    raw = {**body, "filters": {"and": [{"field": "path", "op": "equals", "value": "/"}]}}
    for query in (body, raw):
        answer = await harness.client.post("/db-mgmt/api/query", json=query, headers=headers)
        assert answer.status_code == 200, answer.text
    after = await scrape(harness.client)
    assert value(after, "gateway_rollup_lag_events") == 0
    assert value(after, "gateway_rollup_folded_events_total") >= 3
    assert value(after, "gateway_engine_query_duration_seconds_count", served="rollups") == 1
    assert value(after, "gateway_engine_query_duration_seconds_count", served="events") == 1
    # Three page views: one hourly rollup row, or the three raw events.
    assert value(after, "gateway_engine_rows_read_total", source="rollups") == 1
    assert value(after, "gateway_engine_rows_read_total", source="events") == 3
    assert value(after, "gateway_engine_statements_total", source="events") >= 1


async def test_rate_limit_refusals_count_on_both_surfaces(settings: Settings,
                                                         clock: Clock) -> None:
    """A 429 response counts as `http_429`, a RATE_LIMITED error in a GraphQL answer (HTTP
    200) as `graphql_error` (issue #17)."""
    limited = replace(settings, login_account_burst=1, login_account_interval_seconds=3600)
    login = "mutation { login(email: \"x@example.com\", password: \"p\") { user { email } } }"
    async with open_harness(limited, clock) as h:
        for _ in range(2):
            rest = await h.client.post("/accounts/api/auth/login",
                                       json={"email": "x@example.com", "password": "p"})
        assert rest.status_code == 429
        gql = await h.client.post("/graphql", json={"query": login})
        assert gql.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        samples = await scrape(h.client)
    assert value(samples, "gateway_rate_limited_total", kind="http_429") == 1
    assert value(samples, "gateway_rate_limited_total", kind="graphql_error") == 1


async def test_metrics_are_for_loopback_or_the_token(settings: Settings, clock: Clock) -> None:
    """Without a token only loopback clients may scrape; with one, only its holders, from
    anywhere (issue #17)."""
    async with client_at(settings, clock, "203.0.113.9") as outside:
        refused = await outside.get("/metrics")
        assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_SCOPE"
        assert "GATEWAY_METRICS_TOKEN" in refused.json()["message"]
    async with client_at(settings, clock, "::ffff:127.0.0.1") as mapped:
        assert (await mapped.get("/metrics")).status_code == 200
    token = replace(settings, metrics_token="scrape-" + "t" * 20)
    for host in ("203.0.113.9", "127.0.0.1"):
        async with client_at(token, clock, host) as client:
            missing = await client.get("/metrics")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            right = await client.get("/metrics",
                                     headers={"authorization": f"Bearer {token.metrics_token}"})
            assert right.status_code == 200 and "gateway_http_requests_total" in right.text
            assert token.metrics_token not in right.text


async def test_metrics_off(settings: Settings, clock: Clock) -> None:
    async with open_harness(replace(settings, metrics=False), clock) as h:
        assert (await h.client.get("/metrics")).status_code == 404
        assert h.state.metrics is None and h.state.db.metrics is None
        assert "x-request-id" in (await h.client.get("/health")).headers


async def test_openmetrics_when_asked(harness: Harness) -> None:
    response = await harness.client.get(
        "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_access_lines_are_written_in_batches() -> None:
    """The access log's handler keeps lines in memory and writes them in one write at its
    capacity or on flush (every half second from the lifespan, and at shutdown): no system
    call per request. Each line is `date time,ms message`."""
    import io
    import logging

    from gateway.observe import AccessLines

    stream = io.StringIO()
    handler = AccessLines(stream, capacity=3)
    logger = logging.getLogger("gateway.access.batch-test")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("method=GET path=/a status=200")
        logger.info("method=GET path=/b status=200")
        assert stream.getvalue() == ""  # waiting for the batch
        logger.info("method=GET path=/c status=404")  # the third fills it
        lines = stream.getvalue().splitlines()
        assert [line.split(" ", 2)[2] for line in lines] == [
            "method=GET path=/a status=200", "method=GET path=/b status=200",
            "method=GET path=/c status=404"]
        assert all(len(line.split(" ")[1]) == len("12:00:00,000") for line in lines)
        logger.info("method=POST path=/d status=201")
        handler.flush()
        assert stream.getvalue().splitlines()[-1].endswith("method=POST path=/d status=201")
    finally:
        logger.removeHandler(handler)
