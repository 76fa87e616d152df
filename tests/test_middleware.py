"""Request bodies past the limit, lingering close and clients that leave mid-body (issue #10);
the disconnect listener never takes the body from the app (issue #12).

Through the real app: httpx over ASGITransport for the answers, and the app called as an ASGI
callable with a scripted `receive` where the order of reads and the response matters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.middleware import BodyLimitMiddleware
from gateway.rest.base import SurfaceRoute
from gateway.settings import Settings
from tests.support import Clock

LIMIT = 4096
EVENTS_LIMIT = 3000
# Routes that take no body (the body sent is ignored; they answer as they would without it).
BODYLESS = {"/accounts/api/api-keys/{key_id}/rotate", "/accounts/api/api-keys/{key_id}/revoke",
            "/accounts/api/auth/logout"}


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[Starlette]:
    small = replace(settings, max_body_bytes=LIMIT, events_max_body_bytes=EVENTS_LIMIT)
    app = create_app(small, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


def _body_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every route that may take a body, path parameters filled in."""
    found = [("POST", "/graphql")]
    for route in app.routes:
        if isinstance(route, SurfaceRoute):
            found.extend((method, route.path) for method in sorted(route.methods or ())
                         if method in ("POST", "PUT", "PATCH"))
    return found


def _fill(path: str) -> str:
    return path.replace("{id}", "x").replace("{key_id}", "x")


def assert_413_in_dialect(path: str, response: httpx.Response) -> None:
    assert response.status_code == 413, (path, response.status_code, response.text)
    body = response.json()
    if path == "/graphql":
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE", body
    else:  # Upstack and ClickStack: exactly {"message"}
        assert set(body) == {"message"} and "exceeds" in body["message"], body


