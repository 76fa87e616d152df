"""`gateway keys list|show|rotate|revoke|update` and `gateway users create|list` (issue #3),
against a real database file, checked through the real app."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from gateway.app import create_app
from tests.support_db import gateway_env, gateway_settings, stored_bytes
from tests.test_cli import gateway_cli, gateway_cli_beside

# Slow (the fast subset skips it: -m "not slow"): every command is a fresh `python -m gateway`
# process, about a second each.
pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    value: dict[str, object] = json.loads(result.stdout)
    return value


def _create_user_from_stdin(url: str, email: str, role: str,
                            *extra: str) -> subprocess.CompletedProcess[str]:
    env = gateway_env(url)
    return subprocess.run(
        [sys.executable, "-m", "gateway", "users", "create", "--email", email, "--role", role,
         *extra, "--json"], input=PASSWORD + "\n", env=env, text=True, capture_output=True,
        timeout=120, check=False)


async def test_key_lifecycle_from_the_cli(new_database: Callable[..., str]) -> None:
    url = new_database("cli.sqlite3")
    made = _json(gateway_cli(url, "keys", "create", "--name", "ci", "--scope", "read:data",
                             "--json"))
    key_id, secret = str(made["id"]), str(made["key"])
    shown = _json(gateway_cli(url, "keys", "show", key_id, "--json"))
    assert shown["status"] == "active" and shown["scopes"] == ["analytics:read"]
    assert "key" not in shown and secret not in json.dumps(shown)
    updated = _json(gateway_cli(url, "keys", "update", key_id, "--name", "ci-2", "--scope",
                                "analytics:read", "--scope", "keys:read",
                                "--expires", "2099-01-01", "--json"))
    assert updated["name"] == "ci-2" and updated["scopes"] == ["analytics:read", "keys:read"]
    assert str(updated["expires_at"]).startswith("2099-01-01")
    rotated = _json(gateway_cli(url, "keys", "rotate", key_id, "--json"))
    new_secret = str(rotated["key"])
    assert rotated["id"] == key_id and new_secret != secret

    app = create_app(gateway_settings(url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        old = await client.get("/accounts/api/api-keys", headers={"x-api-key": secret})
        assert old.status_code == 401
        ok = await client.get("/accounts/api/api-keys", headers={"x-api-key": new_secret})
        assert ok.status_code == 200 and ok.json()["apiKeys"][0]["name"] == "ci-2"
        revoked = _json(await gateway_cli_beside(url, "keys", "revoke", key_id, "--json"))
        assert revoked["status"] == "revoked"
        after = await client.get("/accounts/api/api-keys", headers={"x-api-key": new_secret})
        assert after.status_code == 401
    listed = json.loads(gateway_cli(url, "keys", "list", "--json").stdout)
    assert [k["status"] for k in listed] == ["revoked"]
    again = gateway_cli(url, "keys", "rotate", key_id)
    assert again.returncode == 2 and "revocation is final" in again.stderr
    missing = gateway_cli(url, "keys", "show", "no-such-key")
    assert missing.returncode == 2 and "no API key" in missing.stderr


async def test_users_create_reads_the_password_from_stdin(
        new_database: Callable[..., str]) -> None:
    url = new_database("cli.sqlite3")
    user = _json(_create_user_from_stdin(url, "Ops@Example.com", "admin"))
    assert user["email"] == "ops@example.com" and user["role"] == "admin"
    assert PASSWORD.encode() not in await stored_bytes(url)
    listed = json.loads(gateway_cli(url, "users", "list", "--json").stdout)
    assert [u["email"] for u in listed] == ["ops@example.com"]

    app = create_app(gateway_settings(url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        login = await client.post("/accounts/api/auth/login",
                                  json={"email": "ops@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        audit = await client.get("/accounts/api/audit-log", params={"action": "user."},
                                 headers={"authorization": f"Bearer {token}"})
        actions = [e["action"] for e in audit.json()["entries"]]
        assert actions == ["user.login", "user.create"]  # the CLI's action is audited too


async def test_users_create_with_pixels_confines_the_user(
        new_database: Callable[..., str]) -> None:
    """Issue #10: `gateway users create --pixel ID` makes a user whose sessions reach only
    that pixel; an unknown pixel is refused."""
    url = new_database("cli.sqlite3")
    first = _json(gateway_cli(url, "pixels", "create", "--name", "one", "--json"))
    _json(gateway_cli(url, "pixels", "create", "--name", "two", "--json"))
    user = _json(_create_user_from_stdin(url, "one@example.com", "admin",
                                         "--pixel", str(first["id"])))
    assert user["pixel_ids"] == [first["id"]]
    listed = gateway_cli(url, "users", "list")
    assert f"pixels {first['id']}" in listed.stdout
    unknown = _create_user_from_stdin(url, "x@example.com", "viewer", "--pixel", "nope")
    assert unknown.returncode == 2 and "not found" in unknown.stderr

    app = create_app(gateway_settings(url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        login = await client.post("/accounts/api/auth/login",
                                  json={"email": "one@example.com", "password": PASSWORD})
        assert login.json()["user"]["pixelIds"] == [first["id"]]
        body = await client.post("/graphql", json={"query": "{ pixels { id } }"}, headers={
            "authorization": f"Bearer {login.json()['token']}"})
        assert body.json()["data"]["pixels"] == [{"id": first["id"]}]
