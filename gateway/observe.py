"""The access log and the HTTP metrics (one pure ASGI middleware), and `GET /metrics`.

`ObserveMiddleware` times every request from its arrival to the end of its response and then
writes, when on:

- one access-log line on the `gateway.access` logger (INFO), in logfmt:

      method=GET path=/db-mgmt/api/measures status=200 duration_ms=1.42
      request_id=5f0c9a1e2b7d4c3a9e8f7a6b key=upstack_Ab12Cd client=127.0.0.1

  `path` is the path as sent (percent-encoded, no query string: a query string may carry
  a credential or a GraphQL document); `key` is what the audit log shows of the credential
  (`credential_label`: the key's prefix and first characters, `bearer`, `session`, or `-`),
  never a secret; `request_id` is the one `x-request-id` echoes (gateway/request_id.py);
  `status` 499 means the client went away before an answer. The values are also on the
  record (`record.http`), for a JSON formatter;
- the request in the metrics (gateway/metrics.py), by route template, method and status
  class.

`gateway.access` gets a handler of its own only from the entry points (`configure_access_log`,
called by gateway/asgi.py, so `gateway serve` and a bare uvicorn both print it); an app built
in a test logs nowhere unless the test listens.

`GET /metrics` (gateway/metrics.py for what it holds) answers only callers the operator
allows: with `GATEWAY_METRICS_TOKEN` set, any client sending `Authorization: Bearer <token>`;
without it, loopback clients only (a Prometheus on the same host, or an SSH tunnel). Behind
a reverse proxy on the same host every client looks like loopback unless the proxy sets
X-Forwarded-For (which uvicorn trusts from 127.0.0.1): set a token there.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.authenticate import (
    SESSION_COOKIE,
    Credentials,
    credential_label,
    read_credentials,
)
from gateway.context import CREDENTIALS_KEY
from gateway.errors import AuthRequired, GatewayError, InsufficientScope
from gateway.metrics import Metrics, route_label
from gateway.middleware import plain_error_response
from gateway.request_id import request_id_of

__all__ = ["AccessLines", "ObserveMiddleware", "configure_access_log", "flush_access_log",
           "metrics_endpoint"]

access_log = logging.getLogger("gateway.access")
log = logging.getLogger("gateway.http")

_CREDENTIAL_HEADERS = frozenset({b"x-api-key", b"authorization", b"cookie"})
_LABELS = {"bearer token": "bearer", "session cookie": "session", "": "-"}


_BARE = re.compile(r'[^\s"=\\]+')


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:%")


def _logfmt(value: str) -> str:
    """A logfmt value: bare when safe, else a JSON string (quotes and escapes)."""
    if value and _SAFE.issuperset(value):  # the common case, without the expression
        return value
    if _BARE.fullmatch(value) and value.isprintable():
        return value
    return json.dumps(value)


def _sent_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.split(b"?", 1)[0].decode("latin-1")
    return str(scope.get("path", ""))


def _credential(scope: Scope, key_prefix: str) -> str:
    """What the log may show of the request's credential (never the secret): from the
    Credentials `build_context` read, else (a route without a context) from the headers."""
    read = scope.get(CREDENTIALS_KEY)
    if isinstance(read, Credentials):
        label = credential_label(read, key_prefix)
        return _LABELS.get(label, label)
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _CREDENTIAL_HEADERS:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    if not found:
        return "-"
    cookies = cookie_parser(found["cookie"]) if "cookie" in found else None
    label = credential_label(read_credentials(found, cookies, SESSION_COOKIE), key_prefix)
    return _LABELS.get(label, label)


class ObserveMiddleware:
    """Access log and HTTP metrics for every request (module docstring).

    >>> Middleware(ObserveMiddleware, metrics=Metrics(), access_log=True, key_prefix="upstack_")
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics | None, access_log: bool,
                 key_prefix: str, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.key_prefix = key_prefix
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception:
            status = status or 500
            raise
        finally:
            self._record(scope, status or 499, self.clock() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"]
        if self.metrics is not None:
            self.metrics.observe_http(method, route_label(scope), status, seconds)
        if self.access_log and access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            fields: dict[str, Any] = {
                "method": method, "path": _sent_path(scope), "status": status,
                "duration_ms": round(seconds * 1000, 2), "request_id": request_id_of(scope),
                "key": _credential(scope, self.key_prefix),
                "client": client[0] if client else "-"}
            line = (f"method={_logfmt(method)} path={_logfmt(fields['path'])} status={status} "
                    f"duration_ms={fields['duration_ms']:.2f} "
                    f"request_id={_logfmt(fields['request_id'])} key={_logfmt(fields['key'])} "
                    f"client={_logfmt(fields['client'])}")
            handlers = access_log.handlers
            if (len(handlers) == 1 and type(handlers[0]) is AccessLines
                    and not access_log.propagate):
                # Only our own handler listens (the default): it needs the line, not a
                # LogRecord, whose making is a third of this method (benchmarks/catalog.py).
                handlers[0].add(time.time(), line)
                return
            # makeRecord + handle: what `info()` does, less the caller look-up (a stack walk
            # per request, for a record whose caller is always this line).
            access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, __file__, 0,
                                                    line, (), None, extra={"http": fields}))


