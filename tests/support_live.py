"""A live gateway for tests where the network matters: uvicorn in a thread, on a real port.

For browsers (tests/test_browser.py) and schemathesis (tests/test_openapi_fuzz.py), which
speak HTTP over a socket. The app is `create_app(settings)` as the CLI serves it, with the
test's settings and the `Dns` of the other tests (no test depends on the machine's DNS).
Arrangements run on the server's own event loop, through the same services the harness
uses (`LiveGateway.run`).

Ports come from 9360-9399 (this suite's range): the first free one is taken.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth.principal import system_principal
from gateway.context import AppState
from gateway.services import keys as key_service
from gateway.services import tenancy
from gateway.services import users as user_service
from gateway.settings import Settings
from tests.support import Clock
from tests.support_alerts import Dns

__all__ = ["LiveGateway", "free_port", "live_gateway"]

PORTS = range(9360, 9400)
T = TypeVar("T")


def free_port(ports: range = PORTS) -> int:
    """The first port of `ports` nothing listens on (bound and released at once)."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


@dataclass
class LiveGateway:
    url: str
    app: Starlette
    loop: asyncio.AbstractEventLoop
    clock: Clock
    organization_id: str = ""
    pixel_id: str = ""

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.gateway
        return state

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the server's loop (where its database engine lives)."""
        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=30)

    def arrange_tenant(self) -> None:
        async def arrange() -> tuple[str, str]:
            org = await tenancy.create_organization(self.state.db, "Acme", self.clock())
            pixel = await tenancy.create_pixel(self.state.db, org.id, "site", self.clock())
            return org.id, pixel.id

        self.organization_id, self.pixel_id = self.run(arrange)

    def mint(self, *scopes: str) -> str:
        """A key secret of the tenant, restricted to its pixel."""
        async def create() -> Any:
            return await key_service.create_key(
                self.state.db, self.state.settings, system_principal(self.organization_id),
                name="live test key", scopes=list(scopes), pixel_ids=[self.pixel_id],
                now=self.clock())

        return str(self.run(create).secret)

    def add_user(self, email: str, password: str, role: str = "member") -> None:
        async def create() -> None:
            await user_service.create_user(
                self.state.db, self.state.settings, system_principal(self.organization_id),
                email=email, password=password, role=role, pixel_ids=None, now=self.clock())

        self.run(create)


@contextmanager
def live_gateway(settings: Settings, clock: Clock | None = None) -> Iterator[LiveGateway]:
    """The gateway of `settings`, served on a free port until the block ends."""
    clock = clock or Clock()
    app = create_app(settings, clock=clock, resolver=Dns())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=serve, name=f"live-gateway-{port}", daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not server.started:
            raise RuntimeError(f"the live gateway did not start on port {port}")
        yield LiveGateway(url=f"http://127.0.0.1:{port}", app=app, loop=loop, clock=clock)
    finally:
        server.should_exit = True
        thread.join(15)
        loop.close()
