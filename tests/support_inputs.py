"""Helpers for the malformed-input tests (issue #10): one read-mostly app per module, JSON
bodies of any depth, and the error-shape checks each surface promises on a 4xx.

`module_harness` builds the same app as the `harness` fixture, once per test module (the
tests only read, or make writes that fail): pair it with
`pytestmark = pytest.mark.asyncio(loop_scope="module")`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.errors import all_error_classes
from gateway.settings import Settings
from tests.support import Clock, Harness, open_harness
from tests.support_db import databases

__all__ = ["Raw", "assert_clickstack_4xx", "assert_graphql_4xx", "assert_upstack_4xx",
           "dumps", "leaf", "module_harness", "nested"]

CODES = {cls.code for cls in all_error_classes()}


@asynccontextmanager
async def module_harness(directory: Path) -> AsyncIterator[Harness]:
    url = databases().url(directory)
    settings = Settings(database_url=url, secret="test-secret-" + "x" * 32)
    try:
        async with open_harness(settings, Clock(), tenant=True) as h:
            yield h
    finally:
        databases().release(url)


class Raw:
    """JSON text spliced into a body as is (nesting deeper than any encoder recurses)."""

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(value: Any) -> str:
    """JSON text of `value`, with `Raw` parts verbatim and integers of any size (orjson stops
    at 64 bits, and `json` recurses into `Raw`-free parts only)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def leaf(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"field": "country", "op": "equals", "value": f"C{i}", **extra}


def nested(levels: int, inner: Any = None, key: str = "and") -> Raw:
    """`levels` groups around `inner` (default one condition), as JSON text."""
    body = dumps(leaf() if inner is None else inner)
    return Raw(f'{{"{key}":[' * levels + body + "]}" * levels)


def assert_upstack_4xx(response: httpx.Response) -> None:
    """Not a server error; a 4xx is Upstack's `{"message"}` (+ `errors[{message,key,path}]`)."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("message"), str) and body["message"], body
        for e in body.get("errors", []):
            assert set(e) == {"message", "key", "path"}, e
            assert e["key"] == ".".join(str(p) for p in e["path"]), e


def assert_clickstack_4xx(response: httpx.Response) -> None:
    """Not a server error; a 4xx is ClickStack's one-message body."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"message"} and isinstance(body["message"], str), body


def assert_graphql_4xx(response: httpx.Response) -> None:
    """Not a server error: GraphQL errors are coded or GraphQL's own, never masked. A body
    that is not JSON (NaN, 1e400, a lone surrogate) is Strawberry's plain-text 400."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code == 400 and response.headers["content-type"].startswith("text/"):
        assert response.text == "Unable to parse request body as JSON", response.text
        return
    body = response.json()
    for e in body.get("errors") or []:
        assert isinstance(e.get("message"), str), e
        assert e["message"] != "Unexpected error.", e  # MaskErrors: an unexpected exception
        code = (e.get("extensions") or {}).get("code")
        assert code is None or code in CODES, e
