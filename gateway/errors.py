"""Errors with stable codes: the one tree every layer raises and every surface renders.

    GatewayError                code                 default status
      AuthRequired              AUTH_REQUIRED        401
      InvalidApiKey             INVALID_API_KEY      401
      AccessDenied              ACCESS_DENIED        401  the key cannot reach the pixel
      InvalidSession            INVALID_SESSION      401  bad, expired or logged-out token
      InvalidCredentials        INVALID_CREDENTIALS  401  wrong email or password at login
      CsrfFailed                CSRF_FAILED          403  cookie write without CSRF proof
      InsufficientScope         INSUFFICIENT_SCOPE   403
      PixelMismatch             PIXEL_MISMATCH       403  body pixelId is not the request's
      NotFound                  NOT_FOUND            404  also another tenant's object, or
                                                      a path no route serves
      MethodNotAllowed          METHOD_NOT_ALLOWED   405  the path is served, not this method
      InvalidInput              INVALID_INPUT        400  carries field-level `details`
        PayloadTooLarge         PAYLOAD_TOO_LARGE    413
        UnsupportedMediaType    UNSUPPORTED_MEDIA_TYPE 415  a JSON body not sent as JSON
        QueryTooLarge           QUERY_TOO_LARGE      400  buckets x groups, or a GraphQL
                                                      document's shape, past a bound
        GraphQLParseFailed      GRAPHQL_PARSE_FAILED 400  GraphQL only: a syntax error
        GraphQLValidationFailed GRAPHQL_VALIDATION_FAILED  400  GraphQL only: the document
                                                      does not fit the schema
        BadUserInput            BAD_USER_INPUT       400  GraphQL only: a variable (or argument)
                                                      value does not fit its type
        QueryTooCostly          QUERY_TOO_COSTLY     400  estimated server time past the
                                                      request's budget (gateway/cost.py)
      Conflict                  CONFLICT             409
        StaleVersion            STALE_VERSION        409  a write named an old version
      RateLimited               RATE_LIMITED         429
      StorageUnavailable        STORAGE_UNAVAILABLE  503  database busy or down; retry
      QueryTimeout              QUERY_TIMEOUT        504  an analytics query ran past its
                                                      time limit and was cancelled

Codes are never renamed or reused once shipped; a new situation gets a new class. The status
is the default; each REST surface owns a table that may map a code to its product's status.
GraphQL puts `code` (and `details` where present) into `extensions`: graphql-core copies an
original error's `.extensions` dict into the GraphQL error. The three GraphQL-only codes are
Apollo Server's standard ones, given to graphql-core's own errors by the phase that found them
(gateway/graphql_errors.py); INTERNAL (this base class) is what an unexpected error is
answered as, masked, on every surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "AuthRequired",
    "BadUserInput",
    "Conflict",
    "CsrfFailed",
    "FieldError",
    "GatewayError",
    "GraphQLParseFailed",
    "GraphQLValidationFailed",
    "InsufficientScope",
    "InvalidApiKey",
    "InvalidCredentials",
    "InvalidInput",
    "InvalidSession",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PixelMismatch",
    "QueryTimeout",
    "QueryTooCostly",
    "QueryTooLarge",
    "RateLimited",
    "StaleVersion",
    "StorageUnavailable",
    "UnsupportedMediaType",
    "all_error_classes",
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field. `path` locates it, e.g. ("widgets", 2, "measure")."""

    message: str
    path: tuple[str | int, ...]

    @property
    def key(self) -> str:
        """Dotted form of the path, as the Upstack body's `key` ("widgets.2.measure")."""
        return ".".join(str(p) for p in self.path)

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "key": self.key, "path": list(self.path)}


