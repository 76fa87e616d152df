"""The shape of a measure definition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AGGREGATIONS",
    "FORMATS",
    "Aggregate",
    "Condition",
    "Formula",
    "MeasureDefinition",
]

AggregationName = Literal[
    "count", "count_distinct", "sum", "avg", "min", "max", "p50", "p90", "p95", "p99"
]
AGGREGATIONS: tuple[str, ...] = (
    "count", "count_distinct", "sum", "avg", "min", "max", "p50", "p90", "p95", "p99",
)
Format = Literal["number", "currency", "percentage", "multiplier"]
FORMATS: tuple[str, ...] = ("number", "currency", "percentage", "multiplier")


@dataclass(frozen=True)
class Condition:
    """`field op value` over an event column (or `properties.<key>`), e.g. platform = meta."""

    field: str
    op: Literal["equals", "not_equals", "in", "not_in", "is_set", "is_not_set"]
    value: str | bool | tuple[str, ...] | None = None


@dataclass(frozen=True)
class Aggregate:
    """`fn(column)` over events named in `events` that satisfy every condition in `where`.

    `column` is None only for `count`.
    """

    fn: AggregationName
    events: tuple[str, ...]
    column: str | None = None
    where: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Formula:
    """Arithmetic over other measures' keys: `core.revenue / core.ad_spend`.

    Recomputed from its parts per bucket and per period total; division by zero gives null.
    """

    expression: str


@dataclass(frozen=True)
class MeasureDefinition:
    key: str
    title: str
    description: str
    unit: str
    format: Format
    definition: Aggregate | Formula
    preferred_trend: Literal["up", "down"] = "up"
    # An average or ratio: its period total is recomputed, never summed from buckets.
    is_average: bool = False
    has_pacing: bool = False
    synonyms: tuple[str, ...] = field(default=())

    @property
    def category(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def is_percentage(self) -> bool:
        return self.format == "percentage"

    @property
    def is_additive(self) -> bool:
        """True when bucket values sum to the period value (counts and sums)."""
        d = self.definition
        return isinstance(d, Aggregate) and d.fn in ("count", "sum")
