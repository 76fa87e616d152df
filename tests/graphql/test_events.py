"""trackEvents and eventStats over GraphQL: same service and rules as REST (issue #4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Harness, assert_graphql_error
from tests.support_db import add_poison_trigger
from tests.support_events import count_events, page_view, purchase

TRACK = """
mutation Track($events: [EventInput!]!) {
  trackEvents(events: $events) {
    received accepted duplicates rejected
    errors { index message path }
    duplicateEvents { index eventId }
  }
}"""


def gql_event(e: dict[str, Any]) -> dict[str, Any]:
    """The same event with GraphQL field names."""
    from strawberry.utils.str_converters import to_camel_case

    return {to_camel_case(k): v for k, v in e.items()}


async def test_track_events_partial_batch_and_duplicates(harness: Harness) -> None:
    key = await harness.mint("events:write")
    events = [gql_event(page_view(1)), gql_event(purchase("5")),
              {"name": "purchase", "userId": "u", "revenue": 3.0}, gql_event(purchase("5"))]
    body = await harness.graphql(TRACK, {"events": events}, key=key, pixel=harness.pixel_id)
    assert "errors" not in body, body
    result = body["data"]["trackEvents"]
    assert (result["received"], result["accepted"], result["duplicates"], result["rejected"]) == (
        4, 2, 1, 1)
    assert result["errors"] == [{"index": 2, "message": "purchase needs order_id",
                                 "path": ["events", "2", "orderId"]}]
    assert result["duplicateEvents"] == [{"index": 3, "eventId": "order-5"}]
    assert await count_events(harness) == {"*": 2, "page_view": 1, "purchase": 1}


async def test_timestamp_takes_iso_text_and_epoch_ms(harness: Harness) -> None:
    key = await harness.mint("events:write")
    events = [{"name": "x", "anonymousId": "a", "timestamp": 1_795_000_000_000},
              {"name": "x", "anonymousId": "a", "timestamp": "2026-11-20T11:00:00Z"},
              {"name": "x", "anonymousId": "a", "timestamp": 1_795_000_000},
              {"name": "x", "anonymousId": "a", "properties": {"plan": "pro", "seats": 3}}]
    body = await harness.graphql(TRACK, {"events": events}, key=key, pixel=harness.pixel_id)
    result = body["data"]["trackEvents"]
    assert result["accepted"] == 3
    assert result["errors"][0]["path"] == ["events", "2", "timestamp"]


async def test_nothing_usable_is_invalid_input_with_graphql_paths(harness: Harness) -> None:
    key = await harness.mint("events:write")
    body = await harness.graphql(TRACK, {"events": [{"name": "purchase", "anonymousId": "a"}]},
                                 key=key, pixel=harness.pixel_id)
    assert_graphql_error(body, "INVALID_INPUT", path=["trackEvents"])
    details = body["errors"][0]["extensions"]["details"]
    assert [d["path"] for d in details] == [["events", "0", "orderId"],
                                            ["events", "0", "revenue"]]


async def test_too_many_events(harness: Harness) -> None:
    key = await harness.mint("events:write")
    events = [{"name": "x", "anonymousId": "a"}] * 1001
    body = await harness.graphql(TRACK, {"events": events}, key=key, pixel=harness.pixel_id)
    assert_graphql_error(body, "INVALID_INPUT")
    assert "at most 1000 events" in body["errors"][0]["message"]


@pytest.mark.parametrize(("scopes", "code"), [
    (("analytics:read",), "INSUFFICIENT_SCOPE"),
    ((), "AUTH_REQUIRED"),
])
async def test_track_events_needs_events_write(harness: Harness, scopes: tuple[str, ...],
                                               code: str) -> None:
    key = await harness.mint(*scopes) if scopes else None
    body = await harness.graphql(TRACK, {"events": [{"name": "x", "anonymousId": "a"}]},
                                 key=key, pixel=harness.pixel_id if key else None)
    assert_graphql_error(body, code)


async def test_event_stats_needs_analytics_read(harness: Harness) -> None:
    key = await harness.mint("events:write")
    body = await harness.graphql("{ eventStats { total } }", key=key, pixel=harness.pixel_id)
    assert_graphql_error(body, "INSUFFICIENT_SCOPE")


async def test_out_of_range_values_in_the_document_are_field_errors(harness: Harness) -> None:
    """Rule (issue #10): a 400-digit timestamp or a revenue of 1e300 written into the document
    (where JSON's 64-bit limit does not apply) is a field error for that event, not a 500."""
    key = await harness.mint("events:write")
    ok = '{name: "signup", anonymousId: "a"}'
    huge = "9" * 400
    query = f"""mutation {{ trackEvents(events: [{ok},
        {{name: "signup", anonymousId: "a", timestamp: {huge}}},
        {{name: "signup", anonymousId: "a", timestamp: "{huge}"}},
        {{name: "purchase", userId: "u", orderId: "1", revenue: 1e300}}]) {{
        accepted rejected errors {{ index path }} }} }}"""
    body = await harness.graphql(query, key=key, pixel=harness.pixel_id)
    assert "errors" not in body, body
    result = body["data"]["trackEvents"]
    assert (result["accepted"], result["rejected"]) == (1, 3)
    assert [e["path"] for e in result["errors"]] == [
        ["events", "1", "timestamp"], ["events", "2", "timestamp"], ["events", "3", "revenue"]]


async def test_a_row_the_database_refuses_is_rejected_alone(harness: Harness) -> None:
    """Rule (issue #10): same isolation as REST (one service): the refused event is an
    error at ["events", "<i>"], the others are stored."""
    await add_poison_trigger(harness.state.db)
    key = await harness.mint("events:write")
    events = [gql_event(page_view(i)) for i in range(3)]
    events.insert(1, gql_event(page_view(9, campaign="poison")))
    body = await harness.graphql(TRACK, {"events": events}, key=key, pixel=harness.pixel_id)
    result = body["data"]["trackEvents"]
    assert (result["accepted"], result["rejected"]) == (3, 1)
    assert result["errors"] == [{"index": 1, "path": ["events", "1"],
                                 "message": "the database refused this event; it was not stored"}]
    assert (await count_events(harness))["*"] == 3
