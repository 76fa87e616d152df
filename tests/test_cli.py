"""The CLI against a real database file; its keys work on the real app (issue #2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings

# Slow (the fast subset skips it: -m "not slow"): every command is a fresh `python -m gateway`
# process, about a second each.
pytestmark = pytest.mark.slow


def gateway_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, text=True,
                          capture_output=True, timeout=120, check=False)


async def test_cli_key_reads_catalog_over_rest_and_graphql(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    pixel = json.loads(gateway_cli(url, "pixels", "create", "--name", "shop", "--json").stdout)
    made = gateway_cli(url, "keys", "create", "--name", "ci", "--scope", "events:write",
                       "--pixel", pixel["id"], "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert {"id", "key", "scopes", "pixel_ids"} <= set(key)
    assert key["scopes"] == ["events:write"] and key["pixel_ids"] == [pixel["id"]]
    assert key["key"].startswith("upstack_")
    # The secret itself is stored nowhere in the database file.
    assert key["key"].encode() not in (tmp_path / "cli.sqlite3").read_bytes()

    app = create_app(Settings(database_url=url))  # secret read from the file the CLI made
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url="http://t") as client:
            headers = {"x-api-key": key["key"], "x-pixel-id": pixel["id"]}
            rest = await client.get("/db-mgmt/api/measures", headers=headers)
            assert rest.status_code == 200 and len(rest.json()["measures"]) >= 30
            gql = await client.post("/graphql", json={"query": "{ measures { key } }"},
                                    headers=headers)
            assert len(gql.json()["data"]["measures"]) == len(rest.json()["measures"])


def test_cli_reports_bad_input(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    result = gateway_cli(url, "keys", "create", "--name", "x", "--scope", "root:everything")
    assert result.returncode == 2
    # The flag, not the API field (`scopes.0`), is named (issue #17).
    assert "--scope: unknown scope 'root:everything'" in result.stderr
    assert "scopes.0" not in result.stderr


def test_cli_schema_prints_sdl(tmp_path: Path) -> None:
    result = gateway_cli(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}", "schema")
    root = Path(__file__).resolve().parent.parent
    assert result.stdout == (root / "schema.graphql").read_text()


async def test_demo_seeds_once_and_keeps_one_demo_key(tmp_path: Path) -> None:
    """Starting again keeps the data: the second run adds no events, only a new key, and
    revokes the previous demo key (one full-admin demo key at a time, issue #17); keys of
    other names are left alone."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    first = json.loads(gateway_cli(url, "demo", "--days", "2", "--json").stdout)
    other = json.loads(gateway_cli(url, "keys", "create", "--name", "ci", "--scope",
                                   "analytics:read", "--json").stdout)
    second = json.loads(gateway_cli(url, "demo", "--days", "2", "--json").stdout)
    assert first["created"] is True and first["events"] > 100
    assert second["created"] is False and second["events"] == 0
    assert second["pixel_id"] == first["pixel_id"] and second["key"] != first["key"]
    listed = json.loads(gateway_cli(url, "keys", "list", "--json").stdout)
    assert sorted((k["name"], k["status"]) for k in listed) == [
        ("ci", "active"), ("demo", "active"), ("demo", "revoked")]
    assert all(first["key"] not in json.dumps(k) for k in listed)
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for secret, status in ((first["key"], 401), (second["key"], 200), (other["key"], 200)):
            answer = await client.get("/db-mgmt/api/measures", headers={"x-api-key": secret})
            assert answer.status_code == status, (secret[:12], answer.text)


async def test_cli_rollups_folds_the_backlog(tmp_path: Path) -> None:
    """`gateway rollups` folds events stored without folding (an import, an upgrade), after
    which the engine reads rollups and answers as raw events do."""
    from datetime import UTC, datetime

    from gateway.demo import generate_events
    from gateway.engine import EngineQuery, Limits, TimeRange, run_query
    from gateway.services.tenancy import create_organization, create_pixel
    from gateway.storage import Database
    from gateway.storage.events import insert_events

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
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
