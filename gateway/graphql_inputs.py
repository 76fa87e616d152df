"""Filter bounds on GraphQL variables, checked before graphql-core coerces them.

Coercing a variable recurses once per nesting level and builds an object per input value, and
Strawberry then builds a `FilterInput` per node: a 40,000-wide or 500-deep filter would cost
seconds, or a RecursionError, before any resolver could refuse it. This extension finds every
`FilterInput` position in the operation's variables (from the variables' declared types, with
an explicit stack) and applies `gateway.limits.filter_problem` to the raw JSON there; a
crossing answers INVALID_INPUT before execution, with the path from the variable's name
(`input.filters.and`). Filters written inline in the document are bounded by the token limit
and checked by the service when it parses them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLType,
)
from graphql.utilities import get_operation_ast, type_from_ast
from strawberry.extensions import SchemaExtension

from gateway.errors import FieldError, InvalidInput
from gateway.limits import filter_problem

__all__ = ["VariableBounds"]

Path = tuple[str | int, ...]


def _named_type(kind: GraphQLType) -> GraphQLType:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


@functools.lru_cache(maxsize=256)  # a schema has ~20 input types; tests build many schemas
def _can_hold(kind: GraphQLInputObjectType, filter_types: frozenset[str]) -> bool:
    """Whether a value of `kind` can contain a filter (memoized: a schema's types are fixed,
    and an event batch should not be walked value by value for nothing)."""
    seen: set[str] = set()
    stack = [kind]
    while stack:
        current = stack.pop()
        if current.name in filter_types:
            return True
        if current.name in seen:
            continue
        seen.add(current.name)
        for field in current.fields.values():
            inner = _named_type(field.type)
            if isinstance(inner, GraphQLInputObjectType):
                stack.append(inner)
    return False


def _filter_positions(kind: GraphQLType, value: Any, path: Path,
                      filter_types: frozenset[str]) -> Iterator[tuple[Any, Path]]:
    """(raw filter, path) for every filter-typed place in `value`, a variable of `kind`.
    Values that do not fit their type are skipped: coercion reports those."""
    stack: list[tuple[GraphQLType, Any, Path]] = [(kind, value, path)]
    while stack:
        kind, value, path = stack.pop()
        if isinstance(kind, GraphQLNonNull):
            stack.append((kind.of_type, value, path))
        elif isinstance(kind, GraphQLList):
            inner = _named_type(kind)
            if not (isinstance(inner, GraphQLInputObjectType) and _can_hold(inner, filter_types)):
                continue  # scalars, enums, or input objects no filter can be in
            if isinstance(value, list):
                stack.extend((kind.of_type, v, (*path, i)) for i, v in enumerate(value))
            else:  # GraphQL coerces a lone value to a one-item list
                stack.append((kind.of_type, value, path))
        elif (isinstance(kind, GraphQLInputObjectType) and value is not None
              and _can_hold(kind, filter_types)):
            if kind.name in filter_types:
                yield value, path
            elif isinstance(value, dict):
                stack.extend((f.type, value[name], (*path, name))
                             for name, f in kind.fields.items() if name in value)


class VariableBounds(SchemaExtension):
    """Refuse an operation whose filter variables cross a bound (see the module docstring).

    >>> GatewaySchema(..., extensions=[lambda: VariableBounds({"FilterInput"})])
    """

    def __init__(self, filter_types: frozenset[str] | set[str]) -> None:
        self.filter_types = frozenset(filter_types)

    def _problem(self) -> FieldError | None:
        ec = self.execution_context
        variables = ec.variables
        if not variables or ec.graphql_document is None:
            return None
        operation = get_operation_ast(ec.graphql_document, ec.operation_name)
        if operation is None:
            return None
        schema = ec.schema._schema
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in variables:
                continue
            kind = type_from_ast(schema, definition.type)
            if kind is None:
                continue
            for raw, path in _filter_positions(kind, variables[name], (name,),
                                               self.filter_types):
                found = filter_problem(raw, path)
                if found is not None:
                    return found
        return None

    def on_execute(self) -> Iterator[None]:
        found = self._problem()
        if found is not None:
            error = InvalidInput(found.message, details=[found])
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, original_error=error)])
        yield
