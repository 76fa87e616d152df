"""Helpers for the event ingestion tests (issue #4): sample events and counting them back."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Harness

__all__ = ["count_events", "page_view", "post_events", "purchase"]

TRACK = "/tr/api/events"


def page_view(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": "page_view", "event_id": f"pv-{i}", "anonymous_id": f"anon-{i % 7}",
            "url": f"https://shop.example/p/{i}?ref=x", "timestamp": 1_763_640_000_000 + i,
            "utm_source": "google", **extra}


def purchase(order: str = "1042", **extra: Any) -> dict[str, Any]:
    return {"name": "purchase", "event_id": f"order-{order}", "user_id": "cust-1",
            "order_id": order, "revenue": 59.9, "timestamp": "2026-11-20T11:00:00Z", **extra}


async def post_events(h: Harness, key: str, body: Any, *, client: httpx.AsyncClient | None = None,
                      raw: bytes | None = None) -> httpx.Response:
    c = client or h.client
    headers = {**h.headers(key, h.pixel_id), "content-type": "application/json"}
    if raw is not None:
        return await c.post(TRACK, content=raw, headers=headers)
    return await c.post(TRACK, json=body, headers=headers)


async def count_events(h: Harness, key: str | None = None) -> dict[str, int]:
    """{name: count} and "*" for the total, read back through the `eventStats` query."""
    key = key or await h.mint("analytics:read")
    body = await h.graphql("{ eventStats { total byName { name count } } }", key=key,
                           pixel=h.pixel_id)
    stats = body["data"]["eventStats"]
    return {"*": stats["total"], **{r["name"]: r["count"] for r in stats["byName"]}}
