"""The Databuddy dialect: error body `{"success": false, "error", "code"}` and statuses.

Databuddy documents four authentication codes (`AUTH_REQUIRED`, `INVALID_API_KEY`,
`ACCESS_DENIED`, `INSUFFICIENT_SCOPE`); every other gateway error keeps its own stable code.
The whole mapping is the table below: one row per gateway code whose Databuddy spelling or
status differs from ours.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.rest.base import Surface

__all__ = ["CODES", "surface"]

# gateway code -> (Databuddy code, HTTP status)
CODES: dict[str, tuple[str, int]] = {
    "AUTH_REQUIRED": ("AUTH_REQUIRED", 401),
    "INVALID_SESSION": ("AUTH_REQUIRED", 401),  # a logged-out browser session: log in again
    "INVALID_API_KEY": ("INVALID_API_KEY", 401),
    "ACCESS_DENIED": ("ACCESS_DENIED", 403),  # valid auth, no access to that website
    "CSRF_FAILED": ("ACCESS_DENIED", 403),
    "INSUFFICIENT_SCOPE": ("INSUFFICIENT_SCOPE", 403),
}


def _render(exc: GatewayError, status: int) -> dict[str, Any]:
    code = CODES.get(exc.code, (exc.code, status))[0]
    # Unexpected errors are masked; a GatewayError's own message (QUERY_TIMEOUT's advice,
    # STORAGE_UNAVAILABLE's "retry") is meant for the client, whatever its status.
    message = "Internal server error" if exc.code == GatewayError.code else exc.message
    return {"success": False, "error": message, "code": code}


surface = Surface("databuddy", render=_render,
                  statuses={ours: status for ours, (_, status) in CODES.items()})
