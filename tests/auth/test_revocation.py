"""Revocation, rotation and narrowing reach every process's key cache before its next request
(issue #3): two app instances on one SQLite file, and the CLI as a third process."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from gateway.auth.revocation import RevocationSignal
from gateway.settings import Settings
from gateway.storage import Database
from tests.support import Clock, Harness
from tests.support_auth import graphql, second_app
from tests.support_db import gateway_env

PIXELS = "{ pixels { id } }"


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """The statements `db` sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _key_id(h: Harness, admin: str, secret: str) -> str:
    keys = (await h.graphql("{ apiKeys { id prefix start } }", key=admin))["data"]["apiKeys"]
    return next(k["id"] for k in keys if secret.startswith(k["prefix"] + k["start"]))


async def test_revoke_in_one_process_fails_the_next_request_in_another(
        harness: Harness, settings: Settings, clock: Clock) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    secret = await harness.mint("analytics:read")
    key_id = await _key_id(harness, admin, secret)
    async with second_app(settings, clock) as other:
        headers = {"x-api-key": secret}
        for _ in range(3):  # warm the other process's cache
            assert "errors" not in await graphql(other, PIXELS, headers=headers)
        body = await harness.graphql("mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
                                     {"id": key_id}, key=admin)
        assert body["data"]["revokeApiKey"]["status"] == "REVOKED"
        refused = await graphql(other, PIXELS, headers=headers)
        assert refused["errors"][0]["extensions"]["code"] == "INVALID_API_KEY"
        rest = await other.get("/db-mgmt/api/measures", headers=headers)
        assert rest.status_code == 401


async def test_rotate_and_narrow_in_one_process_apply_in_another(
        harness: Harness, settings: Settings, clock: Clock) -> None:
    admin = await harness.mint("keys:admin", "analytics:read")
    secret = await harness.mint("analytics:read", "keys:read")
    key_id = await _key_id(harness, admin, secret)
    async with second_app(settings, clock) as other:
        headers = {"x-api-key": secret}
        assert "errors" not in await graphql(other, "{ apiKeys { id } }", headers=headers)
        await harness.graphql(
            "mutation($id: ID!) { updateApiKey(id: $id, input: {scopes: [\"analytics:read\"]})"
            " { id } }", {"id": key_id}, key=admin)
        narrowed = await graphql(other, "{ apiKeys { id } }", headers=headers)
        assert narrowed["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
        rotated = await harness.graphql(
            "mutation($id: ID!) { rotateApiKey(id: $id) { secret } }", {"id": key_id}, key=admin)
        old = await graphql(other, PIXELS, headers=headers)
        assert old["errors"][0]["extensions"]["code"] == "INVALID_API_KEY"
        new = rotated["data"]["rotateApiKey"]["secret"]
        assert "errors" not in await graphql(other, PIXELS, headers={"x-api-key": new})


@pytest.mark.slow  # a CLI process
async def test_cli_revocation_reaches_a_running_app(harness: Harness, settings: Settings) -> None:
    """The CLI, a third process, revokes; the running app refuses the key at once. The CLI
    runs beside the app's event loop (not blocking it), as it does beside a real server."""
    secret = await harness.mint("analytics:read")
    admin = await harness.mint("keys:admin", "analytics:read")
    key_id = await _key_id(harness, admin, secret)
    assert "errors" not in await harness.graphql(PIXELS, key=secret)  # cached now
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "keys", "revoke", key_id, "--json",
        env=gateway_env(settings.database_url), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(cli.communicate(), timeout=120)
    assert cli.returncode == 0, err.decode()
    assert json.loads(out)["status"] == "revoked"
    refused = await harness.graphql(PIXELS, key=secret)
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_API_KEY"


async def test_cache_hits_do_not_read_the_database_until_the_signal_moves(
        harness: Harness) -> None:
    """The cache is real on every backend (issue #16: it was off on PostgreSQL): a hit
    answers without the row; an announcement empties it."""
    secret = await harness.mint("analytics:read")
    assert "errors" not in await harness.graphql(PIXELS, key=secret)
    cache = harness.state.key_cache
    assert cache.signal is not None
    assert len(cache._entries) == 1
    with count_statements(harness.state.db) as seen:
        assert "errors" not in await harness.graphql(PIXELS, key=secret)
    assert not [s for s in seen if "FROM api_key" in s]  # a hit: no key row was read
    await cache.signal.announce()
    cache.generation()
    assert len(cache._entries) == 0


async def test_signal_counts_across_instances(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "g.db.revocations"
    reader, writer = RevocationSignal(path), RevocationSignal(path)
    seen = reader.current()
    assert writer.bump() == seen + 1
    assert reader.current() == seen + 1
    await reader.close()