async def _chunks(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


async def test_over_limit_bodies_are_413_in_each_dialect_on_every_body_route(
        app: Starlette) -> None:
    """Rule (issue #10): a chunked body past the limit is 413 in the surface's dialect on
    every REST route and on /graphql, never a 500 (before: `_TooLarge` reached the routes'
    generic handler); with Content-Length too, on every route."""
    routes = _body_routes(app)
    assert len(routes) >= 15
    headers = {"content-type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path in routes:
            chunked = await client.request(method, _fill(path), headers=headers,
                                           content=_chunks(3 * LIMIT))
            if path in BODYLESS:
                assert chunked.status_code < 500, (path, chunked.text)
            else:
                assert_413_in_dialect(path, chunked)
            declared = await client.request(method, _fill(path), headers=headers,
                                            content=b" " * (LIMIT + 1))
            assert_413_in_dialect(path, declared)


def _scope(path: str, headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}


class _Client:
    """A scripted client: sends `chunks` of body, records what the app read and sent."""

    def __init__(self, chunks: list[bytes], *, disconnect: bool = False) -> None:
        self.chunks = list(chunks)
        self.disconnect = disconnect
        self.log: list[str] = []
        self.status: int | None = None

    async def receive(self) -> dict[str, Any]:
        if not self.chunks:
            self.log.append("disconnect")
            return {"type": "http.disconnect"}
        chunk = self.chunks.pop(0)
        self.log.append("body")
        more = bool(self.chunks) or self.disconnect
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.log.append(f"response {self.status}")
        elif message["type"] == "http.response.body" and message.get("body"):
            self.log.append("answer")
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.log.append("end")


@pytest.mark.parametrize(("declared", "extra", "drained"), [
    (16 * 1000, {}, 16),  # within four times the limit: all of it is read after the answer
    (100 * 1000, {}, 0),  # past the drain budget: answered, not read
    (8 * 1000, {"expect": "100-continue"}, 0),  # never invited: not read
], ids=["drained", "past-budget", "expect-continue"])
async def test_a_413_is_answered_then_the_rest_of_the_body_drained(
        app: Starlette, declared: int, extra: dict[str, str], drained: int) -> None:
    """Rule (issues #10, #12), nginx's lingering close: a server that answers 413 and closes
    while the client is still sending makes the kernel reset the connection, and the client
    loses the answer (seen on uvicorn with `Connection: close`). So the answer is written
    first (a client reading while it sends sees it at once), then the rest of the body is
    read and discarded before the response completes, bounded: up to four times the limit,
    and not when the client waits for 100 Continue."""
    client = _Client([b" " * 1000] * (declared // 1000))
    headers = {"content-type": "application/json", "content-length": str(declared), **extra}
    await app(_scope("/tr/api/events", headers), client.receive, client.send)
    assert client.status == 413
    assert client.log == ["response 413", "answer"] + ["body"] * drained + ["end"]


@pytest.mark.parametrize(("path", "read"), [
    ("/tr/api/events", 4),  # its own limit, EVENTS_LIMIT: the fourth 1000 bytes cross it
    ("/api/v2/alerts", 5),
    ("/graphql", 5),
])
async def test_a_chunked_body_past_the_limit_is_refused_then_drained(
        app: Starlette, path: str, read: int) -> None:
    """The chunked case: the app reads until the limit, the 413 is sent, the rest is
    drained, then the response completes."""
    client = _Client([b" " * 1000] * 10)
    headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
    await app(_scope(path, headers), client.receive, client.send)
    assert client.log == (["body"] * read + ["response 413", "answer"]
                          + ["body"] * (10 - read) + ["end"])


@pytest.mark.parametrize("path", ["/tr/api/events", "/accounts/api/dashboard/views",
                                  "/api/v2/webhooks", "/graphql"])
async def test_a_client_gone_mid_body_is_one_info_line(
        app: Starlette, path: str, caplog: pytest.LogCaptureFixture) -> None:
    """Rule (issue #10): a client that disconnects while sending its body is not an
    unhandled error: no traceback, no 500; one info line."""
    client = _Client([b'{"name": '], disconnect=True)
    headers = {"content-type": "application/json", "content-length": "2000"}
    with caplog.at_level(logging.DEBUG):
        await app(_scope(path, headers), client.receive, client.send)
    assert client.status is None  # nobody to answer
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    gone = [r for r in caplog.records if r.name == "gateway.http"]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO and gone[0].exc_info is None
    assert "disconnected" in gone[0].getMessage()


async def test_a_stalled_body_is_drained_for_a_bounded_time(
        app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    """The bound in time: a client that declares a body and stops sending has its 413 at
    once, and the response completes when the drain gives up (`drain_seconds`), with one
    info line; it never holds the request open for longer."""
    stalled = asyncio.Event()
    client = _Client([])
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            client.log.append("body")
            return {"type": "http.request", "body": b" " * 1000, "more_body": True}
        await stalled.wait()  # never set: the client went quiet
        raise AssertionError("unreachable")

    bounded = BodyLimitMiddleware(app, max_bytes=LIMIT, drain_seconds=0.2)
    headers = {"content-type": "application/json", "content-length": str(3 * LIMIT)}
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="gateway.http"):
        await bounded(_scope("/api/v2/alerts", headers), receive, client.send)
    assert 0.2 <= time.monotonic() - started < 2
    assert client.log == ["response 413", "answer", "body", "end"]
    assert "stopped draining" in caplog.text
class _SlowClient:
    """A client that sends its body in pieces, `gap` seconds apart (longer than
    CancelOnDisconnect's sweep), then waits, as a server's `receive` does, until the
    response is complete before reporting `http.disconnect`."""

    def __init__(self, body: bytes, pieces: int, gap: float) -> None:
        size = -(-len(body) // pieces)
        self.chunks = [body[i:i + size] for i in range(0, len(body), size)]
        self.gap = gap
        self.log: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.complete = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self.chunks:
            self.log.append("wait")
            await self.complete.wait()
            return {"type": "http.disconnect"}
        await asyncio.sleep(self.gap)
        chunk = self.chunks.pop(0)
        self.log.append("body")
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.start":
            self.log.append(f"response {message['status']}")
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.complete.set()


async def test_the_disconnect_listener_waits_for_the_whole_body(app: Starlette) -> None:
    """Rule (issue #12): CancelOnDisconnect listens for a disconnect only once the app has
    read the body, so a slow client's body (pieces 120 ms apart, past the 50 ms after which
    a running request is watched) reaches the app whole and in order, and the request is
    answered, not cancelled; the listener's read comes after the last piece."""
    body = json.dumps({"query": "{ __typename }"}).encode()
    client = _SlowClient(body, pieces=3, gap=0.12)
    headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
    await asyncio.wait_for(app(_scope("/graphql", headers), client.receive, client.send), 5)
    assert client.log[:3] == ["body", "body", "body"], client.log
    assert "response 200" in client.log
    answer = b"".join(m.get("body", b"") for m in client.sent
                      if m["type"] == "http.response.body")
    assert json.loads(answer) == {"data": {"__typename": "Query"}}
