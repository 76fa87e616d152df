"""What every REST surface does with a body: JSON sent as JSON, or 415 (issue #10)."""

from __future__ import annotations

import pytest

from gateway.errors import UnsupportedMediaType
from gateway.rest import clickstack, upstack
from gateway.rest.base import SurfaceRoute
from tests.support import Harness
from tests.support_events import TRACK, count_events

BODYLESS = {"/accounts/api/api-keys/{key_id}/rotate", "/accounts/api/api-keys/{key_id}/revoke",
            "/accounts/api/auth/logout"}


@pytest.mark.parametrize(("content_type", "status"), [
    (None, 415),
    ("text/plain", 415),
    ("application/x-www-form-urlencoded", 415),
    ("multipart/form-data; boundary=x", 415),
    ("application/jsonp", 415),
    ("application/json", 200),
    ("application/json; charset=utf-8", 200),
    ("Application/JSON", 200),
    ("application/vnd.upstack.events+json", 200),
])
async def test_json_bodies_need_a_json_content_type(harness: Harness, content_type: str | None,
                                                    status: int) -> None:
    """Rule (issue #10): application/json or application/*+json, any parameters; anything
    else, a missing type included, is 415 UNSUPPORTED_MEDIA_TYPE and nothing is stored. A
    missing type is refused: every documented example sends it, and a typeless or
    text/plain body is what a browser can send cross-site without a CORS preflight."""
    key = await harness.mint("events:write")
    headers = harness.headers(key, harness.pixel_id)
    if content_type is not None:
        headers["content-type"] = content_type
    response = await harness.client.post(TRACK, content=b'{"name": "signup", '
                                         b'"anonymous_id": "a"}', headers=headers)
    assert response.status_code == status, response.text
    if status == 415:
        assert "application/json" in response.json()["message"]
    assert (await count_events(harness))["*"] == (1 if status == 200 else 0)


async def test_every_json_route_answers_415_in_its_dialect(harness: Harness) -> None:
    """Every REST route that reads a body, from the live route table: text/plain is 415 with
    that surface's error body, before anything else happens."""
    routes = [(m, r.path) for r in (*upstack.routes(), *clickstack.routes())
              if isinstance(r, SurfaceRoute) for m in sorted(r.methods or ())
              if m in ("POST", "PUT", "PATCH") and r.path not in BODYLESS]
    assert len(routes) >= 14
    for method, path in routes:
        response = await harness.client.request(
            method, path.replace("{id}", "x").replace("{key_id}", "x"), content=b"{}",
            headers={"content-type": "text/plain"})
        assert response.status_code == 415, (path, response.text)
        assert set(response.json()) == {"message"}, (path, response.text)


@pytest.mark.parametrize("surface", [upstack.surface, clickstack.surface])
def test_unsupported_media_type_renders_on_each_surface(surface: object) -> None:
    """UNSUPPORTED_MEDIA_TYPE is 415 with the surface's `{"message"}` body."""
    response = surface.error_response(UnsupportedMediaType())  # type: ignore[attr-defined]  # each surface has error_response; their classes differ
    assert response.status_code == 415
    assert response.body == b'{"message":"Content-Type must be application/json"}'

