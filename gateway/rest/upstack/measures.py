"""Upstack measures catalog: `GET /db-mgmt/api/measures` (ungated: any active key).

The route calls the resolver GraphQL calls (so the same credential check runs on every
request), then serves the body encoded once per catalog listing: the resolver returns the
same tuple of `Measure`s for the same listing of the same catalog (`Catalog.listing`,
`Measure.listing`), and `CatalogBodies` keys the encoded body by that tuple's identity. A
catalog is immutable, so its identity is its version: another catalog (per pixel, once
custom measures exist) gives other listings and other bodies, and nothing needs
invalidating. Shaping and encoding the 55 measures per request served ~0.13x of bare
Starlette returning the same bytes (benchmarks/catalog.py, docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typing_extensions import TypedDict

from gateway.context import Context
from gateway.lru import LRU
from gateway.rest.base import ANY_CREDENTIAL, resolver_info
from gateway.rest.upstack.surface import surface
from gateway.types.measure import Measure
from resolvers.measures import resolve_measures

__all__ = ["CatalogBodies", "MeasureBody", "MeasuresBody", "list_measures", "measure_body",
           "measures_body", "routes"]

WireFormat = Literal["Number", "Currency", "Percentage", "Multiplier"]
_FORMATS: dict[str, WireFormat] = {"number": "Number", "currency": "Currency",
                                   "percentage": "Percentage", "multiplier": "Multiplier"}


class MeasureBody(TypedDict):
    id: str
    key: str
    title: str
    description: str
    category: str
    unit: str
    format: WireFormat
    isAverage: bool
    isPercentage: bool
    isAdditive: bool
    hasPacing: bool
    preferredTrendDirection: Literal["up", "down"]
    synonyms: list[str]
    formula: str | None
    aggregation: str | None


class MeasuresBody(TypedDict):
    measures: list[MeasureBody]


class MeasuresQuery(TypedDict, total=False):
    category: str
    search: str


def measure_body(m: Measure) -> MeasureBody:
    return {
        "id": m.key,
        "key": m.key,
        "title": m.title,
        "description": m.description,
        "category": m.category,
        "unit": m.unit,
        "format": _FORMATS[m.format.value],
        "isAverage": m.is_average,
        "isPercentage": m.is_percentage,
        "isAdditive": m.is_additive,
        "hasPacing": m.has_pacing,
        "preferredTrendDirection": "up" if m.preferred_trend_direction.value == "up" else "down",
        "synonyms": m.synonyms,
        "formula": m.formula,
        "aggregation": m.aggregation,
    }


def measures_body(found: Sequence[Measure]) -> MeasuresBody:
    return {"measures": [measure_body(m) for m in found]}


def _listed(ctx: Context, request: Request) -> Sequence[Measure]:
    # The usual call has no query string: nothing to parse.
    q: Mapping[str, str] = request.query_params if request.scope.get("query_string") else {}
    return resolve_measures(resolver_info(ctx), category=q.get("category"),
                            search=q.get("search"))


async def list_measures(ctx: Context, request: Request) -> MeasuresBody:
    """The body, shaped per call (the route serves it encoded: `CatalogBodies`)."""
    return measures_body(_listed(ctx, request))


class CatalogBodies:
    """Encoded `measures_body`s, keyed by the identity of the listing (the resolver's tuple).
    An entry holds its listing, so no other object can take that id while it is cached: a
    key match means the very same measures. A listing that is not a tuple (shared, hence
    immutable) is encoded per call. `maxsize` bounds the listings kept (the catalog, its
    categories, recent searches)."""

    def __init__(self, maxsize: int = 64) -> None:
        self._bodies: LRU[int, tuple[Sequence[Measure], bytes]] = LRU(maxsize)

    def encoded(self, found: Sequence[Measure]) -> bytes:
        if not isinstance(found, tuple):
            return orjson.dumps(measures_body(found))
        hit = self._bodies.get(id(found))
        if hit is not None and hit[0] is found:
            return hit[1]
        body = orjson.dumps(measures_body(found))
        self._bodies.put(id(found), (found, body))
        return body


def routes() -> list[Route]:
    bodies = CatalogBodies()  # one per app: encoded bodies live as long as the routes

    async def serve_measures(ctx: Context, request: Request) -> Response:
        """The measures catalog, optionally one category or a title search"""
        return Response(bodies.encoded(_listed(ctx, request)), media_type="application/json")

    return [surface.route("GET", "/db-mgmt/api/measures", serve_measures,
                          twin="Query.measures", scope=ANY_CREDENTIAL, response=MeasuresBody,
                          query=MeasuresQuery)]
