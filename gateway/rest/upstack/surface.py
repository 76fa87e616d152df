"""The Upstack dialect: error body and statuses.

Error body `{"message"}`, plus `"errors": [{message, key, path}]` on 400s with field detail.
Statuses: 400 validation, 401 missing or bad key/pixel, 403 missing scope, 404 not found
(also another pixel's objects), 409 conflict, 413 too large, 429 rate limited, 503 storage
unavailable, 504 query timeout. Only unexpected errors (500) hide their message.

`STATUSES` names the statuses chosen here rather than taken from the error's default:
QUERY_TOO_COSTLY is 400 (`{"message"}` saying the estimate and the budget, which also go
in `X-Query-Cost` / `X-Query-Budget`), not 429: no wait makes the same query affordable.

Rate limits: the `upstack` row, `X-RateLimit-*` headers (reset in epoch seconds).
"""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from gateway.errors import GatewayError, QueryTooCostly
from gateway.rate_policy import X_RATELIMIT, RatePolicy
from gateway.rest.base import Surface

__all__ = ["STATUSES", "FieldErrorBody", "UpstackError", "surface"]

STATUSES: dict[str, int] = {QueryTooCostly.code: 400}


class FieldErrorBody(TypedDict):
    message: str
    key: str
    path: list[str | int]


class UpstackError(TypedDict):
    message: str
    errors: NotRequired[list[FieldErrorBody]]


def _render(exc: GatewayError, status: int) -> UpstackError:
    if exc.details:
        return {"message": "Bad Request",
                "errors": [{"message": d.message, "key": d.key, "path": list(d.path)}
                           for d in exc.details]}
    if exc.code == GatewayError.code:  # unexpected: nothing of it reaches the client
        return {"message": "Internal Server Error"}
    return {"message": exc.message}


surface = Surface("upstack", title="Upstack Data", render=_render, error_body=UpstackError,
                  statuses=STATUSES, prefixes=("/db-mgmt/", "/accounts/", "/tr/"),
                  rate_limit=RatePolicy("upstack", X_RATELIMIT))
