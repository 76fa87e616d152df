"""The REST mechanism: a direct resolver call and the stored operation give the same body,
so the faster one can serve the route (issue #2)."""

from __future__ import annotations

from starlette.requests import Request

from gateway.context import build_context
from gateway.rest.upstack import measures
from tests.support import Harness


async def test_direct_call_equals_stored_operation(harness: Harness) -> None:
    key = await harness.mint("events:write")
    for query in (b"", b"search=spend", b"category=web"):
        scope = {"type": "http", "method": "GET", "path": "/db-mgmt/api/measures",
                 "query_string": query, "headers": [(b"x-api-key", key.encode())],
                 "app": harness.client._transport.app}  # type: ignore[attr-defined]  # httpx keeps the app on its private transport
        request = Request(scope)
        ctx = await build_context(request)
        direct = await measures.list_measures(ctx, request)
        stored = await measures.list_measures_operation(ctx, request)
        assert direct == stored and direct["measures"]
