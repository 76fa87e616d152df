"""The filter tree as every layer reads it: canonical JSON or a typed node, one view of both.

A filter arrives in one of two forms: canonical JSON (a REST body's `filters`, a dashboard
view's stored `filters`: `{"and": [...]}`, `{"or": [...]}`, `{"not": {...}}`,
`{"field", "op", "value"}`, a list meaning `and`) or a typed tree (GraphQL's `FilterInput`,
which the REST adapters also build: attributes `and_`, `or_`, `not_`, `field`, `op`,
`value`). `filter_view` shows one node of either form as the JSON object it stands for, one
level at a time (children stay as they are), so the bounds (`gateway.limits.filter_problem`)
and the parser (`gateway.services.analytics_input.parse_filter`) each walk any filter once,
whatever its form, without converting the tree first. A domain module: it imports nothing
from the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["FilterNode", "filter_view"]


@runtime_checkable
class FilterNode(Protocol):
    """A typed filter node: a group (`and_`, `or_` or `not_`) or a condition."""

    @property
    def and_(self) -> Sequence[FilterNode] | None: ...

    @property
    def or_(self) -> Sequence[FilterNode] | None: ...

    @property
    def not_(self) -> FilterNode | None: ...

    @property
    def field(self) -> str | None: ...

    @property
    def op(self) -> str | None: ...

    @property
    def value(self) -> Any: ...


def filter_view(node: Any) -> Any:
    """`node` as JSON, one level deep: a typed node becomes the object of its set attributes
    under their JSON names; JSON (and anything else) is returned as it is."""
    if not isinstance(node, FilterNode):
        return node
    parts = (("and", None if node.and_ is None else list(node.and_)),
             ("or", None if node.or_ is None else list(node.or_)), ("not", node.not_),
             ("field", node.field), ("op", node.op), ("value", node.value))
    return {key: value for key, value in parts if value is not None}
