"""A client that disconnects cancels its query (issue #12), on a live uvicorn.

The app runs in this test's event loop behind a real uvicorn server on loopback, so the test
reads the app's own admission counters while a raw socket client sends a slow analytics
query and then closes the connection mid-request. The statement would run for seconds; its
slot frees (which happens only once the statement has stopped: HeavyConnection waits for
it) a moment after the socket closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from tests.support import Clock, Harness
from tests.support_alerts import Dns
from tests.support_heavy import ANALYTICS_GRAPHQL, SLOW_FILTER, SLOW_QUERY, seed_slow_rows


@asynccontextmanager
async def _live(app: Starlette) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free loopback port, in this event loop (its lifespan
    run by the server); yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on",
                                           log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def _until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until `check()` held (polling); fails after `seconds`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "condition not reached"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def _request(path: str, body: dict[str, Any] | None, key: str, pixel: str) -> bytes:
    if body is None:  # a GET: no body at all
        return (f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {key}\r\n"
                f"x-pixel-id: {pixel}\r\n\r\n").encode()
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {key}\r\n"
            f"x-pixel-id: {pixel}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n")
    return head.encode() + data


@pytest.mark.parametrize("surface", ["rest", "graphql", "graphql-get"])
async def test_a_client_that_disconnects_cancels_its_query(
        settings: Settings, clock: Clock, surface: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #12): when the client goes away mid-request, its analytics statement is
    stopped in the database and its slot freed at once (for a GET, which has no body, too),
    not when the statement would have ended (150 rows at ~80 ms: ~12 s) or at the time
    limit (60 s here). The server stays healthy: /health answers and no connection stays
    checked out; one info line says what was stopped."""
    app = create_app(dataclasses.replace(settings, alerts_enabled=False,
                                         query_timeout_seconds=60.0),
                     clock=clock, resolver=Dns())
    async with _live(app) as url, httpx.AsyncClient(base_url=url) as client:
        h = Harness(client=client, state=app.state.gateway, clock=clock)
        h.organization_id = await h.create_organization()
        h.pixel_id = await h.create_pixel()
        await seed_slow_rows(h, h.pixel_id, rows=150)
        key = await h.mint("analytics:read")
        graphql = {"query": ANALYTICS_GRAPHQL, "variables": {"f": SLOW_FILTER}}
        get = "/graphql?" + urlencode({"query": graphql["query"],
                                        "variables": json.dumps(graphql["variables"])})
        request = {"rest": _request("/db-mgmt/api/query", SLOW_QUERY, key, h.pixel_id),
                   "graphql": _request("/graphql", graphql, key, h.pixel_id),
                   "graphql-get": _request(get, None, key, h.pixel_id)}[surface]
        admission = h.state.db.admission
        port = int(url.rsplit(":", 1)[1])
        with caplog.at_level(logging.INFO, logger="gateway.http"):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            await _until(lambda: admission.running_for(h.pixel_id) == 1, 5.0)
            await asyncio.sleep(0.2)  # well into the statement
            writer.close()
            await writer.wait_closed()
            stopped_in = await _until(lambda: admission.running == 0, 5.0)
        assert stopped_in < 2.0, stopped_in
        assert (await client.get("/health")).status_code == 200
        assert h.state.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # a QueuePool
        method, path = {"rest": ("POST", "/db-mgmt/api/query"), "graphql": ("POST", "/graphql"),
                        "graphql-get": ("GET", "/graphql")}[surface]
        [line] = [r.getMessage() for r in caplog.records if r.name == "gateway.http"]
        assert line.startswith(f"client disconnected: stopped {method} {path} after ")
