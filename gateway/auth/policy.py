"""The decisions: is this principal allowed, and if not, which error.

Every service operation starts with one of these. GraphQL and REST get the same answer because
they call the same services.

- no principal                  -> AuthRequired (401)
- principal lacks the scope     -> InsufficientScope (403)
- object of another tenant      -> NotFound (404) via `require_owned`: existence is never
                                   leaked
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from gateway.auth.principal import Principal
from gateway.errors import AuthRequired, InsufficientScope, NotFound

__all__ = [
    "has_scope",
    "require_authenticated",
    "require_owned",
    "require_pixel",
    "require_scope",
]


def require_authenticated(principal: Principal | None) -> Principal:
    """Any active credential, whatever its scopes (the ungated measures catalog)."""
    if principal is None:
        raise AuthRequired("Missing API key: send x-api-key or Authorization: Bearer")
    return principal


def has_scope(principal: Principal | None, scope: str) -> bool:
    return principal is not None and scope in principal.scopes


def require_scope(principal: Principal | None, scope: str) -> Principal:
    """The principal, when it holds `scope`; raises AuthRequired or InsufficientScope."""
    found = require_authenticated(principal)
    if scope not in found.scopes:
        raise InsufficientScope(scope)
    return found


def require_pixel(principal: Principal) -> str:
    """The pixel this request acts on (validated against the credential at authentication).

    A credential reaching several pixels must name one with `x-pixel-id`. Services compare a
    loaded object's pixel with this value and answer NotFound on a mismatch.
    """
    if principal.pixel_id is None:
        raise AuthRequired("This key reaches several pixels: send x-pixel-id")
    return principal.pixel_id


class _PixelScoped(Protocol):
    pixel_id: str


T = TypeVar("T", bound=_PixelScoped)


def require_owned(row: T | None, pixel_id: str, message: str = "Not found") -> T:
    """`row` when it exists and belongs to `pixel_id`; otherwise NotFound, the same answer for
    "missing" and "another tenant's", so existence never leaks."""
    if row is None or row.pixel_id != pixel_id:
        raise NotFound(message)
    return row
