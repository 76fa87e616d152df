"""The ClickStack (HyperDX v2) dialect: `{"message"}` errors, statuses as the spec says.

Field problems render as one message, as HyperDX's Zod layer does:
`{"message": "Body validation failed: thresholdType: must be one of above, below; …"}`.
Rate limits: the `clickstack` row (HyperDX: 100 a minute per key), in the headers HyperDX's
express-rate-limit sends (`standardHeaders`): `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` in seconds from now; no `X-RateLimit-*`.
"""

from __future__ import annotations

from typing_extensions import TypedDict

from gateway.errors import GatewayError
from gateway.rate_policy import IETF_RATELIMIT, RatePolicy
from gateway.rest.base import Surface

__all__ = ["ClickStackError", "surface"]


class ClickStackError(TypedDict):
    message: str


def _render(exc: GatewayError, status: int) -> ClickStackError:
    if exc.details:
        parts = "; ".join(f"{d.key}: {d.message}" for d in exc.details)
        return {"message": f"Body validation failed: {parts}"}
    if exc.code == GatewayError.code:  # unexpected: nothing of it reaches the client
        return {"message": "Something went wrong :("}
    return {"message": exc.message}


surface = Surface("clickstack", title="ClickStack (HyperDX v2)", render=_render,
                  error_body=ClickStackError, prefixes=("/api/v2/",),
                  rate_limit=RatePolicy("clickstack", IETF_RATELIMIT))
