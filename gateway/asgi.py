"""Entry point for ASGI servers: `uvicorn gateway.asgi:app_factory --factory`.

Settings come from the environment here, and only here (plus the CLI, which does the same).
"""

from __future__ import annotations

import gc
import os

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.observe import configure_access_log
from gateway.settings import Settings

__all__ = ["app_factory", "freeze_heap"]


def app_factory() -> Starlette:
    settings = Settings.from_environ(os.environ)
    if settings.access_log:
        configure_access_log()
    app = create_app(settings)
    freeze_heap()
    return app


def freeze_heap() -> None:
    """Leave what start-up built (modules, the schema, the app) out of every later garbage
    collection, as a server process does once before serving: `gc.freeze()` after a full
    collection, so nothing that is already garbage is kept. Those objects live as long as
    the process anyway, but each full collection walked all of them: ~140,000 objects, a
    pause of 0.15-0.3 s on the 2-core development machine, about every 100,000 requests on
    the catalog route under load (~3 µs a request on average; docs/benchmarks.md). Not done by
    `create_app`: a test process builds many apps, and freezing each would keep every
    earlier one's cycles forever."""
    gc.collect()
    gc.freeze()
