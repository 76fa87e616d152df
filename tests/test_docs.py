"""The README documents every error code and every REST route the app serves."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route

from gateway.app import create_app
from gateway.errors import all_error_classes
from gateway.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_error_code_is_documented() -> None:
    missing = [c.code for c in all_error_classes() if f"`{c.code}`" not in README]
    assert not missing, f"add these codes to README.md, Errors: {missing}"


def test_every_setting_is_documented() -> None:
    """Each GATEWAY_* variable `Settings.from_environ` reads has a row in the README's
    settings table (issue #11: GATEWAY_LOG_LEVEL had none)."""
    source = (Path(__file__).resolve().parent.parent / "gateway" / "settings.py").read_text()
    read = sorted(set(re.findall(r'environ\.get\(\s*"(GATEWAY_[A-Z_]+)"', source)))
    assert len(read) > 20, read
    missing = [name for name in read if f"`{name}`" not in README]
    assert not missing, f"add these settings to README.md, Settings: {missing}"


def test_every_rest_route_is_documented() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret="x" * 32))
    served = [f"{m} {r.path}" for r in app.routes if isinstance(r, Route)
              for m in sorted(r.methods or ()) if m != "HEAD"]
    missing = [name for name in served if f"`{name}`" not in README]
    assert not missing, f"add these routes to README.md, REST routes: {missing}"
