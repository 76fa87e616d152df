"""CORS (issue #17, gateway/cors.py): `GATEWAY_CORS_ORIGINS` lists the origins whose pages
may call the API with credentials; nothing is added without it. A real browser on another
origin is in tests/test_browser.py; here the headers, case by case, through the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from gateway.cors import ALLOWED_HEADERS, EXPOSED_HEADERS
from gateway.settings import Settings, SettingsError
from tests.support import Clock, Harness, open_harness
from tests.support_auth import PASSWORD, add_user

FRONTEND = "http://localhost:5173"
OTHER = "https://evil.example"


@pytest.fixture
async def cors(settings: Settings, clock: Clock) -> AsyncIterator[Harness]:
    async with open_harness(replace(settings, cors_origins=(FRONTEND,)), clock,
                            tenant=True) as h:
        yield h


def _preflight(origin: str, method: str = "GET") -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": method,
            "access-control-request-headers": "x-api-key, x-pixel-id"}


async def test_no_origins_no_cors(harness: Harness) -> None:
    """The default: a preflight is a plain 405 in the path's dialect, no CORS header."""
    response = await harness.client.options("/db-mgmt/api/measures",
                                            headers=_preflight(FRONTEND))
    assert response.status_code == 405 and response.json()["message"]
    assert not [h for h in response.headers if h.startswith("access-control-")]
    response = await harness.client.get("/health", headers={"origin": FRONTEND})
    assert "access-control-allow-origin" not in response.headers


async def test_listed_origin_preflight(cors: Harness) -> None:
    response = await cors.client.options("/db-mgmt/api/query", headers=_preflight(
        FRONTEND, "POST"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "x-pixel-id", "authorization", "content-type",
            "x-csrf-token"} <= allowed == set(ALLOWED_HEADERS)
    assert "POST" in response.headers["access-control-allow-methods"]
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


async def test_listed_origin_reads_with_credentials_and_exposed_headers(cors: Harness) -> None:
    key = await cors.mint("analytics:read")
    ok = await cors.client.get("/db-mgmt/api/measures", headers={
        "origin": FRONTEND, **cors.headers(key, cors.pixel_id)})
    refused = await cors.client.get("/db-mgmt/api/filters", headers={"origin": FRONTEND})
    for response, status in ((ok, 200), (refused, 401)):  # errors carry the headers too
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == FRONTEND
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "Origin" in response.headers["vary"]
        exposed = {h.strip() for h in
                   response.headers["access-control-expose-headers"].split(",")}
        assert exposed == set(EXPOSED_HEADERS)
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After",
                "X-Request-Id"} <= exposed


async def test_unlisted_origin_gets_no_cors(cors: Harness) -> None:
    preflight = await cors.client.options("/db-mgmt/api/measures", headers=_preflight(OTHER))
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    response = await cors.client.get("/health", headers={"origin": OTHER})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "Origin" in response.headers["vary"]  # a cache must not hand it to FRONTEND


async def test_any_origin_reads_without_credentials(settings: Settings, clock: Clock) -> None:
    async with open_harness(replace(settings, cors_origins=("*", FRONTEND)), clock) as h:
        anyone = await h.client.get("/health", headers={"origin": OTHER})
        listed = await h.client.get("/health", headers={"origin": FRONTEND})
        preflight = await h.client.options("/health", headers=_preflight(OTHER))
    assert anyone.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in anyone.headers
    assert listed.headers["access-control-allow-origin"] == FRONTEND
    assert listed.headers["access-control-allow-credentials"] == "true"
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"


async def test_listed_origin_may_write_with_the_session_cookie(cors: Harness) -> None:
    """Listing an origin trusts it for cookie writes (the CSRF origin check); the CSRF token
    is still required, and an unlisted origin is still refused."""
    await add_user(cors, "ada@example.com", "member")
    login = await cors.client.post("/accounts/api/auth/login", headers={"origin": FRONTEND},
                                   json={"email": "ada@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrfToken"]
    evil = await cors.client.post("/accounts/api/auth/logout",
                                  headers={"origin": OTHER, "x-csrf-token": csrf})
    assert evil.status_code == 403 and "Cross-origin" in evil.json()["message"]
    no_token = await cors.client.post("/accounts/api/auth/logout", headers={"origin": FRONTEND})
    assert no_token.status_code == 403
    ours = await cors.client.post("/accounts/api/auth/logout",
                                  headers={"origin": FRONTEND, "x-csrf-token": csrf})
    assert ours.status_code == 200, ours.text


@pytest.mark.parametrize(("value", "parsed"), [
    ("", ()),
    ("https://app.example.com", ("https://app.example.com",)),
    (" http://localhost:5173/ , HTTPS://A.Example ", ("http://localhost:5173",
                                                     "https://a.example")),
    ("*", ("*",)),
])
def test_origins_setting(value: str, parsed: tuple[str, ...]) -> None:
    assert Settings.from_environ({"GATEWAY_CORS_ORIGINS": value}).cors_origins == parsed


@pytest.mark.parametrize("value", ["app.example.com", "https://a.example/path",
                                   "ftp://a.example", "https://a.example:99999999"])
def test_origins_setting_refuses_what_is_not_an_origin(value: str) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_CORS_ORIGINS"):
        Settings.from_environ({"GATEWAY_CORS_ORIGINS": value})
