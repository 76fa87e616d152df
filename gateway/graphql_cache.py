"""Result cache for operations that select only *pure* root fields.

A root field is pure when its result depends on nothing but its arguments for any
authenticated caller (the immutable, ungated measures catalog). Mark it with
`strawberry.field(..., metadata={PURE: True})`. An operation whose root selections are all pure
fields (or `__typename`) is answered from a bounded per-process LRU keyed by (query text,
operation name, variables), skipping execution: graphql-core costs ~3 µs per field, and the
55-measure catalog is ~800 fields. The LRU is bounded in bytes, not entries: each entry is
charged its query text, its variables and four times its result's JSON size (what the Python
objects of a result take, measured on the catalog), and the total stays within `max_bytes`.

Safety: only query operations; only error-free results are stored; a hit is served only when
the request carries a valid credential (otherwise execution runs and produces the auth error),
so caching never changes who may read what. Pixel-scoped data must not be marked pure.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, OperationType
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from gateway.graphql_documents import has_valid_credential

__all__ = ["PURE", "ResultCache", "ResultStore"]

PURE = "gateway.pure"

ENTRY_OVERHEAD = 1024
PYTHON_PER_JSON_BYTE = 4

Key = tuple[str, str | None, bytes]


class ResultStore:
    """An LRU of execution results, at most `max_bytes` (estimated), shared by the extension
    instances of one schema."""

    def __init__(self, pure_fields: frozenset[str], max_bytes: int = 8 * 1024 * 1024) -> None:
        self.pure_fields = pure_fields
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Key, tuple[ExecutionResult, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> ExecutionResult | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: Key, result: ExecutionResult) -> None:
        cost = (ENTRY_OVERHEAD + sys.getsizeof(key[0]) + len(key[2])
                + PYTHON_PER_JSON_BYTE * len(orjson.dumps(result.data)))
        if cost > self.max_bytes:
            return
        previous = self._items.pop(key, None)
        if previous is not None:
            self.size -= previous[1]
        self._items[key] = (result, cost)
        self.size += cost
        while self.size > self.max_bytes:
            _, (_, evicted) = self._items.popitem(last=False)
            self.size -= evicted


class ResultCache(SchemaExtension):
    def __init__(self, store: ResultStore) -> None:
        self.store = store

    def _key(self) -> Key | None:
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

    def on_execute(self) -> Iterator[None]:
        key = self._key()
        usable = key is not None and has_valid_credential(self.execution_context.context)
        if usable and key is not None:
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
