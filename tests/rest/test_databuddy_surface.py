"""The Databuddy error dialect is a table: `{"success": false, "error", "code"}` with the
documented codes and statuses, and every gateway error renders (issue #3)."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import (
    AccessDenied,
    AuthRequired,
    CsrfFailed,
    GatewayError,
    InsufficientScope,
    InvalidApiKey,
    InvalidSession,
    NotFound,
    all_error_classes,
)
from gateway.rest.databuddy import surface


@pytest.mark.parametrize(("error", "status", "code"), [
    (AuthRequired("Authentication required"), 401, "AUTH_REQUIRED"),
    (InvalidSession(), 401, "AUTH_REQUIRED"),
    (InvalidApiKey(), 401, "INVALID_API_KEY"),
    (AccessDenied(), 403, "ACCESS_DENIED"),
    (CsrfFailed(), 403, "ACCESS_DENIED"),
    (InsufficientScope("analytics:read"), 403, "INSUFFICIENT_SCOPE"),
    (NotFound("Website not found"), 404, "NOT_FOUND"),
])
def test_documented_codes_and_statuses(error: GatewayError, status: int, code: str) -> None:
    response = surface.error_response(error)
    assert response.status_code == status
    assert orjson.loads(response.body) == {"success": False, "error": error.message,
                                           "code": code}


def test_the_documented_example_body() -> None:
    response = surface.error_response(AuthRequired("Authentication required"))
    assert response.body == (b'{"success":false,"error":"Authentication required",'
                             b'"code":"AUTH_REQUIRED"}')


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.code)
def test_every_error_renders(cls: type[GatewayError]) -> None:
    try:
        error = cls()
    except TypeError:
        error = cls("scope:x")  # type: ignore[call-arg]  # only the scope errors take an argument
    body = orjson.loads(surface.error_response(error).body)
    assert body["success"] is False and body["code"] and body["error"]


def test_internal_errors_are_masked() -> None:
    response = surface.error_response(GatewayError("secret detail"))
    assert response.status_code == 500
    assert b"secret detail" not in response.body
