"""ClickStack pagination: `?limit=1..1000` (default 1000) and `?offset>=0` (default 0)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from gateway.errors import InvalidInput
from gateway.rest.base import JSONBody

__all__ = ["MAX_LIMIT", "page_params", "paged"]

MAX_LIMIT = 1000


def _int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput.field("must be an integer", name) from exc
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput.field(f"must be {bound}", name)
    return value


def page_params(request: Request) -> tuple[int, int]:
    return (_int(request, "limit", MAX_LIMIT, 1, MAX_LIMIT),
            _int(request, "offset", 0, 0, None))


def paged(items: list[Any], total: int, limit: int, offset: int) -> JSONBody:
    return JSONBody({"data": items, "meta": {"total": total, "limit": limit, "offset": offset}},
                    headers={"X-Total-Count": str(total)})
