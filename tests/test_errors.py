"""Invariants of the error tree: unique stable codes, rendered on every surface (issue #2)."""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError, InvalidInput, all_error_classes
from gateway.rest import upstack


def _instance(cls: type[GatewayError]) -> GatewayError:
    try:
        return cls()
    except TypeError:
        return cls("scope:x")  # type: ignore[call-arg]


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
