"""GraphiQL and the API docs page, served from the package (issue #17, gateway/pages.py):
no page refers to another host, every asset they name is served with its content type and
a year-long immutable cache, the Headers pane starts with the credential headers, and the
files are package data. Rendering in a real browser, offline: tests/test_browser.py."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest

from gateway.pages import CREDENTIAL_HEADERS, IMMUTABLE, STATIC
from tests.support import Harness

ROOT = Path(__file__).resolve().parent.parent
BROWSER = {"accept": "text/html,application/xhtml+xml"}


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize(("path", "headers"), [("/graphql", BROWSER), ("/docs", {})])
async def test_pages_use_only_their_own_assets(harness: Harness, path: str,
                                               headers: dict[str, str]) -> None:
    page = await harness.client.get(path, headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert not re.search(r"unpkg|jsdelivr|cdnjs|googleapis", page.text)
    refs = _references(page.text)
    assert refs and all(r.startswith("/static/") for r in refs), refs
    for ref in refs:
        asset = await harness.client.get(ref, headers={"accept-encoding": "identity"})
        assert asset.status_code == 200, ref
        expected = "text/css" if ref.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"] == f"{expected}; charset=utf-8"
        assert asset.headers["cache-control"] == IMMUTABLE
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.content == (STATIC / ref.rsplit("/", 1)[1]).read_bytes()


async def test_graphiql_headers_pane_holds_the_credential_headers(harness: Harness) -> None:
    page = await harness.client.get("/graphql", headers=BROWSER)
    found = re.search(r'defaultHeaders: ("(?:[^"\\]|\\.)*")', page.text)
    assert found, page.text
    assert json.loads(json.loads(found.group(1))) == CREDENTIAL_HEADERS == {
        "x-api-key": "", "x-pixel-id": ""}
    assert "GraphiQLPluginExplorer.explorerPlugin()" in page.text
    assert "gateway_csrf" in page.text  # a logged-in session's writes send its CSRF token


async def test_docs_page_reads_the_openapi_document(harness: Harness) -> None:
    page = await harness.client.get("/docs")
    assert 'url: "/openapi.json"' in page.text
    assert "validatorUrl: null" in page.text  # no call to an outside validator


async def test_assets_gzip_revalidate_and_refuse_stale_digests(harness: Harness) -> None:
    page = await harness.client.get("/graphql", headers=BROWSER)
    ref = next(r for r in _references(page.text) if r.endswith("graphiql.min.js"))
    zipped = await harness.client.get(ref, headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < (STATIC / "graphiql.min.js").stat().st_size / 2
    assert zipped.content == (STATIC / "graphiql.min.js").read_bytes()  # httpx decodes it
    etag = zipped.headers["etag"]
    again = await harness.client.get(ref, headers={"if-none-match": etag})
    assert again.status_code == 304 and not again.content
    stale = await harness.client.get(ref.replace(ref.split("/")[2], "0" * 16))
    assert stale.status_code == 404 and stale.json()["code"] == "NOT_FOUND"
    unknown = await harness.client.get(f"/static/{ref.split('/')[2]}/VERSIONS")
    assert unknown.status_code == 404


def test_static_files_are_package_data_with_their_licences() -> None:
    """pyproject's package-data ships every file under gateway/static and gateway/templates
    (a wheel built without them would serve a GraphiQL stuck on "Loading")."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gateway"]
    gateway = ROOT / "gateway"
    files = [p for folder in ("static", "templates") for p in (gateway / folder).rglob("*")
             if p.is_file()]
    assert len(files) > 10
    unshipped = [str(p.relative_to(gateway)) for p in files
                 if not any(fnmatch.fnmatch(str(p.relative_to(gateway)), pattern)
                            for pattern in patterns)]
    assert not unshipped, f"add to [tool.setuptools.package-data]: {unshipped}"
    licences = {p.name for p in (STATIC / "licenses").iterdir()}
    for package in ("react", "react-dom", "graphiql", "graphiql-plugin-explorer",
                    "swagger-ui-dist"):
        assert f"{package}.LICENSE" in licences
