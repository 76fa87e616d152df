"""The GraphQL schema: root types merged from the resolver modules, federation-ready.

Speed and safety rules (see shared notes on Strawberry 0.341):
- extensions are passed as classes/factories (instances leak state across requests);
- documents are size-checked before parsing, then parsed and validated through one cache
  bounded in bytes (gateway/graphql_documents.py), with the shape limits built once here
  (gateway/graphql_limits.py: linear in the document, unlike Strawberry's limiters; rules
  built per request would make every validation a cache miss, strawberry #4635);
- no per-field async extension; errors are coded by the phase that found them and masked
  once, on the way out of `execute`, so an exception escaping an extension hook is masked
  too (MaskErrors only sees results produced inside the operation); what reaches the client
  and the log is gateway/graphql_errors.py's rule;
- operations selecting only pure root fields (the immutable catalog) are served from a
  result cache bounded in bytes (gateway/graphql_cache.py);
- every other operation is costed before execution and refused over the request's budget,
  or charged against its rate limit (gateway/graphql_cost.py, gateway/cost.py).

`schema.graphql` at the repository root is `build_schema().as_str()`; a test fails on drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter
from strawberry.federation.schema import FederationAny
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.base import get_object_definition
from strawberry.types.graphql import OperationType
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import GatewayError, InvalidInput
from gateway.graphql_cache import PURE, ResultCache, ResultStore
from gateway.graphql_cost import CostBudget
from gateway.graphql_documents import DocumentGuard, DocumentStore
from gateway.graphql_entities import representation_problems
from gateway.graphql_errors import GatewayExecutor, cause_of, client_view, log_unexpected
from gateway.graphql_inputs import VariableBounds
from gateway.graphql_limits import limits_rule
from gateway.graphql_metrics import OperationMetrics
from gateway.settings import Settings
from gateway.types.analytics import FilterInput
from resolvers.alerts import AlertsMutation, AlertsQuery
from resolvers.analytics import AnalyticsQuery
from resolvers.audit import AuditQuery
from resolvers.dashboards import DashboardsMutation, DashboardsQuery
from resolvers.events import EventsMutation, EventsQuery
from resolvers.keys import KeysMutation, KeysQuery
from resolvers.measures import MeasuresQuery
from resolvers.users import UsersMutation, UsersQuery
from resolvers.viewer import ViewerQuery

__all__ = ["build_schema", "export_sdl"]

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000
# Spread chains (`...A` whose body spreads `...B` ...): real clients nest a handful. Past
# this, a coded error naming the bound (graphql-core itself gives up at 200, uncoded).
MAX_FRAGMENT_NESTING = 50

# Built once: a rule class per request would defeat the validation cache.
_RULES = (limits_rule(MAX_DEPTH, MAX_ALIASES, MAX_FRAGMENT_NESTING),)
# Input types whose variables are bounded before coercion (gateway/graphql_inputs.py).
_FILTER_TYPES = frozenset({get_object_definition(FilterInput, strict=True).name})

Query = merge_types("Query", (MeasuresQuery, ViewerQuery, KeysQuery, UsersQuery, AuditQuery,
                              EventsQuery, AnalyticsQuery, DashboardsQuery, AlertsQuery))
Mutation = merge_types("Mutation", (KeysMutation, UsersMutation, EventsMutation,
                                    DashboardsMutation, AlertsMutation))


def _request_id(context: Any) -> str | None:
    request_id = getattr(context, "request_id", None)
    return request_id if isinstance(request_id, str) else None


class GatewaySchema(strawberry.federation.Schema):
    result_store: ResultStore
    document_store: DocumentStore

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        result = await super().execute(
            query, variable_values, context_value, root_value, operation_name,
            allowed_operation_types, operation_extensions)
        if result.errors:
            request_id = _request_id(context_value)
            result.errors = [client_view(e, request_id) for e in result.errors]
        return result

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Audit refused checks; log only what is unexpected, once per request, with the
        request id (gateway/graphql_errors.py). Strawberry's own logging (every error, with
        a traceback, bad input included) is replaced, not called."""
        ctx = getattr(execution_context, "context", None) if execution_context else None
        note = getattr(ctx, "note_error", None)
        if note is not None:
            for error in errors:
                cause = cause_of(error)
                if isinstance(cause, GatewayError):
                    note(cause)
        log_unexpected(errors, _request_id(ctx))

    def entities_resolver(self, info: strawberry.Info,
                          representations: list[FederationAny]) -> list[FederationAny]:
        """Federation's `_entities`, with its representations checked first: each must be
        an object naming an entity of this schema, with the fields its `resolve_reference`
        takes, else INVALID_INPUT at its index (Strawberry's resolver would raise KeyError
        or TypeError: an unexpected error for what is the caller's mistake)."""
        problems = representation_problems(self, representations)
        if problems:
            raise InvalidInput(problems[0].message, details=problems)
        return super().entities_resolver(info, representations)


def _pure_root_fields() -> frozenset[str]:
    definition = get_object_definition(Query, strict=True)
    return frozenset(f.graphql_name or to_camel_case(f.python_name)
                     for f in definition.fields if f.metadata.get(PURE))


def build_schema(settings: Settings | None = None) -> GatewaySchema:
    """The schema with the GraphQL settings of `settings` (defaults when None)."""
    settings = settings or Settings()
    store = ResultStore(_pure_root_fields() if settings.graphql_result_cache else frozenset(),
                        max_bytes=settings.graphql_result_cache_bytes)
    documents = DocumentStore(settings.graphql_document_cache_bytes)
    schema = GatewaySchema(
        query=Query,
        mutation=Mutation,
        execution_context_class=GatewayExecutor,
        # No sort_schema=True: it rebuilds the GraphQL types, and the federation `_Entity`
        # union then rejects our own objects (identity check in strawberry/types/union.py).
        # Printing order is already deterministic (definition order).
        extensions=[
            lambda: DocumentGuard(
                documents, max_document_bytes=settings.graphql_max_document_bytes,
                rules=_RULES, anonymous_introspection=settings.anonymous_introspection),
            lambda: MaxTokensLimiter(MAX_TOKENS),
            lambda: VariableBounds(_FILTER_TYPES),
            lambda: ResultCache(store),
            # Operations by name, when metrics are on (gateway/graphql_metrics.py).
            *([OperationMetrics] if settings.metrics else []),
            # After the result cache: a cached (catalog) answer costs nothing to cost.
            CostBudget,
        ],
    )
    schema.result_store = store
    schema.document_store = documents
    return schema


def export_sdl(schema: Any | None = None) -> str:
    """The SDL as committed in `schema.graphql` (with a trailing newline)."""
    return (schema or build_schema()).as_str() + "\n"
