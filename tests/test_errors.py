"""Invariants of the error tree: unique stable codes, rendered on every surface (issue #2)."""

from __future__ import annotations

import pytest

from gateway.errors import (
    GatewayError,
    InvalidInput,
    QueryTooCostly,
    RateLimited,
    all_error_classes,
)
from gateway.rest import upstack
from gateway.rest.clickstack.surface import surface as clickstack
from gateway.rest.databuddy.surface import surface as databuddy


def _instance(cls: type[GatewayError]) -> GatewayError:
    try:
        return cls()
    except TypeError:
        return cls("scope:x")  # type: ignore[call-arg]  # only the scope errors take an argument


def test_codes_are_unique_and_screaming_snake() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))
    assert all(c.isupper() and " " not in c for c in codes)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.code)
def test_every_error_renders_on_upstack(cls: type[GatewayError]) -> None:
    exc = _instance(cls)
    response = upstack.surface.error_response(exc)
    assert response.status_code == cls.status
    assert b'"message"' in response.body


def test_field_errors_render_with_paths() -> None:
    exc = InvalidInput.field("name is required", "name")
    response = upstack.surface.error_response(exc)
    assert response.status_code == 400
    assert response.body == (b'{"message":"Bad Request","errors":[{"message":"name is required",'
                             b'"key":"name","path":["name"]}]}')


def test_rate_limited_carries_retry_after_on_every_surface() -> None:
    """RATE_LIMITED tells the client when to retry: the Retry-After header (seconds) on every
    REST surface, `extensions.retryAfter` on GraphQL (issue #10)."""
    exc = RateLimited(retry_after=7)
    for surface in (upstack.surface, clickstack, databuddy):
        response = surface.error_response(exc)
        assert response.status_code == 429, surface.name
        assert response.headers["retry-after"] == "7", surface.name
    assert exc.extensions == {"code": "RATE_LIMITED", "retryAfter": 7}


def test_query_too_costly_carries_cost_and_budget_on_every_surface() -> None:
    """QUERY_TOO_COSTLY says what the request would cost and what it may (issue #12): 400 on
    every REST surface with `X-Query-Cost` / `X-Query-Budget`, `extensions.cost` and
    `extensions.budget` on GraphQL."""
    exc = QueryTooCostly(6000, 5000)
    for surface in (upstack.surface, clickstack, databuddy):
        response = surface.error_response(exc)
        assert response.status_code == 400, surface.name
        assert response.headers["x-query-cost"] == "6000", surface.name
        assert response.headers["x-query-budget"] == "5000", surface.name
        assert b"5,000 ms" in response.body, surface.name
    assert exc.extensions == {"code": "QUERY_TOO_COSTLY", "cost": 6000, "budget": 5000}
