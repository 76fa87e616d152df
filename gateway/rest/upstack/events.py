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

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from gateway.context import Context
from gateway.errors import InvalidInput
from gateway.rest.base import read_json, resolver_info
from gateway.rest.upstack.surface import surface
from gateway.types.events import TrackEventsResult
from resolvers import events as resolvers

__all__ = ["routes", "track_body", "track_events"]


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


def track_body(result: TrackEventsResult) -> dict[str, Any]:
    return {
        "received": result.received,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "errors": [{"index": e.index, **e.detail.as_dict()} for e in result.errors],
        "duplicate_events": [{"index": d.index, "event_id": d.event_id}
                             for d in result.duplicate_events],
    }


async def track_events(ctx: Context, request: Request) -> dict[str, Any]:
    body = await read_json(request, ctx.settings.events_max_body_bytes)
    return track_body(await resolvers.track_events(resolver_info(ctx), _items(body)))


def routes() -> list[Route]:
    return [surface.route("POST", "/tr/api/events", track_events, twin="Mutation.trackEvents")]
