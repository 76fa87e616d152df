"""ClickStack pagination: `?limit=1..1000` (default 1000) and `?offset=0..10^9` (default 0)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from annotated_types import Interval
from starlette.requests import Request
from typing_extensions import TypedDict

from gateway.limits import MAX_OFFSET, MAX_PAGE_SIZE
from gateway.rest.base import JSONBody, query_int

__all__ = ["MAX_LIMIT", "Page", "PageQuery", "page_params", "paged"]

MAX_LIMIT = MAX_PAGE_SIZE
T = TypeVar("T")


class PageQuery(TypedDict, total=False):
    limit: Annotated[int, Interval(ge=1, le=MAX_LIMIT)]
    offset: Annotated[int, Interval(ge=0, le=MAX_OFFSET)]


class PageMeta(TypedDict):
    total: int
    limit: int
    offset: int


class Page(TypedDict, Generic[T]):
    """The body of `paged` (also sent: `X-Total-Count`)."""

    data: list[T]
    meta: PageMeta


def page_params(request: Request) -> tuple[int, int]:
    return (query_int(request, "limit", MAX_LIMIT, low=1, high=MAX_LIMIT),
            query_int(request, "offset", 0, low=0, high=MAX_OFFSET))


def paged(items: list[T], total: int, limit: int, offset: int) -> JSONBody:
    body: Page[T] = {"data": items, "meta": {"total": total, "limit": limit, "offset": offset}}
    return JSONBody(body, headers={"X-Total-Count": str(total)})
