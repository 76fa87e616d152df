"""Checks on federation representations, the input of `_entities(representations:)`.

A representation is `{"__typename": <entity>, <its key fields>}`, sent by a router resolving
references (the `_Any` scalar takes any JSON, so graphql-core checks nothing). Strawberry's
resolver trusts it: an unknown `__typename` raised KeyError, a non-object AttributeError, a
missing or extra field TypeError from `resolve_reference` — all masked as unexpected errors
and logged with a traceback, for what is the caller's mistake. `representation_problems`
finds those first, so `_entities` answers INVALID_INPUT naming the representation's index.

A representation must name an entity of the schema (a member of `_Entity`) and carry exactly
the fields its `resolve_reference` takes (ours take their key: `Measure(key)`,
`DashboardView(id)`; none declares `@requires`, so a router sends nothing else).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from graphql import GraphQLUnionType

from gateway.errors import FieldError

__all__ = ["MAX_REPORTED", "representation_problems"]

MAX_REPORTED = 10  # problems listed in `details`; a batch of thousands lists the first ten


@functools.lru_cache(maxsize=64)
def _fields_taken(resolve_reference: Callable[..., Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(every field, the required ones) `resolve_reference` takes; `info` is Strawberry's."""
    parameters = [p for p in inspect.signature(resolve_reference).parameters.values()
                  if p.name != "info" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return (frozenset(p.name for p in parameters),
            frozenset(p.name for p in parameters if p.default is p.empty))


def _problem(schema: Any, entities: frozenset[str], representation: Any) -> str | None:
    if not isinstance(representation, dict):
        return "a representation must be an object with __typename and the entity's key"
    name = representation.get("__typename")
    if not isinstance(name, str) or name not in entities:
        known = ", ".join(sorted(entities))
        return f"__typename must name an entity ({known}); got {str(name)[:100]!r}"
    origin = schema.schema_converter.type_map[name].definition.origin
    resolve_reference = getattr(origin, "resolve_reference", None)
    if resolve_reference is None:
        return None
    allowed, required = _fields_taken(resolve_reference)
    sent = set(representation) - {"__typename"}
    if missing := sorted(required - sent):
        return f"{name} representation lacks {', '.join(missing)}"
    if extra := sorted(sent - allowed):
        return f"{name} representation has fields it is not keyed by: {', '.join(extra)[:200]}"
    return None


def representation_problems(schema: Any, representations: Sequence[Any]) -> list[FieldError]:
    """One field error per bad representation (at most MAX_REPORTED), at
    ("representations", index); empty when all of them can be resolved."""
    union = schema._schema.get_type("_Entity")
    entities = (frozenset(t.name for t in union.types) if isinstance(union, GraphQLUnionType)
                else frozenset())
    found: list[FieldError] = []
    for index, representation in enumerate(representations):
        problem = _problem(schema, entities, representation)
        if problem is not None:
            found.append(FieldError(problem, ("representations", index)))
            if len(found) == MAX_REPORTED:
                break
    return found
