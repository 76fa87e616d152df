"""Validation of one incoming event: a plain-Python check on the ingestion hot path.

`check_event(item, index, ctx)` returns a storage row (a tuple in `EVENT_COLUMNS` order) or
the list of `FieldError`s that make it unusable; paths are `("events", index, field)`.
It costs a few microseconds per event (no model objects; one pass over the item's keys).

Field names are the Python names, which are also the REST wire names (snake_case):

    name (required) event_id timestamp date anonymous_id user_id session_id url path referrer
    utm_source utm_medium utm_campaign utm_content utm_term country device revenue value
    amount currency order_id new_customer platform campaign spend impressions clicks properties

Rules (README "Events"): null counts as absent and "" as absent for text; unknown fields are
errors (custom data belongs in `properties`); `timestamp` is ISO 8601 (no offset = UTC) or
epoch milliseconds, at most a day ahead and not before 2000; `date` (YYYY-MM-DD) is midnight
in the pixel's time zone; neither means the time of receipt. Numbers are range-checked here,
so the database never sees a value it cannot store (`BOUNDS` is the one table):
`impressions`/`clicks` whole numbers 0..2^53-1, amounts (`revenue`/`value`/`amount`,
`spend`) finite, 0 <= x < 10^15, `timestamp` text at most 64 characters. Per name:

    page_view   url or path (path is derived from url when absent)
    purchase    order_id and revenue (or value)
    refund      order_id and revenue (or amount/value): the refunded amount
    ad_spend    platform, spend, and date or timestamp
    all but ad_spend and refund: anonymous_id or user_id
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson

from gateway.errors import FieldError
from gateway.storage.events import EVENT_COLUMNS

__all__ = ["BOUNDS", "EVENT_FIELDS", "MAX_AMOUNT", "MAX_COUNT", "Row", "RuleContext",
           "check_event"]

Row = tuple[Any, ...]
_N = len(EVENT_COLUMNS)
_SLOT = {c: i for i, c in enumerate(EVENT_COLUMNS)}
_NAME, _TS, _RECEIVED = _SLOT["name"], _SLOT["ts"], _SLOT["received_at"]
_PIXEL, _ANON, _USER = _SLOT["pixel_id"], _SLOT["anonymous_id"], _SLOT["user_id"]
_URL, _PATH, _REVENUE = _SLOT["url"], _SLOT["path"], _SLOT["revenue"]
_CURRENCY, _ORDER, _PLATFORM = _SLOT["currency"], _SLOT["order_id"], _SLOT["platform"]
_SPEND, _PROPS = _SLOT["spend"], _SLOT["properties"]

MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
_FUTURE_MS = 86_400_000  # clock skew tolerated: one day

# The numeric bounds, one home. Counts: below 2^53 they are exact as JSON numbers in every
# client (IEEE doubles) and fit SQLite's and PostgreSQL's 64-bit integers with room for sums.
# Amounts: a quadrillion in any currency is not a purchase; below it a million of them
# still sum to a finite double. Timestamps: epoch ms have 13 digits and ISO 8601 text ~35
# characters; longer text is refused before it is parsed (a 400-digit string was an
# OverflowError).
MAX_COUNT = 2**53 - 1
MAX_AMOUNT = 1e15
MAX_TIMESTAMP_CHARS = 64
BOUNDS: dict[str, str] = {
    "impressions": f"a whole number from 0 to {MAX_COUNT:,}",
    "clicks": f"a whole number from 0 to {MAX_COUNT:,}",
    "revenue": f"a number ≥ 0 and < {MAX_AMOUNT:,.0f}",
    "value": f"a number ≥ 0 and < {MAX_AMOUNT:,.0f}",
    "amount": f"a number ≥ 0 and < {MAX_AMOUNT:,.0f}",
    "spend": f"a number ≥ 0 and < {MAX_AMOUNT:,.0f}",
    "timestamp": f"ISO 8601 or epoch milliseconds, at most {MAX_TIMESTAMP_CHARS} characters",
}
_AMOUNTS = frozenset({"revenue", "value", "amount"})

# Text fields stored in the column of the same name, with the column's length limit.
_TEXT: dict[str, tuple[int, int]] = {
    f: (_SLOT[f], n) for f, n in {
        "event_id": 128, "anonymous_id": 128, "user_id": 128, "session_id": 128,
        "url": 2048, "path": 2048, "referrer": 2048, "utm_source": 256, "utm_medium": 256,
        "utm_campaign": 256, "utm_content": 256, "utm_term": 256, "device": 32,
        "order_id": 128, "campaign": 256,
    }.items()
}
# Identifiers commonly sent as numbers (order 1042): accepted as integers and stored as text.
_NUMERIC_IDS = frozenset({"event_id", "user_id", "order_id", "session_id", "anonymous_id"})


@dataclass(frozen=True)
class RuleContext:
    """What validation needs besides the item: the pixel, the time of receipt, the limits."""

    pixel_id: str
    received_ms: int
    timezone: ZoneInfo
    currency: str
    max_properties_bytes: int


class _Invalid(Exception):
    """One field's problem inside a handler (message only; the caller adds the path)."""


