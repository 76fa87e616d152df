"""The CLI against a real database file; its keys work on the real app (issue #2)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.support_db import gateway_env, gateway_settings, stored_bytes

# Slow (the fast subset skips it: -m "not slow"): every command is a fresh `python -m gateway`
# process, about a second each.
pytestmark = pytest.mark.slow


async def gateway_cli_beside(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`gateway_cli` for a test whose app runs meanwhile: the command runs beside the test's
    event loop instead of blocking it, as it runs beside a real server (a key change waits
    for every running gateway to acknowledge it: gateway/auth/revocation.py)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, env=gateway_env(db_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


def gateway_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = gateway_env(db_url)
    return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, text=True,
                          capture_output=True, timeout=120, check=False)


async def test_cli_key_reads_catalog_over_rest_and_graphql(
        new_database: Callable[..., str]) -> None:
    url = new_database("cli.sqlite3")
    pixel = json.loads(gateway_cli(url, "pixels", "create", "--name", "shop", "--json").stdout)
    made = gateway_cli(url, "keys", "create", "--name", "ci", "--scope", "events:write",
                       "--pixel", pixel["id"], "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert {"id", "key", "scopes", "pixel_ids"} <= set(key)
    assert key["scopes"] == ["events:write"] and key["pixel_ids"] == [pixel["id"]]
    assert key["key"].startswith("upstack_")
    # The secret itself is stored nowhere in the database file.
    assert key["key"].encode() not in await stored_bytes(url)

    app = create_app(gateway_settings(url))  # SQLite: the secret from the file the CLI made
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url="http://t") as client:
            headers = {"x-api-key": key["key"], "x-pixel-id": pixel["id"]}
            rest = await client.get("/db-mgmt/api/measures", headers=headers)
            assert rest.status_code == 200 and len(rest.json()["measures"]) >= 30
            gql = await client.post("/graphql", json={"query": "{ measures { key } }"},
                                    headers=headers)
            assert len(gql.json()["data"]["measures"]) == len(rest.json()["measures"])


def test_cli_reports_bad_input(new_database: Callable[..., str]) -> None:
    url = new_database("cli.sqlite3")
    result = gateway_cli(url, "keys", "create", "--name", "x", "--scope", "root:everything")
    assert result.returncode == 2
    assert "unknown scope 'root:everything'" in result.stderr


def test_cli_schema_prints_sdl(tmp_path: Path) -> None:
    result = gateway_cli(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}", "schema")
    root = Path(__file__).resolve().parent.parent
    assert result.stdout == (root / "schema.graphql").read_text()


def test_demo_seeds_once_and_mints_a_working_key_each_time(
        new_database: Callable[..., str]) -> None:
    """Starting again keeps the data: the second run adds no events, only a new key."""
    url = new_database("demo.sqlite3")
    first = json.loads(gateway_cli(url, "demo", "--days", "2", "--json").stdout)
    second = json.loads(gateway_cli(url, "demo", "--days", "2", "--json").stdout)
    assert first["created"] is True and first["events"] > 100
    assert second["created"] is False and second["events"] == 0
    assert second["pixel_id"] == first["pixel_id"] and second["key"] != first["key"]
    listed = json.loads(gateway_cli(url, "keys", "list", "--json").stdout)
    assert [k["name"] for k in listed] == ["demo", "demo"]
    assert all(first["key"] not in json.dumps(k) for k in listed)


async def test_cli_rollups_folds_the_backlog(new_database: Callable[..., str]) -> None:
    """`gateway rollups` folds events stored without folding (an import, an upgrade), after
    which the engine reads rollups and answers as raw events do."""
    from datetime import UTC, datetime

    from gateway.demo import generate_events
    from gateway.engine import EngineQuery, Limits, TimeRange, run_query
    from gateway.services.tenancy import create_organization, create_pixel
    from gateway.storage import Database
    from gateway.storage.events import insert_events

    url = new_database("cli.sqlite3")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    db = Database(url)
    await db.migrate()
    org = await create_organization(db, "o", now)
    pixel = (await create_pixel(db, org.id, "p", now)).id
    async with db.session() as s:
        await insert_events(s, list(generate_events(pixel, days=8, end=now,
                                                    sessions_per_day=400)))
        await s.commit()
    behind = await db.rollup_lag()
    assert behind > 5_000  # too far behind to fold before a query: raw scans until folded
    assert not await db.rollups_current()
    await db.dispose()

    done = gateway_cli(url, "rollups")
    assert done.returncode == 0, done.stderr
    assert f"folded {behind:,}" in done.stdout

    db = Database(url)
    try:
        assert await db.rollup_lag() == 0
        q = EngineQuery(pixel, ("core.revenue", "web.sessions"),
                        TimeRange(datetime(2026, 11, 12, tzinfo=UTC), now), granularity="day",
                        dimensions=("utm_source",))
        fast, raw = await run_query(db, q), await run_query(db, q, limits=Limits(rollups=False))
        assert fast.rollups == ("rollup_distinct=utm_source", "rollup_main=utm_source",
                                "total=total")
        assert fast.primary == raw.primary and fast.totals == raw.totals
    finally:
        await db.dispose()


def _port_in_range() -> int:
    """A free loopback port of this suite's range (9450-9499)."""
    import socket

    for port in range(9450, 9500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 9450-9499")


@pytest.mark.slow  # a server with two workers that take 6 s to start (sitecustomize below)
def test_serve_with_workers_starts_even_when_workers_start_slowly(
        new_database: Callable[..., str], tmp_path: Path) -> None:
    """Issue #16: `gateway serve --workers 2` on a loaded machine saw uvicorn kill and
    respawn its workers at start (each takes seconds to import the gateway before it can
    answer uvicorn's 5 s health check). Workers that need 6 s to start here: both come up
    once and stay (no worker replaced), and the server answers."""
    url = new_database("workers.sqlite3")
    env = gateway_env(url)
    env.update(GATEWAY_SECRET="workers-secret-" + "x" * 32, GATEWAY_ALERTS="0",
               GATEWAY_TEST_SLOW_WORKER="6",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent / "slow_start"),
                                           env.get("PYTHONPATH", "")]))
    port = _port_in_range()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", "2",
                                   "--port", str(port)], env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            up = False
            while time.monotonic() < deadline and not up:
                try:
                    up = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1
                                   ).status_code == 200
                except httpx.TransportError:
                    time.sleep(0.2)
            assert up, log.read_text()
            time.sleep(2)  # the supervisor's checks keep running; nothing is replaced
            for _ in range(20):
                assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5
                                 ).status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log.read_text()
    assert text.count("Started server process") == 2, text
    assert "died" not in text and "was not ready" not in text, text
