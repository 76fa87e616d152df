"""CSRF protection for cookie-authenticated writes (double-submit token + Origin check).

A browser attaches the HttpOnly session cookie to cross-site requests; it does not let another
site read our cookies or set custom headers without a CORS preflight we never grant. So a
cookie-authenticated request that is not GET/HEAD/OPTIONS must:

- carry `x-csrf-token` equal to the `gateway_csrf` cookie (set at login, readable by our own
  page's script, random per session), compared in constant time; and
- when the browser sends `Origin`, come from the gateway's own origin (scheme://host), or
  from an origin the operator listed in `GATEWAY_CORS_ORIGINS` (a frontend it trusts with
  credentials; `*` trusts none).

Requests authenticated by a header (`x-api-key`, `Authorization`) are not subject to it: a
browser never adds those on its own. Note that GraphQL queries are POSTs too, so a page using
the cookie sends the header on every GraphQL call.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping

from gateway.errors import CsrfFailed

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "SAFE_METHODS", "check_csrf"]

CSRF_COOKIE = "gateway_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_csrf(method: str, headers: Mapping[str, str], cookies: Mapping[str, str],
               own_origin: str, trusted: Collection[str] = ()) -> None:
    """Raise CsrfFailed unless a cookie-authenticated request of `method` is proven same-site
    or from a `trusted` origin (lower-case, as settings hold them)."""
    if method.upper() in SAFE_METHODS:
        return
    origin = headers.get("origin")
    if (origin is not None and origin.rstrip("/") != own_origin.rstrip("/")
            and (origin.rstrip("/").lower() not in trusted or origin == "*")):
        raise CsrfFailed("Cross-origin request refused")
    expected = cookies.get(CSRF_COOKIE, "")
    sent = headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfFailed()
