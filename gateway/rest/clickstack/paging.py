"""ClickStack pagination: `?limit=1..1000` (default 1000) and `?offset=0..10^9` (default 0)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from gateway.limits import MAX_OFFSET, MAX_PAGE_SIZE
from gateway.rest.base import JSONBody, query_int

__all__ = ["MAX_LIMIT", "page_params", "paged"]

MAX_LIMIT = MAX_PAGE_SIZE


def page_params(request: Request) -> tuple[int, int]:
    return (query_int(request, "limit", MAX_LIMIT, low=1, high=MAX_LIMIT),
            query_int(request, "offset", 0, low=0, high=MAX_OFFSET))


def paged(items: list[Any], total: int, limit: int, offset: int) -> JSONBody:
    return JSONBody({"data": items, "meta": {"total": total, "limit": limit, "offset": offset}},
                    headers={"X-Total-Count": str(total)})
