"""Browser pages served from the package itself: GraphiQL, the API docs, and their assets.

No page loads anything from another host (issue #17: a self-hosted gateway often has no
internet access). The assets are the packages' released bundles, vendored unchanged into
`gateway/static/` with their licences by `scripts/vendor_assets.sh` (versions in
`gateway/static/VERSIONS`), and shipped as package data.

    GET /graphql (a browser)       GraphiQL with the explorer plugin; the Headers pane is
                                   pre-filled with the credential headers to fill in
    GET /docs                      Swagger UI over GET /openapi.json
    GET /static/{digest}/{name}    an asset; `digest` is its content's, so the URL changes
                                   with the file and the answer is cached for a year
                                   (`immutable`); gzip when the client accepts it

Both pages send a Content-Security-Policy allowing only this origin (inline scripts and
styles included: the pages' own setup), so a page can never reach out to a CDN unnoticed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.auth.csrf import CSRF_COOKIE, CSRF_HEADER
from gateway.errors import NotFound

__all__ = ["CREDENTIAL_HEADERS", "IMMUTABLE", "STATIC", "Pages"]

STATIC = Path(__file__).resolve().parent / "static"
_TEMPLATES = Path(__file__).resolve().parent / "templates"
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# What GraphiQL's Headers pane starts with: the headers a caller fills in (README "Try it").
CREDENTIAL_HEADERS = {"x-api-key": "", "x-pixel-id": ""}
_DEFAULT_QUERY = """# Fill in x-api-key in Headers (below; x-pixel-id
# when the key reaches several pixels), then run (Ctrl-Enter).
{
  measures(category: "meta") {
    key
    title
    format
  }
}
"""
_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'")
_PAGE_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                 "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}


@dataclass
class _Asset:
    body: bytes
    digest: str
    media_type: str
    gzipped: bytes | None = None  # made on the first request that accepts gzip


class Pages:
    """The pages and assets of one app. Files are read on first use, then kept (they are
    package data and do not change while the process runs)."""

    def __init__(self, static: Path = STATIC, *, openapi_url: str = "/openapi.json") -> None:
        self._static = static
        self._openapi_url = openapi_url
        self._assets: dict[str, _Asset] | None = None
        self._html: dict[str, str] = {}

    def _load(self) -> dict[str, _Asset]:
        if self._assets is None:
            found = {}
            for path in sorted(self._static.iterdir()):
                media_type = _TYPES.get(path.suffix)
                if media_type is None or not path.is_file():
                    continue
                body = path.read_bytes()
                found[path.name] = _Asset(body=body, media_type=media_type,
                                          digest=hashlib.sha256(body).hexdigest()[:16])
            self._assets = found
        return self._assets

    def url(self, name: str) -> str:
        """The URL of the asset `name`; KeyError for a file that is not shipped."""
        return f"/static/{self._load()[name].digest}/{name}"

    def _render(self, template: str, values: dict[str, str]) -> str:
        if template not in self._html:
            text = (_TEMPLATES / template).read_text()
            for name in self._load():
                text = text.replace("{{" + name + "}}", self.url(name))
            for key, value in values.items():
                text = text.replace("{{" + key + "}}", value)
            self._html[template] = text
        return self._html[template]

    def graphiql(self) -> Response:
        return HTMLResponse(self._render("graphiql.html", {
            "csrf_cookie": CSRF_COOKIE, "csrf_header": CSRF_HEADER,
            # JSON in a script: escape "<" so no value can close the script element.
            "default_headers": json.dumps(json.dumps(CREDENTIAL_HEADERS, indent=2)
                                          ).replace("<", "\\u003c"),
            "default_query": json.dumps(_DEFAULT_QUERY).replace("<", "\\u003c"),
        }), headers=_PAGE_HEADERS)

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(self._render("docs.html", {"openapi_url": self._openapi_url}),
                            headers=_PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        """One asset; NotFound for an unknown name or a digest that is not the file's (a
        page of an older version asking for a file since replaced)."""
        found = self._load().get(request.path_params["name"])
        if found is None or request.path_params["digest"] != found.digest:
            raise NotFound("No such asset")
        headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{found.digest}"',
                   "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            if found.gzipped is None:
                found.gzipped = gzip.compress(found.body, 6, mtime=0)
            headers["Content-Encoding"] = "gzip"
            return Response(found.gzipped, media_type=found.media_type, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)
