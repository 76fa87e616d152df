"""The filter language's operators, in one place: the engine implements them, the service
names them in its errors, GraphQL lists them in `FilterInput`'s description and in
`analyticsFilters` (a domain constant, so the GraphQL types need not import the engine)."""

from __future__ import annotations

__all__ = ["OPERATORS"]

OPERATORS: tuple[str, ...] = ("equals", "not_equals", "in", "not_in", "contains", "gt", "gte",
                              "lt", "lte", "is_set", "is_not_set")
