"""Parsing and validation of GraphQL documents: size limit first, cache bounded in bytes.

`DocumentGuard` (a schema extension, one per request) replaces Strawberry's ParserCache and
ValidationCache, whose LRUs are bounded by count: 128 distinct 3 MB documents held hundreds
of megabytes. Per request it

1. refuses a document over `max_document_bytes` (UTF-8) before parsing, with code
   PAYLOAD_TOO_LARGE, for POST bodies and `GET /graphql?query=` alike;
2. picks the validation rules: graphql-core's, the shape limits (gateway/graphql_limits.py)
   and, for a caller without a valid credential when anonymous introspection is off, the
   introspection refusal; each combination is one tuple built once, so validation results
   stay cacheable (strawberry #4635);
3. parses through the `DocumentStore` (the token limit set by MaxTokensLimiter applies); a
   syntax error is coded GRAPHQL_PARSE_FAILED (gateway/graphql_errors.py);
4. validates through the same store; uncoded errors are coded GRAPHQL_VALIDATION_FAILED, a
   RecursionError becomes QUERY_TOO_LARGE.

graphql-core's own bounds (too many tokens, nesting past 200 levels) answer uncoded errors;
`code_core_limit_error` (gateway/graphql_limits.py) codes them on the way out.

The store is an LRU keyed by query text whose entries are charged an estimate of the memory
they hold: twice the text (the source, plus the string and comment values graphql-core copies
out of it), ~400 bytes per token (graphql-core keeps every token and node; measured ~380) and
the cached validation errors. It never holds more than `max_bytes` of that estimate.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from gateway.errors import GatewayError, PayloadTooLarge, QueryTooLarge
from gateway.graphql_errors import code_parse_error, code_validation_error
from gateway.graphql_limits import AnonymousIntrospectionRule, coded_error

__all__ = ["DocumentGuard", "DocumentStore", "has_valid_credential", "utf8_length_over"]

BYTES_PER_TOKEN = 400
BYTES_PER_ERROR = 1024
ENTRY_OVERHEAD = 1024

Rules = tuple[type[ASTValidationRule], ...]


def has_valid_credential(context: Any) -> bool:
    """True when the request carries a credential that authenticated (a bad one raises its
    error on `principal`; that is not a valid credential)."""
    try:
        return getattr(context, "principal", None) is not None
    except GatewayError:
        return False


def utf8_length_over(text: str, limit: int) -> bool:
    """Whether `text` takes more than `limit` bytes in UTF-8 (encodes only when unsure)."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


@dataclass
class _Entry:
    document: DocumentNode
    cost: int
    validations: dict[Rules, list[GraphQLError]] = field(default_factory=dict)


class DocumentStore:
    """Parsed documents and their validation results, LRU, at most `max_bytes` (estimated)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def parse(self, query: str, options: dict[str, Any]) -> DocumentNode:
        entry = self._items.get(query)
        if entry is not None:
            self.hits += 1
            self._items.move_to_end(query)
            return entry.document
        self.misses += 1
        document = parse(query, **options)
        tokens = getattr(document, "token_count", None)
        if not isinstance(tokens, int):
            tokens = len(query) // 4
        cost = ENTRY_OVERHEAD + 2 * sys.getsizeof(query) + BYTES_PER_TOKEN * tokens
        if cost <= self.max_bytes:
            self._items[query] = _Entry(document, cost)
            self.size += cost
            self._shrink()
        return document

    def validate(self, query: str, document: DocumentNode, schema: GraphQLSchema,
                 rules: Rules) -> list[GraphQLError]:
        entry = self._items.get(query)
        if entry is not None and entry.document is document:
            found = entry.validations.get(rules)
            if found is not None:
                return found
        errors = validate_document(schema, document, rules)
        if entry is not None and entry.document is document:
            extra = BYTES_PER_ERROR * len(errors) + sum(len(e.message) for e in errors)
            entry.validations[rules] = errors
            entry.cost += extra
            self.size += extra
            self._shrink()
        return errors

    def _shrink(self) -> None:
        while self.size > self.max_bytes and self._items:
            _, evicted = self._items.popitem(last=False)
            self.size -= evicted.cost


class DocumentGuard(SchemaExtension):
    def __init__(self, store: DocumentStore, *, max_document_bytes: int, rules: Rules,
                 anonymous_introspection: bool) -> None:
        self.store = store
        self.max_document_bytes = max_document_bytes
        self.rules = rules
        self.anonymous_introspection = anonymous_introspection

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.query is not None and utf8_length_over(ec.query, self.max_document_bytes):
            raise coded_error(PayloadTooLarge(
                f"GraphQL document exceeds {self.max_document_bytes} bytes"))
        rules = self.rules
        if not self.anonymous_introspection and not has_valid_credential(ec.context):
            rules = (*rules, AnonymousIntrospectionRule)
        ec.validation_rules = (*ec.validation_rules, *rules)
        yield

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.query:  # otherwise Strawberry reports the missing query
            try:
                ec.graphql_document = self.store.parse(ec.query, dict(ec.parse_options))
            except GraphQLError as error:
                raise code_parse_error(error) from None
        yield

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        document = ec.graphql_document
        if document is not None and ec.query:
            try:
                errors = self.store.validate(
                    ec.query, document, ec.schema._schema, ec.validation_rules)
                ec.pre_execution_errors = [code_validation_error(e) for e in errors]
            except RecursionError:
                ec.pre_execution_errors = [coded_error(QueryTooLarge(
                    "Document is nested too deeply to validate"))]
        yield