def _number(value: Any) -> float:
    """An amount: finite, 0 <= x < MAX_AMOUNT (ints are compared before conversion, so a
    huge one is a field error, not an OverflowError)."""
    if type(value) is float or type(value) is int:
        if type(value) is float and not math.isfinite(value):
            raise _Invalid("must be a finite number")
        if value < 0:
            raise _Invalid("must be ≥ 0")
        if value >= MAX_AMOUNT:
            raise _Invalid(f"must be {BOUNDS['revenue']}")
        return float(value)
    raise _Invalid("must be a number")


def _count(value: Any) -> int:
    if type(value) is float and value.is_integer():  # 31.0 is 31; inf and nan are not
        value = int(value)
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    raise _Invalid(f"must be {BOUNDS['clicks']}")


def _code(value: Any, length: int, what: str) -> str:
    if type(value) is str and len(value) == length and value.isascii() and value.isalpha():
        return value.upper()
    raise _Invalid(f"must be a {length}-letter {what} code")


def parse_timestamp(value: Any, received_ms: int) -> int:
    """Epoch ms from ISO 8601 text or epoch ms (integer, or ASCII digits as text)."""
    if type(value) is str:
        if len(value) > MAX_TIMESTAMP_CHARS:
            raise _Invalid(f"must be {BOUNDS['timestamp']}")
        if value.isascii() and value.isdigit():  # not "²": str.isdigit takes any digit
            value = int(value)
    if type(value) is int or type(value) is float:
        if type(value) is float and not math.isfinite(value):
            raise _Invalid("must be ISO 8601 or epoch milliseconds")
        ms = int(value)
        if ms < MIN_TS_MS:
            if MIN_TS_MS // 1000 <= ms < 10_000_000_000:
                raise _Invalid("looks like epoch seconds; send epoch milliseconds")
            raise _Invalid("is before 2000-01-01")
    elif type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid("must be ISO 8601 or epoch milliseconds") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = int(parsed.timestamp() * 1000)
        if ms < MIN_TS_MS:
            raise _Invalid("is before 2000-01-01")
    else:
        raise _Invalid("must be ISO 8601 or epoch milliseconds")
    if ms > received_ms + _FUTURE_MS:
        raise _Invalid("is more than a day in the future")
    return ms


def _set_name(row: list[Any], value: Any, ctx: RuleContext) -> None:
    if type(value) is not str or not value.strip():
        raise _Invalid("must be a non-empty string")
    if len(value) > 128:
        raise _Invalid("must be at most 128 characters")
    row[_NAME] = value.strip()


def _set_timestamp(row: list[Any], value: Any, ctx: RuleContext) -> None:
    row[_TS] = parse_timestamp(value, ctx.received_ms)


def _set_date(row: list[Any], value: Any, ctx: RuleContext) -> None:
    try:
        day = date.fromisoformat(value) if type(value) is str and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise _Invalid("must be a date, YYYY-MM-DD")
    local = datetime(day.year, day.month, day.day, tzinfo=ctx.timezone)
    row[_TS] = parse_timestamp(int(local.timestamp() * 1000), ctx.received_ms)
    row[_N] = True  # remember that `date` was given (checked against `timestamp`)


def _set_revenue(row: list[Any], value: Any, ctx: RuleContext) -> None:
    if row[_REVENUE] is not None:
        raise _Invalid("send one of revenue, value or amount")
    row[_REVENUE] = _number(value)


def _setter(slot: int,
            parse: Callable[[Any], Any]) -> Callable[[list[Any], Any, RuleContext], None]:
    def set_value(row: list[Any], value: Any, ctx: RuleContext) -> None:
        row[slot] = parse(value)
    return set_value


def _set_platform(row: list[Any], value: Any, ctx: RuleContext) -> None:
    if type(value) is not str or not value.strip() or len(value) > 32:
        raise _Invalid("must be a platform name (meta, google, tiktok, …), at most 32 characters")
    row[_PLATFORM] = value.strip().lower()


def _set_new_customer(row: list[Any], value: Any, ctx: RuleContext) -> None:
    if type(value) is not bool:
        raise _Invalid("must be true or false")
    row[_SLOT["new_customer"]] = value


def _set_properties(row: list[Any], value: Any, ctx: RuleContext) -> None:
    if type(value) is not dict:
        raise _Invalid("must be a JSON object")
    if not value:
        return
    try:
        text = orjson.dumps(value)
    except TypeError as exc:  # only reachable from Python callers; JSON input always encodes
        raise _Invalid(f"must be JSON-serializable: {exc}") from None
    if len(text) > ctx.max_properties_bytes:
        raise _Invalid(f"must be at most {ctx.max_properties_bytes} bytes as JSON "
                       f"(got {len(text)})")
    row[_PROPS] = text.decode()


