"""In a real browser (issue #17): headless Chromium from Debian's packages, driven by
Playwright (`executable_path`; Playwright's own browser builds are never downloaded).

- GraphiQL and the docs page render with the network cut off: every request that is not
  to the loopback gateway is aborted and recorded, and none may be attempted. A screenshot
  of each is saved under the test's tmp dir; the query editor, the Headers pane with the
  credential headers and the schema explorer (once a key is typed in) are on the page.
- A frontend on another origin (another port) reads the catalog with a key and with the
  session cookie of a login through the gateway's login route, because that origin is in
  `GATEWAY_CORS_ORIGINS`; a page on an unlisted origin cannot read it.

Without Chromium the tests skip with the reason, except in CI (`CI=true`), where they fail:
.ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.settings import Settings
from tests.support import Clock
from tests.support_live import LiveGateway, free_port, live_gateway

pytestmark = pytest.mark.slow

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
PASSWORD = "correct horse battery"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = None if path else "Debian's chromium is not installed (apt-get install -y chromium)"
    if missing is None:
        try:
            import playwright.sync_api  # noqa: F401  # only checks that it is installed
        except ImportError:
            missing = "the playwright package is not installed (pip install -e '.[test]')"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI runs the browser tests: {missing}")
        pytest.skip(missing)
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


class Offline:
    """A browser context whose only network is the loopback interface."""

    def __init__(self, browser: Any) -> None:
        self.blocked: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def close(self) -> None:
        self.context.close()

    def assert_clean(self) -> None:
        assert self.blocked == [], f"the page reached out: {self.blocked}"
        errors = [m for m in self.console if m.startswith(("error", "pageerror"))
                  and "401" not in m]  # GraphiQL logs the keyless introspection's 401
        assert errors == [], errors


@pytest.fixture
def offline(browser: Any) -> Iterator[Offline]:
    session = Offline(browser)
    yield session
    session.close()


@pytest.fixture
def live(settings: Settings, clock: Clock) -> Iterator[LiveGateway]:
    with live_gateway(settings, clock) as gateway:
        gateway.arrange_tenant()
        yield gateway


def _shown(page: Any, selector: str, timeout_ms: int = 2_000) -> bool:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True


def test_graphiql_renders_offline_with_editor_headers_and_explorer(
        live: LiveGateway, offline: Offline, tmp_path: Path) -> None:
    key = live.mint("analytics:read")
    page = offline.page
    page.goto(f"{live.url}/graphql")
    page.wait_for_selector(".graphiql-container .graphiql-query-editor", timeout=20_000)
    # The Headers pane starts with the credential headers to fill in.
    headers = page.evaluate("""() => [...document.querySelectorAll('.CodeMirror')]
        .map(e => e.CodeMirror.getValue()).find(v => v.includes('"x-pixel-id"'))""")
    assert headers is not None and '"x-api-key": ""' in headers
    # Type the key in, re-fetch the schema: the explorer lists the root fields.
    page.evaluate("""(key) => [...document.querySelectorAll('.CodeMirror')]
        .map(e => e.CodeMirror).find(cm => cm.getValue().includes('"x-pixel-id"'))
        .setValue(JSON.stringify({"x-api-key": key, "x-pixel-id": ""}, null, 2))""", key)
    for _ in range(5):  # GraphiQL reads the pane on its next render; retry until it has
        page.click('button[aria-label="Re-fetch GraphQL schema"]')
        if _shown(page, ".graphiql-explorer-root .graphiql-explorer-measures"):
            break
    explorer = page.inner_text(".graphiql-plugin")
    assert "Explorer" in explorer and "measures" in explorer and "analytics" in explorer
    page.click(".graphiql-execute-button")
    page.wait_for_function("""() => document.querySelector('.graphiql-response')
        && document.querySelector('.graphiql-response').innerText.includes('meta.spend')""",
                           timeout=10_000)
    shot = tmp_path / "graphiql.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    offline.assert_clean()


def test_docs_page_renders_offline(live: LiveGateway, offline: Offline,
                                   tmp_path: Path) -> None:
    page = offline.page
    page.goto(f"{live.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 33
    text = page.inner_text(".swagger-ui")
    assert "Upstack Data" in text and "ClickStack" in text and "/db-mgmt/api/query" in text
    shot = tmp_path / "docs.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 20_000
    offline.assert_clean()


class _Frontend(BaseHTTPRequestHandler):
    """Another origin's page: blank; the test runs its scripts in it."""

    def do_GET(self) -> None:  # http.server's handler name
        body = b"<!doctype html><title>frontend</title><p>frontend</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the base's name
        pass


