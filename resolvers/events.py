"""Event ingestion (`trackEvents`) and counts (`eventStats`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.scalars import JSON

from gateway.context import Info
from gateway.errors import FieldError, InvalidInput
from gateway.services import events as service
from gateway.services.event_rules import EVENT_FIELDS
from gateway.types.events import EventStats, TrackEventsResult, graphql_path

__all__ = ["EventInput", "EventsMutation", "EventsQuery", "resolve_event_stats",
           "resolve_track_events", "track_events"]


@strawberry.input(description="One event. Names and rules: README, \"Events\".")
class EventInput:
    name: str = strawberry.field(description="page_view, purchase, refund, ad_spend or custom.")
    event_id: str | None = strawberry.field(
        default=None, description="Idempotency key: the same id twice is stored once.")
    # JSON rather than a custom scalar: it must take both text and numbers past Int's 32 bits.
    timestamp: JSON | None = strawberry.field(
        default=None, description="When it happened: ISO 8601 text (no offset means UTC) or "
        "epoch milliseconds (a number); default: time of receipt.")
    date: str | None = strawberry.field(
        default=None, description="YYYY-MM-DD, midnight in the pixel's time zone (ad_spend).")
    anonymous_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    url: str | None = None
    path: str | None = None
    referrer: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    device: str | None = None
    order_id: str | None = None
    campaign: str | None = None
    revenue: float | None = None
    value: float | None = strawberry.field(default=None, description="Same as revenue.")
    amount: float | None = strawberry.field(default=None, description="Same as revenue.")
    currency: str | None = None
    country: str | None = None
    new_customer: bool | None = None
    platform: str | None = None
    spend: float | None = None
    impressions: int | None = None
    clicks: int | None = None
    properties: JSON | None = strawberry.field(
        default=None, description="Free-form JSON object (size-limited).")

    def as_item(self) -> dict[str, Any]:
        """The event as the service takes it (field names as in README "Events")."""
        return {f: v for f in EVENT_FIELDS if (v := getattr(self, f)) is not None}


async def track_events(info: Info, items: Sequence[object]) -> TrackEventsResult:
    """`trackEvents`, from decoded items: the input's events (`EventInput.as_item`) or the
    REST body's, which the service checks one by one (one bad event is one rejected event)."""
    ctx = info.context
    result = await service.track_events(
        ctx.db, ctx.principal, items, now=ctx.now(),
        limits=service.IngestLimits.from_settings(ctx.settings))
    return TrackEventsResult.from_result(result)


async def resolve_track_events(info: Info, events: list[EventInput]) -> TrackEventsResult:
    try:
        return await track_events(info, [e.as_item() for e in events])
    except InvalidInput as exc:
        if type(exc) is not InvalidInput or not exc.details:
            raise
        raise InvalidInput(exc.message, details=[
            FieldError(d.message, tuple(graphql_path(d))) for d in exc.details]) from exc


async def resolve_event_stats(info: Info) -> EventStats:
    ctx = info.context
    return EventStats.from_result(await service.event_stats(ctx.db, ctx.principal))


@strawberry.type
class EventsQuery:
    event_stats: EventStats = strawberry.field(
        resolver=resolve_event_stats,
        description="Event counts of the request's pixel (scope analytics:read).")


@strawberry.type
class EventsMutation:
    track_events: TrackEventsResult = strawberry.field(
        resolver=resolve_track_events,
        description="Store a batch of events (scope events:write; at most 1,000 by default). "
        "Valid events are stored even when others are invalid; the request fails only when "
        "none is valid.")
