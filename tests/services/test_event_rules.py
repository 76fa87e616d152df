"""Per-event validation rules (issue #4): what each event name needs, times, limits."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import FieldError
from gateway.services.event_rules import EVENT_FIELDS, RuleContext, check_event
from gateway.storage.events import EVENT_COLUMNS

NOW_MS = 1_795_176_000_000  # 2026-11-20T12:00:00Z
CTX = RuleContext(pixel_id="px", received_ms=NOW_MS, timezone=ZoneInfo("America/New_York"),
                  currency="USD", max_properties_bytes=64)


def stored(item: dict[str, Any]) -> dict[str, Any]:
    row = check_event(item, 0, CTX)
    assert isinstance(row, tuple), row
    return dict(zip(EVENT_COLUMNS, row, strict=True))


def problems(item: Any) -> list[tuple[str, str]]:
    found = check_event(item, 4, CTX)
    assert isinstance(found, list), found
    assert all(isinstance(e, FieldError) and e.path[:2] == ("events", 4) for e in found)
    return [(e.key.removeprefix("events.4."), e.message) for e in found]


def fields(item: Any) -> list[str]:
    return [f for f, _ in problems(item)]


A = {"anonymous_id": "a"}


@pytest.mark.parametrize(("item", "bad"), [
    ({"name": "page_view", **A}, ["url"]),
    ({"name": "page_view", "path": "/"}, ["anonymous_id"]),
    ({"name": "purchase", **A}, ["order_id", "revenue"]),
    ({"name": "purchase", **A, "order_id": "1", "revenue": -1}, ["revenue"]),
    ({"name": "purchase", **A, "order_id": "1", "revenue": True}, ["revenue"]),
    ({"name": "refund", "order_id": "1"}, ["revenue"]),
    ({"name": "ad_spend"}, ["platform", "spend", "date"]),
    ({"name": "ad_spend", "platform": "meta", "spend": 5, "date": "2026-13-01"}, ["date"]),
    ({"name": "ad_spend", "platform": "meta", "spend": 5, "date": "2026-11-01",
      "timestamp": NOW_MS}, ["date"]),
    ({"name": "", **A}, ["name"]),
    ({**A, "path": "/"}, ["name"]),
    ({"name": "x" * 129, **A}, ["name"]),
    ({"name": "signup", **A, "currency": "dollars"}, ["currency"]),
    ({"name": "signup", **A, "country": "USA"}, ["country"]),
    ({"name": "signup", **A, "new_customer": "yes"}, ["new_customer"]),
    ({"name": "signup", **A, "impressions": 1.5}, ["impressions"]),
    ({"name": "signup", **A, "properties": [1, 2]}, ["properties"]),
    ({"name": "signup", **A, "properties": {"k": "v" * 64}}, ["properties"]),
    ({"name": "signup", **A, "url": "u" * 2049}, ["url"]),
    ({"name": "signup", **A, "utm_source": 5}, ["utm_source"]),
    ({"name": "signup", **A, "utmSource": "g"}, ["utmSource"]),
    ({"name": "signup", **A, "revenue": 1, "value": 1}, ["value"]),
    ({"name": "signup", **A, "spend": float("nan")}, ["spend"]),
])
def test_invalid_events(item: dict[str, Any], bad: list[str]) -> None:
    assert fields(item) == bad


def test_not_an_object() -> None:
    assert check_event([1], 2, CTX) == [FieldError("each event must be a JSON object",
                                                   ("events", 2))]


@pytest.mark.parametrize(("value", "expected"), [
    (1_795_000_000_000, 1_795_000_000_000),
    (1_795_000_000_000.7, 1_795_000_000_000),
    ("1795000000000", 1_795_000_000_000),
    ("2026-11-20T11:00:00Z", 1_795_172_400_000),
    ("2026-11-20T06:00:00-05:00", 1_795_172_400_000),
    ("2026-11-20T11:00:00", 1_795_172_400_000),  # no offset: UTC
    ("2026-11-20T11:00:00.250+00:00", 1_795_172_400_250),
])
def test_timestamps(value: Any, expected: int) -> None:
    assert stored({"name": "x", **A, "timestamp": value})["ts"] == expected


@pytest.mark.parametrize(("value", "message"), [
    (1_795_000_000, "looks like epoch seconds"),
    (12, "before 2000"),
    ("1999-12-31T23:59:59Z", "before 2000"),
    (NOW_MS + 86_400_001, "more than a day in the future"),
    ("yesterday", "ISO 8601 or epoch milliseconds"),
    (True, "ISO 8601 or epoch milliseconds"),
])
def test_bad_timestamps(value: Any, message: str) -> None:
    [(field, text)] = problems({"name": "x", **A, "timestamp": value})
    assert field == "timestamp" and message in text


def test_defaults_and_normalisation() -> None:
    row = stored({"name": " purchase ", "user_id": 77, "order_id": 1042, "value": 10,
                  "url": "https://s.example/a/b?c=1", "country": "gb", "currency": None,
                  "referrer": "", "properties": {}})
    assert (row["name"], row["user_id"], row["order_id"], row["revenue"]) == (
        "purchase", "77", "1042", 10.0)
    assert (row["ts"], row["received_at"], row["pixel_id"]) == (NOW_MS, NOW_MS, "px")
    assert (row["path"], row["country"], row["currency"]) == ("/a/b", "GB", "USD")
    assert row["referrer"] is None and row["properties"] is None


def test_ad_spend_date_is_midnight_in_the_pixel_time_zone() -> None:
    row = stored({"name": "ad_spend", "platform": "Meta", "campaign": "spring", "spend": 12.5,
                  "impressions": 1000, "clicks": 31.0, "date": "2026-11-19"})
    assert row["ts"] == 1_795_064_400_000  # 2026-11-19T05:00:00Z = local midnight (EST)
    assert (row["platform"], row["spend"], row["impressions"], row["clicks"]) == (
        "meta", 12.5, 1000, 31)


def test_refund_amount_is_stored_as_revenue() -> None:
    row = stored({"name": "refund", "order_id": "9", "amount": 4.5, "currency": "eur"})
    assert (row["revenue"], row["currency"]) == (4.5, "EUR")


def test_every_documented_field_is_accepted() -> None:
    """EVENT_FIELDS is the wire vocabulary (README "Events"); none is "unknown"."""
    unknown = [f for f in EVENT_FIELDS if any("unknown field" in m for _, m in
                                               problems({"name": "purchase", f: object()}))]
    assert unknown == []
