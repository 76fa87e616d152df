"""Validation rules that bound a GraphQL document's shape, in time linear in the document.

`limits_rule(max_depth, max_aliases, max_fragment_nesting)` builds one graphql-core rule
class (build it once: a rule class per request defeats the validation cache, strawberry
#4635). It measures, per operation:

- depth: how many fields with a selection set enclose the deepest field, as Strawberry's
  QueryDepthLimiter counts it (introspection fields `__*` and their subtrees do not count);
- aliases: aliased fields in all operations, fragment spreads expanded (a fragment spread
  twice counts twice), as Strawberry's MaxAliasesLimiter counts them;
- fragment nesting: the longest chain of spreads (`...A` whose body spreads `...B` ...).

Strawberry's own limiters re-walk a fragment's body at every spread, so a fragment `Fi` that
spreads `F(i+1)` twice costs 2^n; here each fragment is measured once and the result reused
(memoized by name), with an explicit stack instead of recursion. Cycles (which graphql-core's
NoFragmentCycles rejects) count as nothing and cannot loop. graphql-core 3.3 gives up at 200
levels of nesting (its parser, and "Validation aborted." for fragment chains) to stay clear
of the recursion limit; the fragment nesting bound here is lower, to say what went wrong in
a coded error and to keep execution's recursive field collection shallow.

`AnonymousIntrospectionRule` refuses `__schema` / `__type` (not `__typename`); the schema
extension adds it to the rules of callers without a valid credential when anonymous
introspection is off. Federation's `_service { sdl }` is an ordinary field and stays open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.execution.executor import SELECTIONS_NESTED_TOO_DEEPLY
from graphql.validation.validate import ValidationAbortedError

from gateway.errors import AuthRequired, GatewayError, QueryTooLarge

__all__ = ["AnonymousIntrospectionRule", "Shape", "code_core_limit_error", "coded_error",
           "fragment_dependency_order", "limits_rule", "measure_document"]


def coded_error(error: GatewayError, nodes: Node | list[Node] | None = None) -> GraphQLError:
    """A GraphQL error carrying `error`'s code (graphql-core copies `.extensions`)."""
    return GraphQLError(error.message, nodes, original_error=error)


_CORE_LIMIT_MESSAGES = frozenset({SELECTIONS_NESTED_TOO_DEEPLY,
                                  "Variable values are nested too deeply."})


def code_core_limit_error(error: GraphQLError) -> GraphQLError:
    """graphql-core 3.3 stops before the interpreter's recursion limit, and at its token limit,
    with uncoded errors: "Document is nested too deeply. Parsing aborted.", "Document contains
    more than N tokens. Parsing aborted.", "Validation aborted." (fragments nested past 200, or
    too many errors), nested variables or selections. Give those QUERY_TOO_LARGE, locations
    kept; any other error is returned as it is."""
    if error.original_error is not None or (error.extensions or {}).get("code"):
        return error
    message = error.message
    if not (isinstance(error, ValidationAbortedError) or message in _CORE_LIMIT_MESSAGES
            or message.endswith("Parsing aborted.")):
        return error
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path,
                        original_error=QueryTooLarge(message))


@dataclass(frozen=True)
class Shape:
    """What one operation (or one fragment's body) costs."""

    depth: int = 0
    aliases: int = 0
    nesting: int = 0


def _measure_body(selection_set: SelectionSetNode, known: dict[str, Shape]) -> Shape:
    """One walk over a body; spreads use `known` (fragments measured before), others are 0."""
    depth = aliases = nesting = 0
    stack: list[tuple[SelectionSetNode, int, bool]] = [(selection_set, 0, True)]
    while stack:
        current, level, counts_depth = stack.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    aliases += 1
                if counts_depth:
                    depth = max(depth, level)
                if selection.selection_set is not None:
                    introspection = selection.name.value.startswith("__")
                    stack.append((selection.selection_set, level + 1,
                                  counts_depth and not introspection))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level, counts_depth))
            elif isinstance(selection, FragmentSpreadNode):
                inner = known.get(selection.name.value, Shape())
                aliases += inner.aliases
                nesting = max(nesting, inner.nesting + 1)
                if counts_depth:
                    depth = max(depth, level + inner.depth)
    return Shape(depth, aliases, nesting)


def _spread_names(selection_set: SelectionSetNode) -> list[str]:
    names: list[str] = []
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, FieldNode | InlineFragmentNode) \
                    and selection.selection_set is not None:
                stack.append(selection.selection_set)
    return names


def _dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragments so that each comes after those it spreads (iterative DFS; an edge back into
    a fragment still being visited, i.e. a cycle, is dropped)."""
    spreads = {name: [s for s in _spread_names(f.selection_set) if s in fragments]
               for name, f in fragments.items()}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in fragments:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(spreads[root]))]
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[name] = 2
                order.append(name)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(spreads[child])))
    return order


def fragment_dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragment names so that each comes after the fragments it spreads (cycles dropped): the
    order in which each fragment can be measured once, from measures already taken (the
    cost budget, gateway/graphql_cost.py, walks them in this order too)."""
    return _dependency_order(fragments)


def measure_document(document: DocumentNode) -> dict[OperationDefinitionNode, Shape]:
    """The shape of every operation, in time linear in the document."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    known: dict[str, Shape] = {}
    for name in _dependency_order(fragments):
        known[name] = _measure_body(fragments[name].selection_set, known)
    return {d: _measure_body(d.selection_set, known) for d in document.definitions
            if isinstance(d, OperationDefinitionNode)}


def _too_large(message: str, nodes: Iterable[Node] = ()) -> GraphQLError:
    return coded_error(QueryTooLarge(message), list(nodes) or None)


def limits_rule(max_depth: int, max_aliases: int,
                max_fragment_nesting: int) -> type[ValidationRule]:
    """A rule class refusing operations past the bounds, with code QUERY_TOO_LARGE."""

    class DocumentLimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            shapes = measure_document(node)
            for operation, shape in shapes.items():
                name = operation.name.value if operation.name else "anonymous"
                if shape.depth > max_depth:
                    self.report_error(_too_large(
                        f"'{name}' exceeds maximum operation depth of {max_depth}",
                        [operation]))
                if shape.nesting > max_fragment_nesting:
                    self.report_error(_too_large(
                        f"'{name}' nests fragment spreads {shape.nesting} deep; the maximum "
                        f"is {max_fragment_nesting}", [operation]))
            aliases = sum(shape.aliases for shape in shapes.values())
            if aliases > max_aliases:
                self.report_error(_too_large(f"{aliases} aliases found. Allowed: {max_aliases}"))

    return DocumentLimitsRule


INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class AnonymousIntrospectionRule(ValidationRule):
    """Refuse schema introspection (code AUTH_REQUIRED): added for callers without a valid
    credential when anonymous introspection is off."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._reported = False

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.name.value in INTROSPECTION_FIELDS and not self._reported:
            self._reported = True
            self.report_error(coded_error(AuthRequired(
                "Introspection (__schema, __type) needs a valid credential: send x-api-key "
                "(in GraphiQL, in the Headers pane)"), [node]))