class GatewayError(Exception):
    """Base of every error a client may see. Anything else is masked as an internal error."""

    code: ClassVar[str] = "INTERNAL"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None, *, details: Sequence[FieldError] = ()) -> None:
        self.message = message or self.default_message
        self.details = tuple(details)
        super().__init__(self.message)

    @property
    def extensions(self) -> dict[str, Any]:
        """What GraphQL puts under `errors[].extensions` (graphql-core reads this attribute)."""
        ext: dict[str, Any] = {"code": self.code}
        if self.details:
            ext["details"] = [d.as_dict() for d in self.details]
        return ext


class AuthRequired(GatewayError):
    code = "AUTH_REQUIRED"
    status = 401
    default_message = "Authentication required"


class InvalidApiKey(GatewayError):
    code = "INVALID_API_KEY"
    status = 401
    default_message = "Invalid, expired or revoked API key"


class AccessDenied(GatewayError):
    code = "ACCESS_DENIED"
    status = 401
    default_message = "This credential cannot access the requested pixel"


class InvalidSession(GatewayError):
    code = "INVALID_SESSION"
    status = 401
    default_message = "Invalid, expired or logged-out session"


class InvalidCredentials(GatewayError):
    code = "INVALID_CREDENTIALS"
    status = 401
    default_message = "Wrong email or password"


class CsrfFailed(GatewayError):
    code = "CSRF_FAILED"
    status = 403
    default_message = ("Cookie-authenticated writes need the x-csrf-token header and a "
                       "same-origin request")


class InsufficientScope(GatewayError):
    code = "INSUFFICIENT_SCOPE"
    status = 403
    default_message = "Insufficient scope"

    def __init__(self, scope: str, message: str | None = None) -> None:
        self.scope = scope
        super().__init__(message or f"API key does not have the {scope} scope")

    @property
    def extensions(self) -> dict[str, Any]:
        return {**super().extensions, "scope": self.scope}


class PixelMismatch(GatewayError):
    """A body names a pixel other than the one the request acts on (Upstack: 403)."""

    code = "PIXEL_MISMATCH"
    status = 403
    default_message = "pixelId does not match the request's pixel"


class NotFound(GatewayError):
    code = "NOT_FOUND"
    status = 404
    default_message = "Not found"


class MethodNotAllowed(GatewayError):
    """The path is served, but not with this method; `allowed` lists the methods that are
    (the `Allow` header of the 405)."""

    code = "METHOD_NOT_ALLOWED"
    status = 405
    default_message = "Method not allowed"

    def __init__(self, message: str | None = None, *, allowed: Sequence[str] = ()) -> None:
        self.allowed = tuple(allowed)
        super().__init__(message)


class InvalidInput(GatewayError):
    code = "INVALID_INPUT"
    status = 400
    default_message = "Bad Request"

    @classmethod
    def field(cls, message: str, *path: str | int) -> InvalidInput:
        """One field-level error: `InvalidInput.field("name is required", "name")`."""
        return cls(message, details=[FieldError(message, tuple(path))])


class PayloadTooLarge(InvalidInput):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    default_message = "Request body too large"


