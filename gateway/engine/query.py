"""The engine's value objects: what a query asks and what it answers.

Shared contract with the dashboards issue (#6): `EngineQuery` in, `EngineResult` out.
All instants are aware UTC datetimes; ranges are half-open `[start, end)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "And",
    "Bucket",
    "EngineQuery",
    "EngineResult",
    "Filter",
    "Not",
    "Or",
    "Predicate",
    "TimeRange",
]



@dataclass(frozen=True)
class TimeRange:
    """Aware UTC datetimes, half-open `[start, end)`."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("TimeRange needs aware datetimes")
        if self.end <= self.start:
            raise ValueError("TimeRange end must be after start")

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


@dataclass(frozen=True)
class Predicate:
    """`field op value`: `Predicate("utm_source", "in", ("google", "meta"))`.

    Fields and operators are listed by `gateway.engine.fields.FIELDS`; `is_set`/`is_not_set`
    take no value, `in`/`not_in` a tuple, the others one scalar.
    """

    field: str
    op: str
    value: Any = None

    def __post_init__(self) -> None:
        # Frozen all the way down: a list value becomes a tuple, so every query is hashable
        # (the engine caches plans per distinct query: gateway/engine/run.py).
        if isinstance(self.value, list | tuple):
            object.__setattr__(self, "value", _frozen(self.value))


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True)
class And:
    items: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class Or:
    items: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class Not:
    item: Filter


Filter = Predicate | And | Or | Not


@dataclass(frozen=True)
class EngineQuery:
    """One analytics query over one pixel's events.

    >>> EngineQuery(pixel_id, ("core.revenue", "web.sessions"), TimeRange(start, end),
    ...             granularity="day", timezone="Europe/Berlin", dimensions=("utm_source",),
    ...             filters=Predicate("country", "equals", "DE"))

    `order_by` (a measure key of the query, default the first) and `descending` rank the
    dimension groups; `limit` keeps the first groups of that ranking (None: all of them).
    """

    pixel_id: str
    measures: tuple[str, ...]
    range: TimeRange
    granularity: str = "day"
    timezone: str = "UTC"
    dimensions: tuple[str, ...] = ()
    filters: Filter | None = None
    compare_range: TimeRange | None = None
    order_by: str | None = None
    descending: bool = True
    limit: int | None = None


@dataclass(frozen=True)
class Bucket:
    start: datetime  # aware UTC
    end: datetime
    dimensions: tuple[str | None, ...]  # values in EngineQuery.dimensions order
    values: dict[str, float | None]  # measure key -> value (None where undefined)


@dataclass(frozen=True)
class EngineResult:
    primary: list[Bucket]  # every bucket, empty ones included
    compare: list[Bucket]  # [] without compare_range
    totals: dict[str, float | None]  # period totals, formulas recomputed from parts
    compare_totals: dict[str, float | None]
    # Per dimension group (same order as the buckets' groups): that group's period totals;
    # empty when a distinct count over several buckets has no `limit` (not computed).
    group_totals: dict[tuple[str | None, ...], dict[str, float | None]] = field(
        default_factory=dict)
    statements: int = 0  # SQL statements issued (tests pin that measures don't add any)
    # "statement=rollup" for each statement that read a rollup instead of raw events.
    rollups: tuple[str, ...] = ()
