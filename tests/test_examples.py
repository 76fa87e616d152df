"""Every script in examples/ runs against a live `gateway serve` on loopback (issue #2)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support_db import databases, gateway_env

ROOT = Path(__file__).resolve().parent.parent
# Slow (the fast subset skips it): a `gateway demo` process, a live server, client processes.
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    directory = tmp_path_factory.mktemp("live")
    db_url = databases().url(directory, "live.sqlite3", migrated=False)
    env = gateway_env(db_url)
    demo = subprocess.run([sys.executable, "-m", "gateway", "demo", "--days", "3", "--json"],
                          env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert demo.returncode == 0, demo.stderr
    seeded = json.loads(demo.stdout)
    port = _free_port()
    log = (directory / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("gateway serve did not come up: " + (directory / "serve.log").read_text())
        yield {**env, "GATEWAY_URL": url, "UPSTACK_API_KEY": seeded["key"],
               "UPSTACK_PIXEL_ID": seeded["pixel_id"]}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
        databases().release(db_url)


def test_python_client(live: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "client.py"), "roas"],
                            env=live, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "GraphQL agrees" in result.stdout and "core.roas" in result.stdout


def test_curl_walkthrough(live: dict[str, str]) -> None:
    result = subprocess.run(["bash", str(ROOT / "examples" / "curl.sh")], env=live,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "measures" in result.stdout and "(HTTP 401)" in result.stdout


def test_upstack_quickstart(live: dict[str, str]) -> None:
    """The Upstack quickstart with curl: measures -> from-preset -> open the view (issue #6)."""
    result = subprocess.run(["bash", str(ROOT / "examples" / "quickstart.sh")], env=live,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "NC + Meta Pulse" in out and out.count("sparkline") == 3
    assert "opened NC + Meta Pulse version 1 with 3 widgets" in out
    assert '"total"' in out and '"errors"' not in out
