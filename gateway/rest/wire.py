"""How instants are spelled on the REST wire: the one home of every surface's timestamps.

Two spellings are shipped, each kept as its clients know it:

    iso_z       "2026-11-20T12:00:00.000Z"          UTC, milliseconds, Z (ClickStack alerts
                                                    and webhooks, Upstack dashboard views)
    iso_offset  "2026-11-20T12:00:00.123456+00:00"  Python's isoformat of the stored UTC
                                                    instant (Upstack keys, users, audit log)

`iso_offset` maps None to None (a key never used has `lastUsedAt: null`). A new surface picks
one of these rather than writing its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["iso_offset", "iso_z"]


def iso_z(value: datetime) -> str:
    """`value` in UTC to the millisecond, with a `Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@overload
def iso_offset(value: datetime) -> str: ...
@overload
def iso_offset(value: None) -> None: ...
@overload
def iso_offset(value: datetime | None) -> str | None: ...
def iso_offset(value: datetime | None) -> str | None:
    """`value` as stored (aware UTC), in Python's ISO 8601 spelling with its offset."""
    return None if value is None else value.isoformat()
