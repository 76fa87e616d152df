"""A real HTTP receiver on loopback for webhook tests (issue #6): records each request and
answers with scripted statuses (then 200). `Dns`: the name resolver the app's egress guard
asks (issue #10), so no test depends on the machine's DNS."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Self

import orjson

__all__ = ["Dns", "Received", "Receiver", "valid_signature"]


@dataclass
class Dns:
    """A resolver for `create_app(resolver=...)`: `names` maps a host to its addresses, or
    to a list of answers given in turn (the last one repeats) to play a name that changes.
    Unknown names do not resolve. `asked` records every lookup."""

    names: dict[str, list[str] | list[list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.names.get(host.rstrip("."))
        if answer is None:
            raise OSError(f"unknown host {host}")
        if answer and isinstance(answer[0], list):
            turn = sum(1 for h in self.asked if h == host) - 1
            return list(answer[min(turn, len(answer) - 1)])
        return [str(a) for a in answer]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """`async with Receiver(statuses=[500, 200]) as r:` then POST to `r.url`."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, path, headers, body))
                self.arrived.set()
                status = self.statuses.pop(0) if self.statuses else 200
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n"
                             f"content-type: application/json\r\n\r\n{{}}".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def valid_signature(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("x-gateway-signature-256", ""))
