"""Event ingestion and event counts.

`track_events` is the one operation behind `POST /tr/api/events`, the `trackEvents`
mutation and `gateway import`. Its contract:

- scope `events:write`; the events go to the request's pixel;
- 1..`max_batch` items, else InvalidInput on `events` (nothing is written);
- each item is checked alone (`event_rules.check_event`); valid items are written, invalid
  ones come back with their index and field path; InvalidInput only when no item is valid;
- an item whose `event_id` is already stored for the pixel (or repeated earlier in the
  request) is a duplicate: reported, not stored again, not an error;
- an item the database refuses (a constraint, a value it cannot store) is rejected alone,
  like an invalid one, with the error at `("events", index)`; the others are stored. The
  refusal is logged (pixel, index, the driver's reason; never the event's values);
- the response is built only after the transaction committed, so every item reported as
  accepted is durable; a storage failure (the database cannot take the write at all)
  acknowledges nothing (StorageUnavailable), and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.auth.policy import require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.errors import FieldError, GatewayError, InvalidInput, NotFound, StorageUnavailable
from gateway.services.event_rules import Row, RuleContext, check_event
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.event_writer import EVENT_ID, StorageError
from gateway.storage.events import count_events_by_name
from gateway.storage.tenancy import find_pixel

__all__ = [
    "DuplicateEvent",
    "EventStats",
    "IngestLimits",
    "ItemError",
    "TrackResult",
    "event_stats",
    "track_events",
]

log = logging.getLogger("gateway.events")

REFUSED_BY_STORAGE = "the database refused this event; it was not stored"


@dataclass(frozen=True)
class IngestLimits:
    """Per-request limits, from `Settings` (`IngestLimits.from_settings(settings)`)."""

    max_batch: int = 1000
    max_properties_bytes: int = 8192

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestLimits:
        return cls(max_batch=settings.events_max_batch,
                   max_properties_bytes=settings.events_max_properties_bytes)


@dataclass(frozen=True)
class ItemError:
    """One problem with one item: `path` is ("events", index, field)."""

    index: int
    error: FieldError


@dataclass(frozen=True)
class DuplicateEvent:
    index: int
    event_id: str


@dataclass(frozen=True)
class TrackResult:
    received: int
    accepted: int
    duplicates: list[DuplicateEvent]
    errors: list[ItemError]

    @property
    def rejected(self) -> int:
        """Items with at least one error (an item may have several)."""
        return len({e.index for e in self.errors})


async def track_events(db: Database, principal: Principal | None, events: Sequence[object], *,
                       now: datetime, limits: IngestLimits) -> TrackResult:
    """Validate and store `events` for the principal's pixel (see the module docstring).

    Raises AuthRequired/InsufficientScope, InvalidInput (bad batch, or no valid item),
    StorageUnavailable (nothing acknowledged; retry with the same event ids). Past the scope
    check every event counts once in the metrics: accepted, duplicate or rejected (a refused
    batch rejects them all).
    """
    found = require_scope(principal, "events:write")
    pixel_id = require_pixel(found)
    try:
        result = await _track(db, pixel_id, events, now=now, limits=limits)
    except GatewayError:
        if db.metrics is not None:
            db.metrics.observe_events(0, 0, len(events))
        raise
    if db.metrics is not None:
        db.metrics.observe_events(result.accepted, len(result.duplicates), result.rejected)
    return result


async def _track(db: Database, pixel_id: str, events: Sequence[object], *, now: datetime,
                 limits: IngestLimits) -> TrackResult:
    if not events:
        raise InvalidInput.field("at least one event is required", "events")
    if len(events) > limits.max_batch:
        raise InvalidInput.field(
            f"at most {limits.max_batch} events per request (got {len(events)})", "events")
    async with db.session() as session:
        pixel = await find_pixel(session, pixel_id)
    if pixel is None:  # authentication checked the pixel; it was deleted since
        raise NotFound("Pixel not found")
    ctx = RuleContext(pixel_id=pixel_id, received_ms=int(now.timestamp() * 1000),
                      timezone=ZoneInfo(pixel.timezone), currency=pixel.currency,
                      max_properties_bytes=limits.max_properties_bytes)
    rows: list[Row] = []
    indexes: list[int] = []
    errors: list[ItemError] = []
    for index, item in enumerate(events):
        checked = check_event(item, index, ctx)
        if type(checked) is tuple:
            rows.append(checked)
            indexes.append(index)
        else:
            errors.extend(ItemError(index, e) for e in checked)
    if not rows:
        raise InvalidInput("No valid events in the request", details=[e.error for e in errors])
    try:
        outcome = await db.event_writer.write(rows)
    except StorageError as exc:
        log.error("event write failed for pixel %s (%d events, nothing stored): %s",
                  pixel_id, len(rows), exc)
        raise StorageUnavailable() from exc
    for position, reason in sorted(outcome.rejected.items()):
        index = indexes[position]
        log.warning("event %d of a batch for pixel %s refused by the database, not stored: "
                    "%s", index, pixel_id, reason)
        errors.append(ItemError(index, FieldError(REFUSED_BY_STORAGE, ("events", index))))
    errors.sort(key=lambda e: e.index)  # refusals interleave with validation errors
    duplicates = [DuplicateEvent(indexes[p], rows[p][EVENT_ID]) for p in sorted(outcome.duplicates)]
    if outcome.rejected and not outcome.inserted and not duplicates:
        raise InvalidInput("No valid events in the request", details=[e.error for e in errors])
    return TrackResult(received=len(events), accepted=outcome.inserted,
                       duplicates=duplicates, errors=errors)


@dataclass(frozen=True)
class EventStats:
    total: int
    by_name: list[tuple[str, int]]  # (name, count), most frequent first


async def event_stats(db: Database, principal: Principal | None) -> EventStats:
    """How many events the request's pixel holds, per name (scope analytics:read)."""
    found = require_scope(principal, "analytics:read")
    pixel_id = require_pixel(found)
    counts = await count_events_by_name(db, pixel_id)
    return EventStats(total=sum(n for _, n in counts), by_name=counts)
