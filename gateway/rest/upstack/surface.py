"""The Upstack dialect: error body and statuses.

Error body `{"message"}`, plus `"errors": [{message, key, path}]` on 400s with field detail.
Statuses: 400 validation, 401 missing or bad key/pixel, 403 missing scope, 404 not found
(also another pixel's objects), 409 conflict, 413 too large, 429 rate limited, 503 storage
unavailable, 504 query timeout. Only unexpected errors (500) hide their message.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.rest.base import Surface

__all__ = ["surface"]


def _render(exc: GatewayError, status: int) -> dict[str, Any]:
    if exc.details:
        return {"message": "Bad Request", "errors": [d.as_dict() for d in exc.details]}
    if exc.code == GatewayError.code:  # unexpected: nothing of it reaches the client
        return {"message": "Internal Server Error"}
    return {"message": exc.message}


surface = Surface("upstack", render=_render)