def _serve_frontend() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Frontend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


_READ_WITH_KEY = """async ([url, key, pixel]) => {
  const headers = {'x-api-key': key, 'x-pixel-id': pixel};
  const r = await fetch(url + '/db-mgmt/api/measures', {headers});
  const alerts = await fetch(url + '/api/v2/alerts', {headers});
  return {status: r.status, count: (await r.json()).measures.length,
          total: alerts.headers.get('x-total-count'), vary: r.headers.get('vary')};
}"""
_READ_WITH_COOKIE = """async ([url, email, password, pixel]) => {
  const login = await fetch(url + '/accounts/api/auth/login', {
    method: 'POST', credentials: 'include', headers: {'content-type': 'application/json'},
    body: JSON.stringify({email, password})});
  const session = await login.json();
  const read = await fetch(url + '/db-mgmt/api/measures',
                           {credentials: 'include', headers: {'x-pixel-id': pixel}});
  const body = await read.json();
  const logout = await fetch(url + '/accounts/api/auth/logout', {
    method: 'POST', credentials: 'include', headers: {'x-csrf-token': session.csrfToken}});
  const after = await fetch(url + '/db-mgmt/api/measures',
                            {credentials: 'include', headers: {'x-pixel-id': pixel}});
  return {login: login.status, read: read.status, count: (body.measures || []).length,
          logout: logout.status, after: after.status};
}"""
_TRY_READ = """async ([url, key]) => {
  try { await fetch(url + '/db-mgmt/api/measures', {headers: {'x-api-key': key}});
        return 'read'; }
  catch (e) { return 'refused: ' + e.name; }
}"""


def test_frontend_on_another_origin_reads_the_catalog(
        settings: Settings, clock: Clock, offline: Offline) -> None:
    frontend, origin = _serve_frontend()
    stranger, stranger_origin = _serve_frontend()
    try:
        with live_gateway(replace(settings, cors_origins=(origin,)), clock) as gateway:
            gateway.arrange_tenant()
            key = gateway.mint("analytics:read", "alerts:read")
            gateway.add_user("ada@example.com", PASSWORD, "viewer")
            page = offline.page
            page.goto(origin + "/")
            with_key = page.evaluate(_READ_WITH_KEY, [gateway.url, key, gateway.pixel_id])
            assert with_key["status"] == 200 and with_key["count"] > 50, with_key
            # An exposed header is readable, one that is not exposed is not.
            assert with_key["total"] == "0" and with_key["vary"] is None, with_key
            with_cookie = page.evaluate(_READ_WITH_COOKIE, [
                gateway.url, "ada@example.com", PASSWORD, gateway.pixel_id])
            assert with_cookie == {"login": 200, "read": 200, "count": with_key["count"],
                                   "logout": 200, "after": 401}, with_cookie
            page.goto(stranger_origin + "/")
            assert page.evaluate(_TRY_READ, [gateway.url, key]) == "refused: TypeError"
    finally:
        for server in (frontend, stranger):
            server.shutdown()
            server.server_close()
    assert offline.blocked == []
    refused = [m for m in offline.console if m.startswith("error") and "401" not in m]
    assert refused and all(f"from origin '{stranger_origin}'" in m or "ERR_FAILED" in m
                           for m in refused), refused  # only the stranger was refused
