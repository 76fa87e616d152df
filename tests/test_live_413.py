"""A 413 real clients can read, against a live uvicorn (issue #12).

A plain `urllib.request` client (which sends `Connection: close`) and an `httpx` client send
10 MB bodies, with `Content-Length` and chunked, to REST routes of each dialect and to
GraphQL, over loopback to uvicorn with each of its HTTP implementations (httptools, the
default when installed, and h11). Each must read the 413 in the route's own body, never
ConnectionResetError or BrokenPipeError (what urllib got, before, for any body past the old
drain budget of twice the 5 MiB limit). Raw sockets check the order (the answer comes before
the drain), keep-alive after a drain, and the byte bound.

The server runs in a thread of the test process on a socket bound to port 0 (the system picks
a free port, so parallel runs cannot collide), with the app's lifespan, and stops with the
test (its database connections closed, as the leak check wants).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.settings import Settings

MB = 1_000_000
ROUTES = ["/graphql", "/tr/api/events", "/api/v2/alerts", "/db-mgmt/api/query"]
HEADERS = {"content-type": "application/json"}

pytestmark = pytest.mark.slow


@contextmanager
def live(settings: Settings, http: str) -> Iterator[tuple[str, int]]:
    """(base URL, port) of the app served by uvicorn with `http` ("httptools" or "h11")."""
    app = create_app(replace(settings, alerts_enabled=False))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def _chunks(size: int) -> Iterator[bytes]:
    piece = b" " * 65536
    for start in range(0, size, len(piece)):
        yield piece[:min(len(piece), size - start)]


def _urllib(url: str, size: int, chunked: bool) -> tuple[int, bytes]:
    data = _chunks(size) if chunked else b" " * size  # an iterable: urllib sends it chunked
    request = urllib.request.Request(url, data=data, method="POST",  # noqa: S310  # http://127.0.0.1 only
                                     headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # as above
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _httpx(client: httpx.Client, url: str, size: int, chunked: bool) -> tuple[int, bytes]:
    response = client.post(url, content=_chunks(size) if chunked else b" " * size,
                           headers=HEADERS)
    return response.status_code, response.content


def _assert_413(path: str, status: int, body: bytes, who: str) -> None:
    assert status == 413, (who, status, body[:200])
    if path == "/graphql":
        assert b'"code":"PAYLOAD_TOO_LARGE"' in body, (who, body)
    else:  # Upstack and ClickStack: {"message"}
        assert body.startswith(b'{"message":"Request body exceeds'), (who, body)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_urllib_and_httpx_read_the_413_of_a_10_mb_body(settings: Settings, http: str) -> None:
    """Rule (issue #12): every client reads the 413 in the route's dialect, for 10 MB sent
    with Content-Length or chunked; and for 16 MB with Content-Length, past the old drain
    budget (urllib saw ConnectionResetError there)."""
    with live(settings, http) as (base, _), httpx.Client(timeout=30) as client:
        for path in ROUTES:
            for chunked in (False, True):
                who = f"{path} {'chunked' if chunked else 'Content-Length'}"
                _assert_413(path, *_urllib(base + path, 10 * MB, chunked), f"urllib {who}")
                _assert_413(path, *_httpx(client, base + path, 10 * MB, chunked),
                            f"httpx {who}")
            _assert_413(path, *_urllib(base + path, 16 * MB, False), f"urllib {path} 16 MB")


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP response with a Content-Length body, read from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, rest
        rest += chunk
    return head + b"\r\n\r\n" + rest


def _post_head(length: int, extra: str = "") -> bytes:
    return (f"POST /api/v2/alerts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_the_answer_comes_first_and_the_connection_stays_usable(
        settings: Settings, http: str) -> None:
    """The 413 is written before the rest of the body is drained: a client that has sent
    only a little reads it at once, not after the drain's 5 s. Once the client has sent the
    whole (drained) body, the connection is still good for the next request (keep-alive)."""
    with live(settings, http) as (_, port), socket.create_connection(("127.0.0.1", port),
                                                                     timeout=10) as sock:
        sock.sendall(_post_head(10 * MB) + b" " * 1000)
        started = time.monotonic()
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        assert time.monotonic() - started < 2
        sock.sendall(b" " * (10 * MB - 1000))  # the rest of the body: read and discarded
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        again = _read_response(sock)
        assert again.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in again, again[:200]


def test_a_body_past_the_drain_budget_is_answered_and_not_read(settings: Settings) -> None:
    """The bound in bytes: a declared body over four times the limit (21 MB against 5 MiB)
    is answered and the response completed at once, without reading it; a `Connection:
    close` client then sees the connection closed at once. (A keep-alive client's surplus
    is still read and discarded by uvicorn itself, up to its keep-alive timeout.)"""
    with live(settings, "httptools") as (_, port), socket.create_connection(
            ("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(21 * MB + 1, "Connection: close\r\n"))
        assert _read_response(sock).startswith(b"HTTP/1.1 413")
        assert sock.recv(65536) == b""  # closed by the server
        assert time.monotonic() - started < 2
