"""`OperationMetrics`: counts each GraphQL operation by name in the app's metrics.

A schema extension (one per request, only `on_operation`), installed when metrics are on
(gateway/schema.py). The label is the executed operation's name, bounded by
`Metrics.operation_label` (gateway/metrics.py); `invalid` when the request had no operation
to execute (no document, or an `operationName` the document does not define).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension

__all__ = ["OperationMetrics"]


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        ok = False
        try:
            yield
            result = self.execution_context.result
            ok = result is not None and not result.errors
        finally:
            self._record(ok)

    def _record(self, ok: bool) -> None:
        ec = self.execution_context
        metrics = getattr(getattr(ec.context, "state", None), "metrics", None)
        if metrics is None:
            return
        label = "invalid"
        if ec.graphql_document is not None:
            name = ec.operation_name  # the one asked for, else the first operation's
            names = {d.name.value for d in ec.graphql_document.definitions
                     if isinstance(d, OperationDefinitionNode) and d.name}
            if name is None or name in names:
                label = metrics.operation_label(name)
        metrics.observe_operation(label, ok)
