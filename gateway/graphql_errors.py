"""What a client reads of a GraphQL error, and what the log gets (issue #12).

Every error leaves with `extensions.code`:

    GRAPHQL_PARSE_FAILED       the document is not GraphQL (a syntax error)
    GRAPHQL_VALIDATION_FAILED  the document does not fit the schema
    BAD_USER_INPUT             a variable's value (or, found at execution, an argument's)
                               does not fit its type
    <a GatewayError's code>    raised anywhere: QUERY_TOO_LARGE, PAYLOAD_TOO_LARGE, NOT_FOUND, ...
    INTERNAL                   anything else, masked

The three GraphQL codes are Apollo Server's standard ones (clients and routers built for Apollo
read them); the classes are in gateway/errors.py. Each is given where the phase that found the
error is known, never by reading messages:

- parse: `DocumentGuard.on_parse` (gateway/graphql_documents.py) codes what the parser raises;
- validation: `DocumentGuard.on_validate` codes what validation reports (our own rules' errors
  keep their codes: QUERY_TOO_LARGE, AUTH_REQUIRED);
- variables: `GatewayExecutor.build` codes what graphql-core's variable coercion returns;
- arguments at execution (a null sent through a nullable variable to a non-null argument):
  `GatewayExecutor.handle_field_error`, on the error path only, coerces the failed field's
  arguments again; if that fails, the arguments were the error.

graphql-core's own bounds (token count, nesting, "Validation aborted.") are coded
QUERY_TOO_LARGE before any of these (`code_core_limit_error`).

An error with no GatewayError behind it after that is unexpected: a bug, or storage failing.
The client sees "Unexpected error." with code INTERNAL (REST's code for the same case) and the
request id (`extensions.requestId`, also the response's `X-Request-Id` header); the log gets
ONE record per request (logger `gateway.graphql`, ERROR) naming the request id and each
failed path, with the first error's traceback. Client mistakes are not logged at all. A
RecursionError (input nested past what the interpreter can walk) is the client's doing: it
answers QUERY_TOO_LARGE and logs one warning line without the 1,000-frame traceback.

Status: 200 for all of these, with `application/json` (GraphQL over HTTP: a server SHOULD
answer 200 to every well-formed request with that media type; 400 is for
`application/graphql-response+json`). Strawberry's own plain-text 400s (no query, `variables`
not an object, an unknown operation name, a mutation over GET) stay as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLOutputType
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.errors import (
    BadUserInput,
    GatewayError,
    GraphQLParseFailed,
    GraphQLValidationFailed,
    QueryTooLarge,
)
from gateway.graphql_limits import code_core_limit_error

__all__ = ["UNEXPECTED_MESSAGE", "GatewayExecutor", "cause_of", "client_view",
           "code_parse_error", "code_validation_error", "is_unexpected", "log_unexpected"]

log = logging.getLogger("gateway.graphql")

UNEXPECTED_MESSAGE = "Unexpected error."


def cause_of(error: GraphQLError) -> BaseException | None:
    """The exception behind `error`, through graphql-core's wrapping (a coercion error is a
    GraphQLError whose `original_error` is another GraphQLError)."""
    cause = error.original_error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    return cause


def _is_coded(error: GraphQLError) -> bool:
    return isinstance(cause_of(error), GatewayError) or bool((error.extensions or {}).get("code"))


def _recode(error: GraphQLError, cls: type[GatewayError]) -> GraphQLError:
    """`error` with its message and locations, coded `cls` unless already coded (our bounds
    first: a parse aborted at the token limit is QUERY_TOO_LARGE, not a syntax error)."""
    error = code_core_limit_error(error)
    if _is_coded(error):
        return error
    return GraphQLError(error.message, error.nodes, error.source, error.positions, error.path,
                        original_error=cls(error.message))


def code_parse_error(error: GraphQLError) -> GraphQLError:
    return _recode(error, GraphQLParseFailed)


def code_validation_error(error: GraphQLError) -> GraphQLError:
    return _recode(error, GraphQLValidationFailed)


class GatewayExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, coding the request errors it finds (module docstring)."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """A list of errors here means the operation could not start: its variables do not
        fit their types (or the operation name matches none: Strawberry answers that 400
        before this runs)."""
        built = super().build(*args, **kwargs)
        if isinstance(built, list):
            return [_recode(error, BadUserInput) for error in built]
        return built

    def handle_field_error(self, raw_error: Exception, return_type: GraphQLOutputType,
                           field_details_list: FieldDetailsList, path: Path) -> None:
        if (isinstance(raw_error, GraphQLError) and raw_error.path is None
                and not _is_coded(raw_error) and self._arguments_fail(field_details_list, path)):
            raw_error = BadUserInput(raw_error.message)
        super().handle_field_error(raw_error, return_type, field_details_list, path)

    def _arguments_fail(self, field_details_list: FieldDetailsList, path: Path) -> bool:
        """Whether the field's arguments fail to coerce: then the error just handled was
        theirs, since the resolver never ran (the same values fail the same way)."""
        parent = self.schema.get_type(path.typename) if path.typename else None
        if not isinstance(parent, GraphQLObjectType):
            return False  # a list item: its field's arguments were fine
        details = field_details_list[0]
        field = self.schema.get_field(parent, details.node.name.value)
        if field is None:
            return False
        try:
            get_argument_values(field, details.node, self.variable_values,
                                details.fragment_variable_values)
        except GraphQLError:
            return True
        return False


def is_unexpected(error: GraphQLError) -> bool:
    """Whether `error` is ours to fix: not coded, and not input nested too deeply."""
    return not _is_coded(error) and not isinstance(cause_of(error), RecursionError)


def client_view(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """What the client sees of `error`: coded errors as they are; a RecursionError as
    QUERY_TOO_LARGE; anything else "Unexpected error.", code INTERNAL, with the request id
    to quote."""
    if not is_unexpected(error):
        if isinstance(cause_of(error), RecursionError):
            return GraphQLError("Input is nested too deeply", error.nodes, error.source,
                                error.positions, error.path,
                                original_error=QueryTooLarge("Input is nested too deeply"))
        return error
    extensions: dict[str, Any] = {"code": GatewayError.code}
    if request_id is not None:
        extensions["requestId"] = request_id
    return GraphQLError(UNEXPECTED_MESSAGE, error.nodes, error.source, error.positions,
                        error.path, extensions=extensions)


def _where(error: GraphQLError) -> str:
    cause = cause_of(error)
    path = ".".join(str(p) for p in error.path) if error.path else "(operation)"
    kind = type(cause).__name__ if cause is not None else type(error).__name__
    return f"{path}: {kind}: {error.message}"


def log_unexpected(errors: Sequence[GraphQLError], request_id: str | None) -> None:
    """Log a request's errors: the unexpected ones as ONE error record with the request id
    and the first one's traceback; input nested too deeply as one warning line; nothing
    for any other (client) error."""
    unexpected = [e for e in errors if is_unexpected(e)]
    if unexpected:
        first = cause_of(unexpected[0]) or unexpected[0]
        log.error("unexpected GraphQL error (request %s): %s", request_id,
                  "; ".join(_where(e) for e in unexpected), exc_info=first,
                  extra={"request_id": request_id})
    if any(isinstance(cause_of(e), RecursionError) for e in errors):
        log.warning("GraphQL input nested too deeply (request %s)", request_id)