_SPECIAL: dict[str, Callable[[list[Any], Any, RuleContext], None]] = {
    "name": _set_name,
    "timestamp": _set_timestamp,
    "date": _set_date,
    "revenue": _set_revenue,
    "value": _set_revenue,
    "amount": _set_revenue,
    "currency": _setter(_CURRENCY, lambda v: _code(v, 3, "ISO 4217 currency")),
    "country": _setter(_SLOT["country"], lambda v: _code(v, 2, "ISO 3166 country")),
    "new_customer": _set_new_customer,
    "platform": _set_platform,
    "spend": _setter(_SPEND, _number),
    "impressions": _setter(_SLOT["impressions"], _count),
    "clicks": _setter(_SLOT["clicks"], _count),
    "properties": _set_properties,
}

EVENT_FIELDS: tuple[str, ...] = ("name", "event_id", "timestamp", "date", *(
    f for f in (*_TEXT, *_SPECIAL) if f not in ("name", "event_id", "timestamp", "date")))


def _text(field: str, value: Any) -> str | None:
    if type(value) is not str:
        if type(value) is int and field in _NUMERIC_IDS:
            return str(value)
        raise _Invalid("must be a string")
    return value or None


def check_event(item: Any, index: int, ctx: RuleContext) -> Row | list[FieldError]:
    """A storage row for a valid event, else its errors (every problem, not just the first)."""
    if type(item) is not dict:
        return [FieldError("each event must be a JSON object", ("events", index))]
    # One extra slot at the end flags "date given"; it is cut off before returning.
    row: list[Any] = [None] * (_N + 1)
    errors: list[FieldError] = []
    for field, value in item.items():
        if value is None:
            continue
        try:
            text = _TEXT.get(field)
            if text is not None:
                slot, limit = text
                given = _text(field, value)
                if given is not None and len(given) > limit:
                    raise _Invalid(f"must be at most {limit} characters")
                row[slot] = given
                continue
            handler = _SPECIAL.get(field)
            if handler is None:
                raise _Invalid("unknown field; put custom data in properties")
            handler(row, value, ctx)
        except _Invalid as exc:
            errors.append(FieldError(f"{field} {exc}", ("events", index, field)))
    name = row[_NAME]
    if errors:
        # A field already reported as wrong is not reported again as missing.
        bad = {e.path[-1] for e in errors}
        if name is None and "name" not in bad:
            errors.append(FieldError("name is required", ("events", index, "name")))
        errors.extend(FieldError(message, ("events", index, field))
                      for field, message in _name_rules(name, row)
                      if field not in bad and not (field == "revenue" and bad & _AMOUNTS))
        return errors
    if name is None:
        errors.append(FieldError("name is required", ("events", index, "name")))
    if row[_N] and item.get("timestamp") is not None:
        errors.append(FieldError("send date or timestamp, not both", ("events", index, "date")))
    for field, message in _name_rules(name, row):
        errors.append(FieldError(message, ("events", index, field)))
    if errors:
        return errors
    row[_PIXEL] = ctx.pixel_id
    row[_RECEIVED] = ctx.received_ms
    if row[_TS] is None:
        row[_TS] = ctx.received_ms
    if row[_CURRENCY] is None and (row[_REVENUE] is not None or row[_SPEND] is not None):
        row[_CURRENCY] = ctx.currency
    if row[_PATH] is None and row[_URL] is not None:
        row[_PATH] = urlsplit(row[_URL]).path or "/"
    del row[_N]
    return tuple(row)


def _name_rules(name: str | None, row: list[Any]) -> list[tuple[str, str]]:
    """(field, message) for what this event name requires and is missing."""
    missing: list[tuple[str, str]] = []
    if name == "page_view":
        if row[_URL] is None and row[_PATH] is None:
            missing.append(("url", "page_view needs url or path"))
    elif name == "purchase":
        if row[_ORDER] is None:
            missing.append(("order_id", "purchase needs order_id"))
        if row[_REVENUE] is None:
            missing.append(("revenue", "purchase needs revenue"))
    elif name == "refund":
        if row[_ORDER] is None:
            missing.append(("order_id", "refund needs order_id"))
        if row[_REVENUE] is None:
            missing.append(("revenue", "refund needs revenue (the refunded amount)"))
    elif name == "ad_spend":
        if row[_PLATFORM] is None:
            missing.append(("platform", "ad_spend needs platform"))
        if row[_SPEND] is None:
            missing.append(("spend", "ad_spend needs spend"))
        if row[_TS] is None:
            missing.append(("date", "ad_spend needs date (YYYY-MM-DD) or timestamp"))
    if name not in ("ad_spend", "refund") and name is not None \
            and row[_ANON] is None and row[_USER] is None:
        missing.append(("anonymous_id", f"{name} needs anonymous_id or user_id"))
    return missing
