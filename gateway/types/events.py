"""Event ingestion results and event counts as GraphQL types."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import FieldError

if TYPE_CHECKING:
    from gateway.services.events import EventStats as EventStatsResult
    from gateway.services.events import TrackResult

__all__ = ["DuplicateEvent", "EventError", "EventNameCount", "EventStats",
           "TrackEventsResult", "graphql_path"]

def graphql_path(error: FieldError) -> list[str]:
    """The error's path with GraphQL spellings: ["events", "3", "orderId"]."""
    return [str(p) if isinstance(p, int) else to_camel_case(p) for p in error.path]


@strawberry.type(description="Why one event of the batch was not stored.")
class EventError:
    index: int = strawberry.field(description="Position of the event in the request.")
    message: str
    path: list[str] = strawberry.field(description='E.g. ["events", "3", "orderId"].')
    # The service's error (REST renders it with its own field spellings).
    detail: strawberry.Private[FieldError]


@strawberry.type(description="An event already stored for this pixel (same eventId); "
                 "not stored again. Not an error: retries are safe.")
class DuplicateEvent:
    index: int
    event_id: str


@strawberry.type(description="What happened to a batch of events. Accepted events are "
                 "committed before this result is returned.")
class TrackEventsResult:
    received: int
    accepted: int = strawberry.field(description="Stored by this request.")
    duplicates: int = strawberry.field(description="Already stored (same eventId); skipped.")
    rejected: int = strawberry.field(description="Invalid events; see `errors`.")
    errors: list[EventError]
    duplicate_events: list[DuplicateEvent]

    @classmethod
    def from_result(cls, result: TrackResult) -> TrackEventsResult:
        return cls(
            received=result.received, accepted=result.accepted,
            duplicates=len(result.duplicates), rejected=result.rejected,
            errors=[EventError(index=e.index, message=e.error.message,
                               path=graphql_path(e.error), detail=e.error)
                    for e in result.errors],
            duplicate_events=[DuplicateEvent(index=d.index, event_id=d.event_id)
                              for d in result.duplicates],
        )


@strawberry.type
class EventNameCount:
    name: str
    count: int


@strawberry.type(description="How many events this pixel holds.")
class EventStats:
    total: int
    by_name: list[EventNameCount] = strawberry.field(description="Most frequent first.")

    @classmethod
    def from_result(cls, stats: EventStatsResult) -> EventStats:
        return cls(total=stats.total,
                   by_name=[EventNameCount(name=n, count=c) for n, c in stats.by_name])
