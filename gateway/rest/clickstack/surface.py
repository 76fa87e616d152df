"""The ClickStack (HyperDX v2) dialect: `{"message"}` errors, statuses as the spec says.

Field problems render as one message, as HyperDX's Zod layer does:
`{"message": "Body validation failed: thresholdType: must be one of above, below; …"}`.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.rest.base import Surface

__all__ = ["surface"]


def _render(exc: GatewayError, status: int) -> dict[str, Any]:
    if exc.details:
        parts = "; ".join(f"{d.key}: {d.message}" for d in exc.details)
        return {"message": f"Body validation failed: {parts}"}
    if exc.code == GatewayError.code:  # unexpected: nothing of it reaches the client
        return {"message": "Something went wrong :("}
    return {"message": exc.message}


surface = Surface("clickstack", render=_render)
