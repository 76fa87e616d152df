"""Errors with stable codes: the one tree every layer raises and every surface renders.

    GatewayError                              code                 default status
      AuthRequired                            AUTH_REQUIRED        401
      InvalidApiKey                           INVALID_API_KEY      401
      AccessDenied                            ACCESS_DENIED        401  the key cannot reach the pixel
      InsufficientScope                       INSUFFICIENT_SCOPE   403
      NotFound                                NOT_FOUND            404  also another tenant's object
      InvalidInput                            INVALID_INPUT        400  carries field-level `details`
        PayloadTooLarge                       PAYLOAD_TOO_LARGE    413
      Conflict                                CONFLICT             409
      RateLimited                             RATE_LIMITED         429
      StorageUnavailable                      STORAGE_UNAVAILABLE  503  database busy or down; retry

Codes are never renamed or reused once shipped; a new situation gets a new class. The status
is the default; each REST surface owns a table that may map a code to its product's status.
GraphQL puts `code` (and `details` where present) into `extensions`: graphql-core copies an
original error's `.extensions` dict into the GraphQL error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "AuthRequired",
    "Conflict",
    "FieldError",
    "GatewayError",
    "InsufficientScope",
    "InvalidApiKey",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "StorageUnavailable",
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


class NotFound(GatewayError):
    code = "NOT_FOUND"
    status = 404
    default_message = "Not found"


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


class Conflict(GatewayError):
    code = "CONFLICT"
    status = 409
    default_message = "Conflict"


class RateLimited(GatewayError):
    code = "RATE_LIMITED"
    status = 429
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StorageUnavailable(GatewayError):
    """The database could not take the write (locked past the busy timeout, disk full, down).
    Nothing of the request was acknowledged; retrying with the same event ids is safe."""

    code = "STORAGE_UNAVAILABLE"
    status = 503
    default_message = "Storage temporarily unavailable; retry"


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
