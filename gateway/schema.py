"""The GraphQL schema: root types merged from the resolver modules, federation-ready.

Speed rules (see shared notes on Strawberry 0.341):
- extensions are passed as classes/factories (instances leak state across requests);
- ParserCache + ValidationCache, with the depth/alias rules built once here: limiters built
  per request make every validation a cache miss (strawberry #4635);
- no per-field async extension: MaskErrors only post-processes the result;
- operations selecting only pure root fields (the immutable catalog) are served from a
  bounded result cache (gateway/graphql_cache.py).

`schema.graphql` at the repository root is `build_schema().as_str()`; a test fails on drift.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.tools import merge_types
from strawberry.utils.str_converters import to_camel_case
from strawberry.types import ExecutionContext

from gateway.errors import GatewayError
from gateway.graphql_cache import PURE, ResultCache, ResultStore
from gateway.graphql_inputs import VariableBounds
from gateway.types.analytics import FilterInput
from resolvers.alerts import AlertsMutation, AlertsQuery
from resolvers.analytics import AnalyticsQuery
from resolvers.dashboards import DashboardsMutation, DashboardsQuery
from resolvers.audit import AuditQuery
from resolvers.events import EventsMutation, EventsQuery
from resolvers.keys import KeysMutation, KeysQuery
from resolvers.measures import MeasuresQuery
from resolvers.users import UsersMutation, UsersQuery
from resolvers.viewer import ViewerQuery

__all__ = ["build_schema", "export_sdl"]

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000

# Built once: a rule class per request would defeat the validation cache.
_RULES = [depth_rule(MAX_DEPTH, None, None), alias_rule(MAX_ALIASES)]
# Input types whose variables are bounded before coercion (gateway/graphql_inputs.py).
_FILTER_TYPES = frozenset({FilterInput.__strawberry_definition__.name})  # type: ignore[attr-defined]

Query = merge_types("Query", (MeasuresQuery, ViewerQuery, KeysQuery, UsersQuery, AuditQuery,
                              EventsQuery, AnalyticsQuery, DashboardsQuery, AlertsQuery))
Mutation = merge_types("Mutation", (KeysMutation, UsersMutation, EventsMutation,
                                    DashboardsMutation, AlertsMutation))


class _Limits(AddValidationRules):
    def __init__(self) -> None:
        super().__init__(_RULES)


def _should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep our coded errors and GraphQL's own messages.

    graphql-core wraps a variable's coercion error ("Value 'X' does not exist in
    'Granularity' enum") in another GraphQLError whose `original_error` is the first: that
    is bad input, answered with GraphQL's message, not an unexpected exception."""
    original = error.original_error
    return original is not None and not isinstance(original, GatewayError | GraphQLError)


class GatewaySchema(strawberry.federation.Schema):
    result_store: ResultStore

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Audit refused checks; log only what is unexpected (bad input is not a server
        error)."""
        ctx = getattr(execution_context, "context", None) if execution_context else None
        note = getattr(ctx, "note_error", None)
        if note is not None:
            for error in errors:
                if isinstance(error.original_error, GatewayError):
                    note(error.original_error)
        unexpected = [e for e in errors if _should_mask(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def _pure_root_fields() -> frozenset[str]:
    definition = Query.__strawberry_definition__  # type: ignore[attr-defined]
    return frozenset(f.graphql_name or to_camel_case(f.python_name)
                     for f in definition.fields if f.metadata.get(PURE))


def build_schema(*, result_cache: bool = True) -> GatewaySchema:
    store = ResultStore(_pure_root_fields() if result_cache else frozenset())
    schema = GatewaySchema(
        query=Query,
        mutation=Mutation,
        # No sort_schema=True: it rebuilds the GraphQL types, and the federation `_Entity`
        # union then rejects our own objects (identity check in strawberry/types/union.py).
        # Printing order is already deterministic (definition order).
        extensions=[
            lambda: MaxTokensLimiter(MAX_TOKENS),
            ParserCache,
            ValidationCache,
            _Limits,
            lambda: VariableBounds(_FILTER_TYPES),
            lambda: MaskErrors(should_mask_error=_should_mask),
            lambda: ResultCache(store),
        ],
    )
    schema.result_store = store
    return schema


def export_sdl(schema: Any | None = None) -> str:
    """The SDL as committed in `schema.graphql` (with a trailing newline)."""
    return (schema or build_schema()).as_str() + "\n"