class AccessLines(logging.Handler):
    """The access log's handler: each record becomes a line kept in memory, and the lines go
    to `stream` in one write when `capacity` are waiting or at `flush()` (every half second
    from the app's lifespan, and at shutdown). A `StreamHandler` writes and flushes once per
    request: a system call, and a `strftime`, on every request (~40 µs of the catalog
    route's CPU on the development machine, benchmarks/catalog.py). The time stamp is made
    once a second. A record is never held longer than one flush interval."""

    def __init__(self, stream: Any, capacity: int = 512) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.capacity = capacity
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.add(record.created, record.getMessage())

    def add(self, created: float, message: str) -> None:
        """One line at `created` (epoch seconds): `emit` without a LogRecord."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((created - second) * 1000)
        self._lines.append(f"{self._stamp},{millis:03d} {message}\n")
        if len(self._lines) >= self.capacity:
            self.flush()

    def flush(self) -> None:
        with self.lock or _NO_LOCK:
            lines, self._lines = self._lines, []
        if lines:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: nothing to tell
                pass


_NO_LOCK = contextlib.nullcontext()


def configure_access_log() -> None:
    """Give `gateway.access` its batched stderr handler (time + line) unless logging is
    configured already (a handler on it or on the root logger): called by the ASGI entry
    point."""
    if access_log.handlers or logging.getLogger().handlers:
        return
    access_log.addHandler(AccessLines(sys.stderr))
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


def flush_access_log() -> None:
    """Write out the access lines waiting in memory (the app's lifespan calls this)."""
    for handler in access_log.handlers:
        handler.flush()


def _is_loopback(host: str | None) -> bool:
    if host is None:  # a Unix socket: only local processes can reach it
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _check_scraper(request: Request, token: str) -> None:
    """Raise unless this client may read the metrics (module docstring)."""
    if token:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(),
                                                                 token.encode()):
            raise AuthRequired("The metrics need Authorization: Bearer <GATEWAY_METRICS_TOKEN>")
        return
    client = request.client
    if not _is_loopback(client.host if client else None):
        raise InsufficientScope("The metrics are served to loopback clients only; set "
                                "GATEWAY_METRICS_TOKEN to scrape them from elsewhere")


def metrics_endpoint(metrics: Metrics, token: str) -> Callable[[Request], Any]:
    """The `GET /metrics` endpoint over `metrics`, guarded by `token` (module docstring)."""

    async def endpoint(request: Request) -> Response:
        try:
            _check_scraper(request, token)
        except GatewayError as exc:
            response = plain_error_response(request.scope, exc)
            if isinstance(exc, AuthRequired):
                response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        lag: int | None = None
        try:
            lag = await request.app.state.gateway.db.rollup_lag()
        except Exception:  # the rest of the metrics are still worth serving
            log.warning("metrics: could not read the rollup lag", exc_info=True)
        body, content_type = metrics.exposition(request.headers.get("accept", ""),
                                                rollup_lag=lag)
        return Response(body, headers={"content-type": content_type})

    return endpoint
