"""Entry point for ASGI servers: `uvicorn gateway.asgi:app_factory --factory`.

Settings come from the environment here, and only here (plus the CLI, which does the same).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.observe import configure_access_log
from gateway.settings import Settings

__all__ = ["app_factory"]


def app_factory() -> Starlette:
    settings = Settings.from_environ(os.environ)
    if settings.access_log:
        configure_access_log()
    return create_app(settings)
