"""The server entry point: what `uvicorn gateway.asgi:app_factory --factory` runs."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from starlette.applications import Starlette

from gateway.asgi import app_factory


def test_app_factory_freezes_the_start_up_heap(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """Start-up objects leave the garbage collector's walks (gateway/asgi.py `freeze_heap`);
    the test process thaws them again, since it builds many apps."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'g.sqlite3'}")
    monkeypatch.setenv("GATEWAY_SECRET", "s" * 40)
    assert gc.get_freeze_count() == 0
    try:
        app = app_factory()
        assert isinstance(app, Starlette)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
