"""The `Measure` type: a federation entity keyed by `key`."""

from __future__ import annotations

from enum import Enum

import strawberry

from gateway.catalog import Aggregate, Formula, MeasureDefinition
from gateway.context import Info
from gateway.lru import LRU

__all__ = ["Measure", "MeasureFormat", "TrendDirection"]


@strawberry.enum(description="How a measure's values are displayed.")
class MeasureFormat(Enum):
    NUMBER = "number"
    CURRENCY = "currency"
    PERCENTAGE = "percentage"
    MULTIPLIER = "multiplier"


@strawberry.enum(description="Which direction of change is good news.")
class TrendDirection(Enum):
    UP = "up"
    DOWN = "down"


@strawberry.federation.type(keys=["key"], description="A measure from the catalog.")
class Measure:
    key: strawberry.ID = strawberry.field(description="Namespaced id, e.g. core.new_customer_roas.")
    title: str
    description: str
    category: str
    unit: str
    format: MeasureFormat
    is_average: bool = strawberry.field(
        description="An average or ratio: period totals are recomputed, not summed.")
    is_percentage: bool
    is_additive: bool = strawberry.field(description="Bucket values sum to the period value.")
    has_pacing: bool
    preferred_trend_direction: TrendDirection
    synonyms: list[str]
    formula: str | None = strawberry.field(description="For formula measures: the expression.")
    aggregation: str | None = strawberry.field(
        description="For event measures: the aggregation, e.g. sum(revenue).")
    events: list[str] = strawberry.field(description="Event names the measure reads.")

    @classmethod
    def listing(cls, defs: tuple[MeasureDefinition, ...]) -> tuple[Measure, ...]:
        """The Measures of a catalog listing (`Catalog.listing`), built once per listing
        object and shared: the same listing gives the same tuple, so REST can key its encoded
        body by that tuple's identity (gateway/rest/upstack/measures.py). Immutable, since
        shared; the Measures in it must not be mutated either."""
        found = _LISTINGS.get(id(defs))
        if found is not None and found[0] is defs:
            return found[1]
        made = tuple(cls.from_definition(d) for d in defs)
        _LISTINGS.put(id(defs), (defs, made))  # the entry keeps `defs`, so its id stays its own
        return made

    @classmethod
    def from_definition(cls, d: MeasureDefinition) -> Measure:
        agg = d.definition if isinstance(d.definition, Aggregate) else None
        return cls(
            key=strawberry.ID(d.key),
            title=d.title,
            description=d.description,
            category=d.category,
            unit=d.unit,
            format=MeasureFormat(d.format),
            is_average=d.is_average,
            is_percentage=d.is_percentage,
            is_additive=d.is_additive,
            has_pacing=d.has_pacing,
            preferred_trend_direction=TrendDirection(d.preferred_trend),
            synonyms=list(d.synonyms),
            formula=d.definition.expression if isinstance(d.definition, Formula) else None,
            aggregation=None if agg is None else f"{agg.fn}({agg.column or '*'})",
            events=[] if agg is None else list(agg.events),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, key: strawberry.ID) -> Measure | None:
        """Federation entry point; the same ungated rule as the `measure` field."""
        from resolvers.measures import resolve_measure

        return resolve_measure(info, str(key))


# Measure tuples by listing identity (`Measure.listing`); each entry holds its listing, so
# no other object can take that id while cached. As many as the catalog keeps listings.
_LISTINGS: LRU[int, tuple[tuple[MeasureDefinition, ...], tuple[Measure, ...]]] = LRU(64)
