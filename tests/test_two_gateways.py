"""Two live gateway processes on one PostgreSQL database and one Redis (issue #16's proof):
a revocation through one is refused by the other on its next request; events ingested
through both (the same events sent to both, as a retrying client behind a load balancer
does) are counted once; alerts are evaluated once per window; the rollups both processes
fold equal raw scans.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.auth.principal import system_principal
from gateway.engine import EngineQuery, Limits, TimeRange, run_query
from gateway.services import keys as key_service
from gateway.services import tenancy
from gateway.settings import Settings
from gateway.storage import Database
from tests.support_db import gateway_env

pytestmark = [pytest.mark.slow,  # two server processes
              pytest.mark.postgres_only("N gateways share PostgreSQL (and Redis); SQLite is "
                                        "one machine's file")]

SECRET = "two-gateways-" + "x" * 32
REDIS = "redis://127.0.0.1:6379/0"


def _ports(n: int) -> list[int]:
    """Free loopback ports of this suite's range (9450-9499)."""
    found = []
    for port in range(9450, 9500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == n:
            return found
    raise RuntimeError("no free ports in 9450-9499")


@contextmanager
def _gateway(url: str, port: int, log: Path) -> Iterator[str]:
    env = gateway_env(url)
    env.update(GATEWAY_SECRET=SECRET, GATEWAY_REDIS_URL=REDIS, GATEWAY_ALERT_TICK="0.2",
               GATEWAY_WEBHOOK_ALLOW_PRIVATE="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gateway.asgi:app_factory", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                pytest.fail("gateway did not start: " + log.read_text())
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def test_two_live_gateways_share_one_database(new_database: Callable[..., str],
                                                    tmp_path: Path) -> None:
    url = new_database()
    db = Database(url)
    settings = Settings(database_url=url, secret=SECRET)
    now = datetime.now(UTC)
    org = await tenancy.create_organization(db, "Acme", now)
    pixel = (await tenancy.create_pixel(db, org.id, "shop", now)).id
    admin = (await key_service.create_key(
        db, settings, system_principal(org.id), name="admin", now=now, pixel_ids=None,
        scopes=["keys:admin", "analytics:read", "events:write", "alerts:write"])).secret
    doomed = await key_service.create_key(db, settings, system_principal(org.id), name="x",
                                          scopes=["analytics:read"], pixel_ids=None, now=now)
    try:
        await _exercise(db, url, pixel, admin, doomed, start := now.replace(
            minute=0, second=0, microsecond=0) - timedelta(hours=6), tmp_path)
        q = EngineQuery(pixel, ("core.revenue", "core.orders", "web.sessions",
                                "web.visitors"),
                        TimeRange(start - timedelta(hours=1), start + timedelta(hours=8)),
                        granularity="hour", dimensions=("utm_source",))
        rolled = await run_query(db, q)
        raw = await run_query(db, q, limits=Limits(rollups=False))
        assert rolled.rollups and not raw.rollups
        assert (rolled.primary, rolled.totals) == (raw.primary, raw.totals)
        assert rolled.totals["core.orders"] == 30 * 8
    finally:
        await db.dispose()


async def _exercise(db: Database, url: str, pixel: str, admin: str,
                    doomed: key_service.CreatedKey, start: datetime, tmp_path: Path) -> None:
    with ExitStack() as stack:
        a, b = (stack.enter_context(_gateway(url, port, tmp_path / f"{i}.log"))
                for i, port in enumerate(_ports(2)))
        async with httpx.AsyncClient(timeout=30) as client:
            def h(key: str) -> dict[str, str]:
                return {"x-api-key": key, "x-pixel-id": pixel}

            # 1. A revocation through A is refused by B at once (both caches warm).
            for base in (a, b, a, b):
                ok = await client.get(f"{base}/db-mgmt/api/measures", headers=h(doomed.secret))
                assert ok.status_code == 200
            revoked = await client.post(
                f"{a}/accounts/api/api-keys/{doomed.row.id}/revoke", headers=h(admin))
            assert revoked.status_code == 200, revoked.text
            refused = await client.get(f"{b}/db-mgmt/api/measures", headers=h(doomed.secret))
            assert refused.status_code == 401

            # 2. Every event sent to both gateways at once is stored and counted once.
            def event(k: int, i: int) -> dict[str, object]:
                common = {"event_id": f"e{k}-{i}", "anonymous_id": f"v{i % 13}",
                          "session_id": f"s{k}-{i % 4}",
                          "utm_source": ["google", None, "meta"][i % 3],
                          "timestamp": int((start + timedelta(minutes=k * 7 + i)).timestamp()
                                           * 1000)}
                if i % 5:
                    return {"name": "page_view", "path": f"/p/{i % 6}", **common}
                return {"name": "purchase", "order_id": f"o{k}-{i}", "revenue": 10.5 + i,
                        **common}

            batches = [[event(k, i) for i in range(40)] for k in range(30)]
            posts = [client.post(f"{base}/tr/api/events", json={"events": batch},
                                 headers=h(admin)) for batch in batches for base in (a, b)]
            answers = await asyncio.gather(*posts)
            assert all(r.status_code == 200 for r in answers), [r.text for r in answers][:3]
            accepted = sum(r.json()["accepted"] for r in answers)
            duplicates = sum(r.json()["duplicates"] for r in answers)
            assert (accepted, duplicates) == (30 * 40, 30 * 40)

            # 3. An alert is evaluated once per window, though both processes evaluate.
            hook = await client.post(f"{a}/api/v2/webhooks", headers=h(admin), json={
                "name": "ops", "url": "http://127.0.0.1:9/hook"})
            assert hook.status_code == 200, hook.text
            alert = await client.post(f"{b}/api/v2/alerts", headers=h(admin), json={
                "source": "measure", "measure": "core.revenue", "threshold": 1e12,
                "thresholdType": "above", "interval": "1m",
                "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]}})
            assert alert.status_code == 200, alert.text
            query = ('query($id: ID!) { alert(id: $id) { history { windowStart state } } }')
            for _ in range(100):
                await asyncio.sleep(0.1)
                body = (await client.post(f"{a}/graphql", headers=h(admin), json={
                    "query": query, "variables": {"id": alert.json()["data"]["id"]}})).json()
                history = body["data"]["alert"]["history"]
                if history:
                    break
            await asyncio.sleep(1.0)  # five more ticks in each process
            body = (await client.post(f"{b}/graphql", headers=h(admin), json={
                "query": query, "variables": {"id": alert.json()["data"]["id"]}})).json()
            windows = [e["windowStart"] for e in body["data"]["alert"]["history"]]
            assert windows and len(windows) == len(set(windows)), windows

            # 4. Both folded everything (what they folded equals raw scans: the caller).
            for _ in range(100):
                if not await db.rollup_lag():
                    break
                await asyncio.sleep(0.1)
            assert not await db.rollup_lag()
