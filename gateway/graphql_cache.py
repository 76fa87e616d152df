"""Result cache for operations that select only *pure* root fields.

A root field is pure when its result depends on nothing but its arguments for any
authenticated caller (the immutable, ungated measures catalog). Mark it with
`strawberry.field(..., metadata={PURE: True})`. An operation whose root selections are all pure
fields (or `__typename`) is answered from a bounded per-process LRU keyed by (query text,
operation name, variables), skipping execution: graphql-core costs ~3 µs per field, and the
55-measure catalog is ~800 fields.

Safety: only query operations; only error-free results are stored; a hit is served only when
the request carries a valid credential (otherwise execution runs and produces the auth error),
so caching never changes who may read what. Pixel-scoped data must not be marked pure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, OperationType
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from gateway.errors import GatewayError

__all__ = ["PURE", "ResultCache", "ResultStore"]

PURE = "gateway.pure"


class ResultStore:
    """A bounded LRU of execution results, shared by the extension instances of one schema."""

    def __init__(self, pure_fields: frozenset[str], maxsize: int = 256) -> None:
        self.pure_fields = pure_fields
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, str | None, bytes], ExecutionResult] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str | None, bytes]) -> ExecutionResult | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str | None, bytes], result: ExecutionResult) -> None:
        self._items[key] = result
        if len(self._items) > self.maxsize:
            self._items.popitem(last=False)


class ResultCache(SchemaExtension):
    def __init__(self, store: ResultStore) -> None:
        self.store = store

    def _key(self) -> tuple[str, str | None, bytes] | None:
        ec = self.execution_context
        if ec.graphql_document is None or ec.query is None:
            return None
        operation = get_operation_ast(ec.graphql_document, ec.operation_name)
        if operation is None or operation.operation != OperationType.QUERY:
            return None
        for selection in operation.selection_set.selections:
            if not isinstance(selection, FieldNode):
                return None
            name = selection.name.value
            if name != "__typename" and name not in self.store.pure_fields:
                return None
        variables = orjson.dumps(ec.variables or {}, option=orjson.OPT_SORT_KEYS)
        return (ec.query, ec.operation_name, variables)

    def _authenticated(self) -> bool:
        try:
            return getattr(self.execution_context.context, "principal", None) is not None
        except GatewayError:
            return False

    def on_execute(self) -> Iterator[None]:
        key = self._key()
        usable = key is not None and self._authenticated()
        if usable:
            assert key is not None
            hit = self.store.get(key)
            if hit is not None:
                self.store.hits += 1
                self.execution_context.result = hit
            else:
                self.store.misses += 1
        yield
        result: Any = self.execution_context.result
        if usable and key is not None and isinstance(result, ExecutionResult) \
                and not result.errors:
            self.store.put(key, result)
