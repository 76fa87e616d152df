"""Upstack measures catalog: `GET /db-mgmt/api/measures` (ungated: any active key)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from gateway.context import Context
from gateway.rest.base import resolver_info
from gateway.rest.upstack.surface import surface
from gateway.types.measure import Measure
from resolvers.measures import resolve_measures

__all__ = ["list_measures", "measure_body", "routes"]

_FORMATS = {"number": "Number", "currency": "Currency", "percentage": "Percentage",
            "multiplier": "Multiplier"}


def measure_body(m: Measure) -> dict[str, Any]:
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
        "preferredTrendDirection": m.preferred_trend_direction.value,
        "synonyms": m.synonyms,
        "formula": m.formula,
        "aggregation": m.aggregation,
    }


async def list_measures(ctx: Context, request: Request) -> dict[str, Any]:
    q = request.query_params
    found = resolve_measures(resolver_info(ctx), category=q.get("category"), search=q.get("search"))
    return {"measures": [measure_body(m) for m in found]}


def routes() -> list[Route]:
    return [surface.route("GET", "/db-mgmt/api/measures", list_measures, twin="Query.measures")]