class UnsupportedMediaType(InvalidInput):
    """A body that must be JSON was sent with another (or no) Content-Type."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415
    default_message = "Content-Type must be application/json"


class QueryTooLarge(InvalidInput):
    """An analytics query past its size bound (buckets x groups, percentile inputs), or a
    GraphQL document past its shape bounds (depth, aliases, fragment nesting, tokens)."""

    code = "QUERY_TOO_LARGE"
    status = 400
    default_message = "Query too large"


class GraphQLParseFailed(InvalidInput):
    """The GraphQL document is not GraphQL (graphql-core's syntax error, message kept)."""

    code = "GRAPHQL_PARSE_FAILED"
    default_message = "Syntax error"


class GraphQLValidationFailed(InvalidInput):
    """The document does not fit the schema: an unknown field or argument, a literal of the
    wrong type, an undeclared variable (graphql-core's validation message, kept)."""

    code = "GRAPHQL_VALIDATION_FAILED"
    default_message = "The document does not fit the schema"


class BadUserInput(InvalidInput):
    """A variable's value does not fit its declared type (wrong type, missing, bad enum
    value, Int past 32 bits, unknown input field), or an argument's value, found invalid at
    execution (graphql-core's coercion message, kept)."""

    code = "BAD_USER_INPUT"
    default_message = "A value does not fit its type"
class QueryTooCostly(InvalidInput):
    """A request whose estimated server time (gateway/cost.py) exceeds its budget, refused
    before it runs: `cost_ms` and `budget_ms` go to GraphQL `extensions` (`cost`, `budget`)
    and to the REST headers `X-Query-Cost` / `X-Query-Budget`. Not 429: waiting does not
    help; asking for less (fewer fields or aliases, a shorter range, a coarser granularity,
    fewer dimensions) does."""

    code = "QUERY_TOO_COSTLY"
    status = 400
    default_message = "Query too costly"

    def __init__(self, cost_ms: int = 0, budget_ms: int = 0, message: str | None = None) -> None:
        self.cost_ms = cost_ms
        self.budget_ms = budget_ms
        super().__init__(message or (
            f"The request would take about {cost_ms:,} ms of server time; the budget is "
            f"{budget_ms:,} ms. Ask for less: fewer fields or aliases, a shorter date range, "
            "a coarser granularity or fewer dimensions"))

    @property
    def extensions(self) -> dict[str, Any]:
        return {**super().extensions, "cost": self.cost_ms, "budget": self.budget_ms}


class Conflict(GatewayError):
    code = "CONFLICT"
    status = 409
    default_message = "Conflict"


class StaleVersion(Conflict):
    """Optimistic concurrency: the object changed since the version the write was based on."""

    code = "STALE_VERSION"
    default_message = "The object was changed by someone else; reload it and retry"


class RateLimited(GatewayError):
    """Try again in `retry_after` whole seconds: REST sends it as the `Retry-After` header,
    GraphQL as `extensions.retryAfter` (and the header on the HTTP response). A refusal of
    the rate limiter also carries its bucket's `limit`, `remaining` and `reset` (epoch
    seconds), which GraphQL's extensions and Databuddy's body show."""

    code = "RATE_LIMITED"
    status = 429
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int = 1,
                 limit: int | None = None, remaining: int | None = None,
                 reset: int | None = None) -> None:
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset = reset
        super().__init__(message)

    @property
    def extensions(self) -> dict[str, Any]:
        ext = {**super().extensions, "retryAfter": self.retry_after}
        if self.limit is not None:
            ext.update(limit=self.limit, remaining=self.remaining, reset=self.reset)
        return ext


class StorageUnavailable(GatewayError):
    """The database could not take the write (locked past the busy timeout, disk full, down).
    Nothing of the request was acknowledged; retrying with the same event ids is safe."""

    code = "STORAGE_UNAVAILABLE"
    status = 503
    default_message = "Storage temporarily unavailable; retry"


class QueryTimeout(GatewayError):
    """An analytics query ran past its time limit (`GATEWAY_QUERY_TIMEOUT_SECONDS`) and was
    cancelled, its statements stopped in the database. `timeout_seconds`: the limit, also in
    GraphQL's `extensions.timeoutSeconds`. Retrying the same query will most likely time out
    again: narrow it."""

    code = "QUERY_TIMEOUT"
    status = 504
    default_message = ("The query ran past its time limit and was cancelled; narrow the date "
                       "range, use a coarser granularity, fewer measures or a filter")

    def __init__(self, message: str | None = None, *, timeout_seconds: float = 0.0) -> None:
        self.timeout_seconds = timeout_seconds
        super().__init__(message)

    @property
    def extensions(self) -> dict[str, Any]:
        return {**super().extensions, "timeoutSeconds": self.timeout_seconds}


def all_error_classes() -> list[type[GatewayError]]:
    """Every concrete error class, for invariant tests and surface tables."""
    found: list[type[GatewayError]] = []
    stack: list[type[GatewayError]] = [GatewayError]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            stack.append(sub)
    return found
