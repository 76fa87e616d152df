"""Reading Upstack request bodies and query values into Python values, with field errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.errors import InvalidInput
from gateway.limits import as_utc

__all__ = ["object_body", "parse_time", "string_field", "strings_field"]


def parse_time(value: Any, field: str) -> datetime | None:
    """An ISO 8601 string (UTC when it has no offset) or null, as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInput.field("expected an ISO 8601 date-time", field)
    return as_utc(parsed, field)


def object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput.field("expected a JSON object", "body")
    return body


def strings_field(body: dict[str, Any], field: str) -> list[str] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput.field("expected a list of strings", field)
    return value


def string_field(body: dict[str, Any], field: str, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str):
        raise InvalidInput.field("expected a string", field)
    return value
