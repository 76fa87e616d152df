"""The Databuddy dialect: error body `{"success": false, "error", "code"}` and statuses.

Databuddy documents four authentication codes (`AUTH_REQUIRED`, `INVALID_API_KEY`,
`ACCESS_DENIED`, `INSUFFICIENT_SCOPE`); every other gateway error keeps its own stable code.
The whole mapping is the table below: one row per gateway code whose Databuddy spelling or
status differs from ours. A rate limiter's refusal (429 `RATE_LIMITED`) also carries
`limit`, `remaining`, `reset` (epoch seconds, as `X-RateLimit-Reset`) and `retryAfter`
(seconds, as `Retry-After`).

Rate limits: Databuddy's per-minute numbers, per route (`/v1/query` pays into
`databuddy.query`, `/v1/query/compile` into `databuddy.compile`, `/v1/query/custom` into
`databuddy.custom`: `surface.route(…, rate_limit="databuddy.query")`), the `databuddy` row
otherwise; `X-RateLimit-*` headers.
"""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from gateway.errors import GatewayError, RateLimited
from gateway.rate_policy import X_RATELIMIT, RatePolicy
from gateway.rest.base import Surface

__all__ = ["CODES", "DatabuddyError", "surface"]


class DatabuddyError(TypedDict):
    success: Literal[False]
    error: str
    code: str
    # A rate limiter's refusal only (429 RATE_LIMITED):
    limit: NotRequired[int]
    remaining: NotRequired[int]
    reset: NotRequired[int]
    retryAfter: NotRequired[int]


# gateway code -> (Databuddy code, HTTP status)
CODES: dict[str, tuple[str, int]] = {
    "AUTH_REQUIRED": ("AUTH_REQUIRED", 401),
    "INVALID_SESSION": ("AUTH_REQUIRED", 401),  # a logged-out browser session: log in again
    "INVALID_API_KEY": ("INVALID_API_KEY", 401),
    "ACCESS_DENIED": ("ACCESS_DENIED", 403),  # valid auth, no access to that website
    "CSRF_FAILED": ("ACCESS_DENIED", 403),
    "INSUFFICIENT_SCOPE": ("INSUFFICIENT_SCOPE", 403),
}


def _render(exc: GatewayError, status: int) -> DatabuddyError:
    code = CODES.get(exc.code, (exc.code, status))[0]
    # Unexpected errors are masked; a GatewayError's own message (QUERY_TIMEOUT's advice,
    # STORAGE_UNAVAILABLE's "retry") is meant for the client, whatever its status.
    message = "Internal server error" if exc.code == GatewayError.code else exc.message
    body: DatabuddyError = {"success": False, "error": message, "code": code}
    if isinstance(exc, RateLimited):
        if exc.limit is not None and exc.remaining is not None and exc.reset is not None:
            body["limit"] = exc.limit
            body["remaining"] = exc.remaining
            body["reset"] = exc.reset
        body["retryAfter"] = exc.retry_after
    return body


surface = Surface("databuddy", title="Databuddy", render=_render, error_body=DatabuddyError,
                  prefixes=("/v1/",),
                  statuses={ours: status for ours, (_, status) in CODES.items()},
                  rate_limit=RatePolicy("databuddy", X_RATELIMIT))
