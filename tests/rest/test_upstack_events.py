"""POST /tr/api/events: body forms, partial batches, idempotency, limits, scopes (issue #4)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.support import Clock, Harness, assert_upstack_error, open_harness
from tests.support_alerts import Dns
from tests.support_db import add_poison_trigger
from tests.support_events import TRACK, count_events, page_view, post_events, purchase


@pytest.mark.parametrize("form", ["object", "array", "wrapped"])
async def test_each_body_form_is_accepted(harness: Harness, form: str) -> None:
    """One object, a JSON array, or {"events": [...]} (documented in README "Events")."""
    key = await harness.mint("events:write")
    events = [page_view(1)] if form == "object" else [page_view(1), purchase()]
    body: Any = {"object": events[0], "array": events, "wrapped": {"events": events}}[form]
    response = await post_events(harness, key, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": len(events), "accepted": len(events),
                               "duplicates": 0, "rejected": 0, "errors": [],
                               "duplicate_events": []}
    assert (await count_events(harness))["*"] == len(events)


async def test_stored_row_has_every_field(harness: Harness) -> None:
    """What was sent is what the measures read: columns, defaults and derived path."""
    key = await harness.mint("events:write")
    sent = purchase(currency="eur", country="de", new_customer=True, session_id="s1",
                    anonymous_id="a1", utm_source="facebook", utm_medium="paid_social",
                    utm_campaign="spring", utm_content="c", utm_term="t", device="mobile",
                    url="https://shop.example/checkout/thanks?x=1", referrer="https://fb.com/",
                    properties={"items": 2, "coupon": None})
    assert (await post_events(harness, key, sent)).status_code == 200
    from sqlalchemy import select

    from gateway.storage.models import EventRow
    async with harness.state.db.session() as session:
        row = (await session.execute(select(EventRow))).scalar_one()
    assert (row.name, row.order_id, row.revenue, row.currency, row.country) == (
        "purchase", "1042", 59.9, "EUR", "DE")
    assert row.ts == 1_795_172_400_000  # 2026-11-20T11:00:00Z
    assert row.received_at == int(harness.clock().timestamp() * 1000)
    assert row.path == "/checkout/thanks" and row.new_customer is True
    assert row.properties == {"items": 2, "coupon": None}
    assert (row.utm_source, row.utm_medium, row.utm_campaign, row.utm_content, row.utm_term) == (
        "facebook", "paid_social", "spring", "c", "t")


async def test_partial_batch_stores_valid_items_and_reports_the_rest(harness: Harness) -> None:
    """Valid items are stored; invalid ones come back with index, key and path."""
    key = await harness.mint("events:write")
    body = {"events": [page_view(0), {"name": "purchase", "user_id": "u", "revenue": "12"},
                       page_view(2), "not an object", {"name": "page_view", "user_id": "u",
                                                       "utm_soruce": "typo", "path": "/"}]}
    response = await post_events(harness, key, body)
    assert response.status_code == 200
    out = response.json()
    assert (out["received"], out["accepted"], out["rejected"]) == (5, 2, 3)
    assert [(e["index"], e["key"]) for e in out["errors"]] == [
        (1, "events.1.revenue"), (1, "events.1.order_id"), (3, "events.3"),
        (4, "events.4.utm_soruce")]
    assert out["errors"][0]["path"] == ["events", 1, "revenue"]
    assert "must be a number" in out["errors"][0]["message"]
    assert (await count_events(harness))["*"] == 2


async def test_nothing_usable_is_400_with_every_error(harness: Harness) -> None:
    key = await harness.mint("events:write")
    response = await post_events(harness, key, [{"name": "purchase", "user_id": "u"},
                                                {"anonymous_id": "a", "path": "/"}])
    assert_upstack_error(response, 400, fields=[
        "events.0.order_id", "events.0.revenue", "events.1.name"])
    assert (await count_events(harness))["*"] == 0


async def test_same_event_id_is_stored_once_and_reported_as_duplicate(harness: Harness) -> None:
    """Idempotency: a retry after a timeout is safe; repeats inside one batch too."""
    key = await harness.mint("events:write")
    first = await post_events(harness, key, [purchase("1"), purchase("1"), page_view(5)])
    assert first.json()["accepted"] == 2
    assert first.json()["duplicate_events"] == [{"index": 1, "event_id": "order-1"}]
    retry = await post_events(harness, key, [purchase("1"), page_view(5), page_view(6)])
    assert retry.status_code == 200
    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (1, 2)
    assert [d["index"] for d in retry.json()["duplicate_events"]] == [0, 1]
    all_duplicates = await post_events(harness, key, purchase("1"))
    assert all_duplicates.status_code == 200 and all_duplicates.json()["duplicates"] == 1
    assert await count_events(harness) == {"*": 3, "page_view": 2, "purchase": 1}


async def test_event_ids_are_per_pixel(harness: Harness) -> None:
    other = await harness.create_pixel(name="other")
    key = await harness.mint("events:write", pixels=None)
    for pixel in (harness.pixel_id, other):
        response = await harness.client.post(TRACK, json=purchase("7"),
                                             headers=harness.headers(key, pixel))
        assert response.json()["accepted"] == 1


async def test_events_without_id_are_never_collapsed(harness: Harness) -> None:
    key = await harness.mint("events:write")
    same = {"name": "signup", "anonymous_id": "a", "timestamp": 1_763_640_000_000}
    await post_events(harness, key, [same, same])
    await post_events(harness, key, same)
    assert (await count_events(harness))["signup"] == 3


@pytest.mark.parametrize("raw", [
    b'{"name": "page_view",',  # malformed JSON
    b"",
    b'"page_view"',
    b'{"events": {"name": "x"}}',
    b"[]",
], ids=["malformed", "empty", "string", "events-not-array", "no-events"])
async def test_unusable_bodies_are_400(harness: Harness, raw: bytes) -> None:
    key = await harness.mint("events:write")
    assert_upstack_error(await post_events(harness, key, None, raw=raw), 400)
    assert (await count_events(harness))["*"] == 0


async def test_too_many_items_is_400_and_writes_nothing(harness: Harness) -> None:
    key = await harness.mint("events:write")
    response = await post_events(harness, key, [page_view(i) for i in range(1001)])
    assert_upstack_error(response, 400, fields=["events"])
    assert "at most 1000" in response.json()["errors"][0]["message"]
    assert (await count_events(harness))["*"] == 0


async def test_limits_come_from_settings(settings: Settings, clock: Clock) -> None:
    """GATEWAY_EVENTS_MAX_BATCH / _MAX_BODY_BYTES / _MAX_PROPERTIES_BYTES."""
    small = replace(settings, events_max_batch=2, events_max_body_bytes=2000,
                    events_max_properties_bytes=20)
    assert Settings.from_environ({"GATEWAY_EVENTS_MAX_BATCH": "2",
                                  "GATEWAY_EVENTS_MAX_BODY_BYTES": "2000",
                                  "GATEWAY_EVENTS_MAX_PROPERTIES_BYTES": "20"}) == replace(
        Settings(), events_max_batch=2, events_max_body_bytes=2000,
        events_max_properties_bytes=20)
    app = create_app(small, clock=clock)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        h = Harness(client=client, state=app.state.gateway, clock=clock)
        h.organization_id = await h.create_organization()
        h.pixel_id = await h.create_pixel()
        key = await h.mint("events:write")
        assert (await post_events(h, key, [page_view(i) for i in range(3)])).status_code == 400
        big = [page_view(0, properties={"blob": "x" * 3000})]
        assert_upstack_error(await post_events(h, key, big), 413)
        fat = await post_events(h, key, [page_view(1, properties={"k": "x" * 30}),
                                         page_view(2)])
        assert fat.json()["errors"][0]["key"] == "events.0.properties"
        assert "at most 20 bytes" in fat.json()["errors"][0]["message"]


@pytest.mark.parametrize(("scopes", "send_key", "status"), [
    (("events:write",), True, 200),
    (("track:events",), True, 200),  # alias
    (("analytics:read",), True, 403),
    ((), False, 401),
])
async def test_scope_matrix(harness: Harness, scopes: tuple[str, ...], send_key: bool,
                            status: int) -> None:
    key = await harness.mint(*scopes) if scopes else None
    response = await harness.client.post(TRACK, json=page_view(),
                                         headers=harness.headers(key, harness.pixel_id))
    assert response.status_code == status, response.text
    if status != 200:
        assert_upstack_error(response, status)


async def test_twenty_five_concurrent_clients_lose_nothing(harness: Harness) -> None:
    """Concurrency (issue #4): ≥ 20 clients post at once; every event is counted back,
    including each client's retry of its first batch (all duplicates)."""
    key = await harness.mint("events:write")
    clients, batches, size = 25, 4, 50

    async def client(c: int) -> list[int]:
        accepted = []
        for b in range(batches):
            events = [page_view(c * 10_000 + b * 100 + i) for i in range(size)]
            events += [{"name": "ping", "anonymous_id": f"c{c}"}]  # no event_id: always stored
            response = await post_events(harness, key, events)
            assert response.status_code == 200, response.text
            accepted.append(response.json()["accepted"])
        retry = await post_events(harness, key, [page_view(c * 10_000 + i) for i in range(size)])
        assert retry.json()["duplicates"] == size
        return accepted

    results = await asyncio.gather(*(client(c) for c in range(clients)))
    assert all(a == [size + 1] * batches for a in results)
    counts = await count_events(harness)
    assert counts == {"*": clients * batches * (size + 1), "page_view": clients * batches * size,
                      "ping": clients * batches}


@pytest.mark.parametrize(("field", "value"), [
    ("impressions", 2**63),
    ("impressions", 2**53),
    ("clicks", -1),
    ("clicks", 1e300),
    ("revenue", 1e15),
    ("revenue", 1e300),
    ("spend", 10**18),
    ("timestamp", "9" * 400),
    ("timestamp", "²"),
    ("timestamp", 10**18),
])
async def test_out_of_range_numbers_are_field_errors_not_storage_errors(
        harness: Harness, field: str, value: Any) -> None:
    """Rule (issue #10): ten valid events plus one out-of-range value store the ten and
    reject the one with a field error at events.10.<field>; never 503 or 500."""
    key = await harness.mint("events:write")
    events = [page_view(i) for i in range(10)] + [page_view(10, **{field: value})]
    response = await post_events(harness, key, events)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (10, 1)
    assert [e["key"] for e in body["errors"]] == [f"events.10.{field}"]
    assert (await count_events(harness))["*"] == 10


def _db_path(settings: Settings) -> str:
    return settings.database_url.removeprefix("sqlite+aiosqlite:///")


async def test_a_row_the_database_refuses_is_rejected_alone_and_logged(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #10): one bad event is one rejected event. Ten valid events plus one the
    database refuses: 200, the ten stored, the one reported at events.10, the refusal logged
    (index, pixel, reason) without the event's values."""
    await add_poison_trigger(harness.state.db)
    key = await harness.mint("events:write")
    secret_ish = "user-4242-private"
    events = [page_view(i) for i in range(10)]
    events.append(page_view(10, campaign="poison", anonymous_id=secret_ish))
    with caplog.at_level("WARNING", logger="gateway.events"):
        response = await post_events(harness, key, events)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (11, 10, 1)
    assert body["errors"] == [{"index": 10, "key": "events.10", "path": ["events", 10],
                               "message": "the database refused this event; it was not stored"}]
    assert (await count_events(harness))["*"] == 10
    logged = [r.getMessage() for r in caplog.records if r.name == "gateway.events"]
    assert len(logged) == 1 and "event 10" in logged[0] and "poison row" in logged[0]
    assert harness.pixel_id in logged[0] and secret_ish not in logged[0]
    # The client's retry is not stuck: the ten are duplicates now, the poison still refused.
    again = (await post_events(harness, key, events)).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 10, 1)


async def test_only_refused_rows_is_400(harness: Harness) -> None:
    """Nothing usable, whether the validator or the database said so: 400 with each event."""
    await add_poison_trigger(harness.state.db)
    key = await harness.mint("events:write")
    response = await post_events(harness, key, [page_view(i, campaign="poison")
                                                for i in range(2)])
    assert_upstack_error(response, 400, fields=["events.0", "events.1"])


@pytest.mark.sqlite_only("SQLite's write lock and busy timeout; a PostgreSQL writer waits for "
                         "row locks only, bounded by the statement time limit")
async def test_a_locked_database_is_503_and_logged(
        settings: Settings, clock: Clock, dns: Dns, caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #10): 503 STORAGE_UNAVAILABLE only when the database cannot take the write
    (here: locked by another process past the busy timeout); nothing stored; logged.

    The short timeout is the app's from the start (issue #11): disposing the engine of a
    running app to shorten it abandoned whatever connection the background folder held at
    that moment, whose aiosqlite thread later died on a closed event loop in another test."""
    import sqlite3

    async with open_harness(replace(settings, sqlite_busy_timeout_seconds=0.05), clock,
                            resolver=dns) as harness:
        harness.organization_id = await harness.create_organization()
        harness.pixel_id = await harness.create_pixel()
        key = await harness.mint("events:write")
        holder = sqlite3.connect(_db_path(settings), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with caplog.at_level("ERROR", logger="gateway.events"):
                response = await post_events(harness, key, [page_view(i) for i in range(3)])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert_upstack_error(response, 503)
        assert any("database is locked" in r.getMessage() for r in caplog.records)
        assert (await count_events(harness))["*"] == 0
