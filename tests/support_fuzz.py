"""A live app for property-based tests (hypothesis) through the real ASGI app.

Hypothesis drives a *sync* test function; the app, its lifespan and the client live on one
`asyncio.Runner` for the whole test, and every example runs its requests on that runner. So
one test builds one app on one SQLite file (examples share it: properties must hold whatever
earlier examples stored), and no example waits for a fresh migration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness
from tests.support_db import databases

__all__ = ["LiveHarness", "live_harness"]

T = TypeVar("T")


class LiveHarness:
    """A `Harness` plus the runner its coroutines must run on: `live.run(h.client.get(...))`."""

    def __init__(self, runner: asyncio.Runner, harness: Harness) -> None:
        self._runner = runner
        self.h = harness

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)


@contextmanager
def live_harness(tmp_path: Path) -> Iterator[LiveHarness]:
    url = databases().url(tmp_path, "fuzz.sqlite3")
    settings = Settings(database_url=url, secret="fuzz-secret-" + "x" * 32,
                        alerts_enabled=False)
    try:
        with asyncio.Runner() as runner:
            opened = open_harness(settings, Clock(), tenant=True)
            h = runner.run(opened.__aenter__())
            try:
                yield LiveHarness(runner, h)
            finally:
                runner.run(opened.__aexit__(None, None, None))
    finally:
        databases().release(url)
