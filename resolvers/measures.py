"""Measures catalog fields."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from gateway.context import Info
from gateway.graphql_cache import PURE
from gateway.services import measures as service
from gateway.types.measure import Measure

__all__ = ["MeasuresQuery", "resolve_measure", "resolve_measures"]


def resolve_measures(info: Info, category: str | None = None,
                     search: str | None = None) -> Sequence[Measure]:
    """The same tuple for the same listing (`Measure.listing`): nothing is rebuilt."""
    defs = service.list_measures(info.context.principal, category=category, search=search)
    return Measure.listing(defs)


def resolve_measure(info: Info, key: str) -> Measure | None:
    found = service.find_measure(info.context.principal, key)
    return None if found is None else Measure.from_definition(found)


@strawberry.type
class MeasuresQuery:
    measures: Sequence[Measure] = strawberry.field(
        resolver=resolve_measures,
        description="The measures catalog, in catalog order. Readable by any active key. "
        "`category` keeps one category (core, web, meta, …); `search` matches key, title, "
        "synonyms and description, case-insensitively.",
        metadata={PURE: True},  # immutable catalog, the same for every authenticated caller
    )
    measure: Measure | None = strawberry.field(
        resolver=resolve_measure,
        description="One measure by key, or by title (case-insensitive); null when unknown.",
        metadata={PURE: True},
    )
