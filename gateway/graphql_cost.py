"""Costing a GraphQL operation before execution: the cost budget's GraphQL half.

`CostBudget` (a schema extension, one per request) estimates the selected operation from its
document and variables with gateway/cost.py, after validation and before any resolver runs:

- analytics-type fields (`analytics`, `attribution`, `cohortAnalysis`, a widget's `data`)
  cost what their arguments ask for (`RULES`), coerced as execution would coerce them
  (graphql-core's `get_argument_values`, variables included); a range without a time zone
  is read in the request pixel's zone (one cached look-up, only when such a field exists);
- every other field costs FIELD_MS, every root field ROOT_FIELD_MS more;
- a list field multiplies its items' cost by its page size: its page argument (`alerts
  (limit:)`, `history(limit:)`, `auditLog(first:)`, `_entities(representations:)`), the
  sizes the analytics field above it answers (buckets x groups, measures), or `LIST_SIZES`
  (unpaged lists, at an assumed DEFAULT_LIST_SIZE when not listed);
- aliases count each aliased field; fragments and inline fragments count where spread, a
  fragment once per selection level however often it is spread there (as execution collects
  it once: a 2^30 fan-out of one fragment is one field); `@skip`/`@include` are honoured.
  Fields repeated under one response key by different fragments count each time (execution
  merges them): only documents with redundant selections are overestimated.

Over the budget the operation is refused before execution (QUERY_TOO_COSTLY, with `cost` and
`budget` in `extensions`); otherwise the estimate is charged against the rate limit (the
request's `CostLedger`), and the response carries `X-Query-Cost` (ms charged: the estimate,
or what the queries spent as they ran if more).

Linear in the document: a selection's cost is a polynomial in the size variables
(`primary`, `measures`, …) that only the analytics field above it binds, so each fragment is
costed once, in dependency order (graphql_limits's order), with the set of fragments its
spreads reach; a level adds the polynomials of the fragments its spreads reach (a set union,
bounded by the number of fragments). Bodies are walked with an explicit stack, so no
nesting reaches the recursion limit.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
)
from graphql.execution.values import VariableValues, get_argument_values, get_directive_values
from graphql.execution.values import get_variable_values as coerce_variables
from graphql.utilities import get_operation_ast, type_from_ast
from strawberry.extensions import SchemaExtension

from gateway import cost as model  # its constants read at call time: the calibration sets them
from gateway.catalog import CATALOG
from gateway.cost import (
    Estimate,
    analytics_input_cost,
    attribution_input_cost,
    cohort_input_cost,
    widget_input_cost,
)
from gateway.engine.fields import FIELDS
from gateway.errors import GatewayError
from gateway.graphql_limits import fragment_dependency_order
from gateway.limits import MAX_AUDIT_PAGE, MAX_PAGE_SIZE, find_zone

__all__ = ["DEFAULT_LIST_SIZE", "LIST_SIZES", "CostBudget", "estimate_operation"]

UTC = ZoneInfo("UTC")
# Items assumed in a list without a page argument or a known size.
DEFAULT_LIST_SIZE = 20

# List sizes: a number, or a size variable the analytics-type field above binds (for an
# object field, not a list: how often it is there, when that is not always).
LIST_SIZES: dict[str, float | str] = {
    "AnalyticsResult.primary": "primary",
    "AnalyticsResult.compare": "compare",
    "AnalyticsResult.measureDetails": "measures",
    "AnalyticsResult.totals": "measures",
    "AnalyticsResult.compareTotals": "measures",
    "AnalyticsResult.dimensions": "dimensions",
    "SeriesPoint.dimensions": "dimensions",
    "SeriesPoint.values": "measures",
    "AttributionResult.primary": "rows",
    "AttributionResult.compare": "compare_rows",
    "CohortResult.rows": "rows",
    "CohortResult.measures": "measures",
    "CohortRow.values": "measures",
    "WidgetData.points": "points",
    "AuditLogPage.entries": "entries",
    "Query.measures": len(CATALOG),
    "Query.analyticsFilters": len(FIELDS) + 1,
    # Introspection (GraphiQL's schema explorer): our schema's size, averaged over its ~90
    # types (most have no fields: scalars, enums, inputs), ~460 fields, ~50 arguments.
    "__Schema.types": 100,
    "__Schema.directives": 8,
    "__Type.fields": 6,
    "__Type.inputFields": 3,
    "__Type.enumValues": 2,
    "__Type.interfaces": 1,
    "__Type.possibleTypes": 1,
    "__Field.args": 1,
    "__Directive.args": 2,
    # Not a list: a type reference nests `ofType` about once (`[X!]!` is three deep,
    # most are one): GraphiQL asks seven levels, which execution stops at the first null.
    "__Type.ofType": 0.5,
}

Poly = dict[tuple[str, ...], float]  # monomial (sorted size variables) -> ms


@dataclass(frozen=True)
class _Cost:
    """What one field costs itself, the size of its list (None: the table's), and the size
    variables it binds for the fields below it."""

    own: float = 0.0
    size: int | None = None
    binds: Mapping[str, float] = field(default_factory=dict)


def _analytics(est: Estimate, two: bool = True) -> dict[str, float]:
    points = (*est.points, 0, 0)
    return {"primary": points[0], "compare": points[1] if two else 0,
            "measures": est.measures, "dimensions": est.dimensions}


def _rule_analytics(args: dict[str, Any], env: _Env) -> _Cost:
    est = analytics_input_cost(args.get("input") or {}, env.zone(), env.now,
                               rollups=env.rollups)
    return _Cost(est.ms, binds=_analytics(est))


def _rule_attribution(args: dict[str, Any], env: _Env) -> _Cost:
    est = attribution_input_cost(args.get("input") or {}, env.zone(), env.now)
    rows = (*est.points, 0, 0)
    return _Cost(est.ms, binds={"rows": rows[0], "compare_rows": rows[1]})


def _rule_cohorts(args: dict[str, Any], env: _Env) -> _Cost:
    est = cohort_input_cost(args.get("input") or {}, env.zone(), env.now)
    return _Cost(est.ms, binds={"rows": est.rows, "measures": est.measures})


def _rule_widget_data(args: dict[str, Any], env: _Env) -> _Cost:
    est = widget_input_cost(args.get("dateRange"), args.get("granularity"),
                            env.zone(matters=False), env.now)
    return _Cost(est.ms, binds={"points": (*est.points, 0)[0]})


def _page_size(value: Any, high: int) -> int | None:
    """A page argument within the bounds its service takes (gateway.limits); 0 outside them,
    since the service refuses it (INVALID_INPUT) before reading anything."""
    if not isinstance(value, int):
        return None
    return value if 0 <= value <= high else 0


def _page(name: str) -> Callable[[dict[str, Any], _Env], _Cost]:
    def rule(args: dict[str, Any], env: _Env) -> _Cost:
        return _Cost(size=_page_size(args.get(name), MAX_PAGE_SIZE))
    return rule


def _rule_audit(args: dict[str, Any], env: _Env) -> _Cost:
    first = _page_size(args.get("first"), MAX_AUDIT_PAGE)
    return _Cost(binds={"entries": 50 if first is None else first})


def _rule_entities(args: dict[str, Any], env: _Env) -> _Cost:
    found = args.get("representations")
    return _Cost(size=len(found) if isinstance(found, list) else None)


RULES: dict[str, Callable[[dict[str, Any], _Env], _Cost]] = {
    "Query.analytics": _rule_analytics,
    "Query.attribution": _rule_attribution,
    "Query.cohortAnalysis": _rule_cohorts,
    "Widget.data": _rule_widget_data,
    "Query.alerts": _page("limit"),
    "Alert.history": _page("limit"),
    "Query.auditLog": _rule_audit,
    "Query._entities": _rule_entities,
}


class _Uncostable(Exception):
    """The variables do not coerce: execution refuses them before any resolver runs."""


@dataclass
class _Env:
    """What the rules read: the pixel's zone (recorded as used), the time, the backend."""

    pixel_zone: ZoneInfo
    now: datetime
    rollups: bool
    used_pixel_zone: bool = False

    def zone(self, *, matters: bool = True) -> ZoneInfo:
        """The pixel's zone; `matters=False` where it shifts no more than a preset's edges
        (a widget's cost does not depend on the zone), so it is not looked up for it."""
        self.used_pixel_zone = self.used_pixel_zone or matters
        return self.pixel_zone


def _add(into: Poly, other: Poly, factor: float = 1.0) -> None:
    for monomial, ms in other.items():
        into[monomial] = into.get(monomial, 0.0) + ms * factor


def _times(poly: Poly, variable: str) -> Poly:
    return {tuple(sorted((*m, variable))): ms for m, ms in poly.items()}


def _bind(poly: Poly, sizes: Mapping[str, float]) -> Poly:
    """Substitute the variables `sizes` binds; the others stay."""
    out: Poly = {}
    for monomial, ms in poly.items():
        rest = []
        value = ms
        for variable in monomial:
            if variable in sizes:
                value *= sizes[variable]
            else:
                rest.append(variable)
        key = tuple(rest)
        out[key] = out.get(key, 0.0) + value
    return out


def _value(poly: Poly) -> float:
    """The cost with every variable still unbound at DEFAULT_LIST_SIZE."""
    return sum((ms * DEFAULT_LIST_SIZE ** len(m) for m, ms in poly.items()), 0.0)


def _unwrap(kind: GraphQLType) -> tuple[GraphQLNamedType | None, bool]:
    is_list = False
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(kind, GraphQLList)
        kind = kind.of_type
    return (kind if isinstance(kind, GraphQLNamedType) else None), is_list


def _adder(acc: Poly) -> Callable[[Poly], None]:
    return lambda child: _add(acc, child)


@dataclass
class _Frame:
    """One selection set on the walk's stack. `spreads`: the fragments spread at its level
    (shared with the inline fragments of that level); `level`: whether the level ends here
    (a field's or the operation's selection), where those fragments are added, once each."""

    items: Iterator[Any]
    parent: GraphQLNamedType
    acc: Poly
    done: Callable[[Poly], None] | None
    spreads: set[str]
    level: bool = True


class _Walker:
    def __init__(self, schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode,
                 variables: Mapping[str, Any] | None, env: _Env) -> None:
        self.schema = schema
        self.operation = operation
        self.raw_variables = dict(variables or {})
        self.env = env
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        # Per fragment: the cost of its own fields (at its top level, spreads left out) and
        # every fragment its top level reaches through spreads, itself included.
        self.direct: dict[str, Poly] = {}
        self.reach: dict[str, frozenset[str]] = {}
        self._variables: VariableValues | None = None
        self.roots = {t for t in (schema.query_type, schema.mutation_type,
                                  schema.subscription_type) if t is not None}

    def variables(self) -> VariableValues:
        if self._variables is None:
            found = coerce_variables(self.schema, self.operation.variable_definitions or (),
                                     self.raw_variables)
            if isinstance(found, list):
                raise _Uncostable
            self._variables = found
        return self._variables

    def included(self, node: FieldNode | FragmentSpreadNode | InlineFragmentNode) -> bool:
        if not node.directives:
            return True
        try:
            skip = get_directive_values(GraphQLSkipDirective, node, self.variables())
            include = get_directive_values(GraphQLIncludeDirective, node, self.variables())
        except GraphQLError:
            return True
        return not (skip and skip.get("if")) and not (include is not None
                                                      and not include.get("if"))

    def total(self) -> float:
        for name in fragment_dependency_order(self.fragments):
            fragment = self.fragments[name]
            kind = type_from_ast(self.schema, fragment.type_condition)
            spreads: set[str] = set()
            if isinstance(kind, GraphQLNamedType):
                self.direct[name] = self.body(fragment.selection_set, kind, spreads)
            self.reach[name] = frozenset({name}).union(
                *(self.reach[g] for g in spreads if g in self.reach))
        root = self.schema.get_root_type(self.operation.operation)
        return 0.0 if root is None else _value(self.body(self.operation.selection_set, root))

    def _spread(self, names: set[str]) -> Poly:
        """The fragments spread at one level: each counted once, however often and through
        however many other fragments it is spread there, as execution collects it once."""
        found: Poly = {}
        for name in frozenset().union(*(self.reach.get(n, frozenset()) for n in names)):
            _add(found, self.direct.get(name, {}))
        return found

    def _definition(self, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
        if parent is self.schema.query_type and name in ("__schema", "__type"):
            return SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return fields.get(name) if isinstance(fields, dict) else None

    def _cost(self, key: str, definition: GraphQLField, node: FieldNode) -> _Cost:
        rule = RULES.get(key)
        if rule is None:
            return _Cost()
        try:
            args = get_argument_values(definition, node, self.variables())
        except GraphQLError:
            return _Cost()  # execution answers this field's error without resolving it
        return rule(args, self.env)

    def body(self, selection_set: SelectionSetNode, parent: GraphQLNamedType,
             spreads: set[str] | None = None) -> Poly:
        """The cost of one selection set (a polynomial), walked with an explicit stack. With
        `spreads` (a fragment's body), the fragments spread at its top level are collected
        there instead of added."""
        result: Poly = {}
        stack = [_Frame(iter(selection_set.selections), parent, result, None,
                        set() if spreads is None else spreads, level=spreads is None)]
        while stack:
            frame = stack[-1]
            node = next(frame.items, None)
            if node is None:
                stack.pop()
                if frame.level and frame.spreads:
                    _add(frame.acc, self._spread(frame.spreads))
                if frame.done is not None:
                    frame.done(frame.acc)
                continue
            if isinstance(node, FragmentSpreadNode):
                if self.included(node):
                    frame.spreads.add(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                if self.included(node):
                    kind = (type_from_ast(self.schema, node.type_condition)
                            if node.type_condition else frame.parent)
                    if isinstance(kind, GraphQLNamedType):
                        stack.append(_Frame(iter(node.selection_set.selections), kind, {},
                                            _adder(frame.acc), frame.spreads, level=False))
            elif isinstance(node, FieldNode) and self.included(node):
                pushed = self._field(node, frame)
                if pushed is not None:
                    stack.append(pushed)
        return result

    def _field(self, node: FieldNode, frame: _Frame) -> _Frame | None:
        """Add a leaf field to the frame, or return the frame of a field's selection."""
        name = node.name.value
        root = frame.parent in self.roots and name != "__typename"
        own = model.FIELD_MS + (model.ROOT_FIELD_MS if root else 0.0)
        definition = self._definition(frame.parent, name) if name != "__typename" else None
        if definition is None:
            _add(frame.acc, {(): own})
            return None
        key = f"{frame.parent.name}.{name}"
        cost = self._cost(key, definition, node)
        _add(frame.acc, {(): own + cost.own})
        kind, is_list = _unwrap(definition.type)
        if node.selection_set is None or kind is None:
            return None
        size: float | str = 1
        if is_list:
            size = cost.size if cost.size is not None else LIST_SIZES.get(key, DEFAULT_LIST_SIZE)
        elif key in LIST_SIZES:
            size = LIST_SIZES[key]

        def done(child: Poly, acc: Poly = frame.acc) -> None:
            if size != 1:
                child = _times(child, size) if isinstance(size, str) else \
                    {m: ms * size for m, ms in child.items()}
            if cost.binds:
                child = _bind(child, cost.binds)
            _add(acc, child)

        return _Frame(iter(node.selection_set.selections), kind, {}, done, set())


async def _pixel_zone(context: Any) -> ZoneInfo:
    """The request pixel's zone (UTC when there is none to read: the resolvers then refuse
    the request anyway)."""
    try:
        principal = getattr(context, "principal", None)
        if principal is None or principal.pixel_id is None:
            return UTC
        row = await context.loaders.pixel.load(principal.pixel_id)
    except GatewayError:
        return UTC
    found = find_zone(getattr(row, "timezone", None)) if row is not None else None
    return found or UTC


async def estimate_operation(schema: GraphQLSchema, document: Any, operation_name: str | None,
                             variables: Mapping[str, Any] | None, context: Any, *,
                             now: datetime, rollups: bool) -> int:
    """The estimated cost (ms) of the operation `operation_name` of `document`; 0 when
    execution would refuse it before any resolver runs (no such operation, variables that
    do not coerce)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    env = _Env(UTC, now, rollups)
    try:
        cost = _Walker(schema, document, operation, variables, env).total()
        if env.used_pixel_zone:
            zone = await _pixel_zone(context)
            if zone.key != UTC.key:
                env = _Env(zone, now, rollups)
                cost = _Walker(schema, document, operation, variables, env).total()
    except _Uncostable:
        return 0
    return math.ceil(cost)


class CostBudget(SchemaExtension):
    """Refuse an operation over the request's budget before execution, charge it otherwise
    (see the module docstring).

    >>> GatewaySchema(..., extensions=[lambda: CostBudget()])
    """

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        ctx = ec.context
        ledger = getattr(ctx, "cost", None)
        response = getattr(ctx, "response", None)
        if ledger is not None and ec.result is None and ec.graphql_document is not None:
            try:
                ms = await estimate_operation(
                    ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables,
                    ctx, now=ctx.now(), rollups=ctx.db.is_sqlite)
                if response is not None:
                    response.headers["X-Query-Cost"] = str(ms)
                await ledger.prepay(ms)
            except GatewayError as exc:
                ec.result = ExecutionResult(
                    data=None, errors=[GraphQLError(exc.message, original_error=exc)])
        yield
        if ledger is not None and response is not None and ledger.charged_ms:
            response.headers["X-Query-Cost"] = str(ledger.charged_ms)
