"""Upstack server-side tracking: `POST /tr/api/events` (scope events:write).

Body: one event object, a JSON array of events, or `{"events": [...]}` (README "Events").
Field names are snake_case, as in README "Events". Answer, 200 whenever at least one event
was usable (stored or a duplicate):

    {"received": 3, "accepted": 1, "duplicates": 1, "rejected": 1,
     "errors": [{"index": 2, "message": "purchase needs order_id",
                 "key": "events.2.order_id", "path": ["events", 2, "order_id"]}],
     "duplicate_events": [{"index": 1, "event_id": "ord-1042"}]}

Paths always read `events.<index>.<field>`, whichever body form was sent. 400 with the
Upstack error body when nothing is usable, the JSON is malformed or the batch is too long;
413 past `events_max_body_bytes`.
"""

from __future__ import annotations

from typing import Any, Required

from starlette.requests import Request
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.errors import InvalidInput
from gateway.rest.base import read_json, resolver_info
from gateway.rest.upstack.surface import surface
from gateway.types.events import TrackEventsResult
from resolvers import events as resolvers

__all__ = ["TrackBody", "routes", "track_body", "track_events"]


class Event(TypedDict, total=False):
    # The fields of README "Events"; which ones an event name needs is the service's check.
    name: Required[str]
    event_id: str
    timestamp: str | int  # ISO 8601, or epoch milliseconds
    date: str
    anonymous_id: str
    user_id: str
    session_id: str
    url: str
    path: str
    referrer: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    country: str
    device: str
    revenue: float
    value: float
    amount: float
    currency: str
    order_id: str
    new_customer: bool
    platform: str
    campaign: str
    spend: float
    impressions: int
    clicks: int
    properties: dict[str, Any]


class EventBatch(TypedDict):
    events: list[Event]


class EventErrorBody(TypedDict):
    index: int
    message: str
    key: str
    path: list[str | int]


class DuplicateBody(TypedDict):
    index: int
    event_id: str


class TrackBody(TypedDict):
    received: int
    accepted: int
    duplicates: int
    rejected: int
    errors: list[EventErrorBody]
    duplicate_events: list[DuplicateBody]


def _items(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list):
                raise InvalidInput.field("events must be an array of event objects", "events")
            return events
        return [body]
    raise InvalidInput.field(
        'body must be an event object, an array of events, or {"events": [...]}', "body")


def track_body(result: TrackEventsResult) -> TrackBody:
    return {
        "received": result.received,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "errors": [{"index": e.index, "message": e.detail.message, "key": e.detail.key,
                    "path": list(e.detail.path)} for e in result.errors],
        "duplicate_events": [{"index": d.index, "event_id": d.event_id}
                             for d in result.duplicate_events],
    }


async def track_events(ctx: Context, request: Request) -> TrackBody:
    """Store server-side events: one event, a list of events, or {"events": [...]}"""
    body = await read_json(request, ctx.settings.events_max_body_bytes)
    return track_body(await resolvers.track_events(resolver_info(ctx), _items(body)))


def routes() -> list[Route]:
    return [surface.route("POST", "/tr/api/events", track_events, twin="Mutation.trackEvents",
                          scope="events:write", body=Event | list[Event] | EventBatch,
                          response=TrackBody)]
