"""Attribution: which touch gets credit for each conversion, under six models.

A *touch* is a session's first event carrying a value for the dimension (utm_source,
channel, utm_campaign, …); events without a session_id count as one session per visitor.
Touches and conversions are joined by `anonymous_id`. A conversion considers the touches of
its visitor in `[conversion - window, conversion]`; one with no touch is credited to `None`
(no value: direct / unknown).

Models (weights per touch, summing to 1 except `any_click`):
- first_click / last_click: all credit to the earliest / latest touch;
- any_click: full credit to every distinct value touched (shares may sum past 100 %);
- linear: 1/n each;
- position_based: 40 % first, 40 % last, 20 % split over the middle (50/50 for two);
- time_decay: weight 2^(-age / half_life), normalised.

Two statements per period (conversions, then the touches of the converting visitors: a
bounded fetch), reduced in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.attribution import (
    DEFAULT_CONVERSION_EVENT,
    DEFAULT_DIMENSION,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_MODEL,
    DEFAULT_WINDOW_DAYS,
    MODELS,
)
from gateway.engine.fields import T, compile_filter, field_expression
from gateway.engine.query import Filter, TimeRange
from gateway.errors import QueryTooLarge
from gateway.storage import Database

__all__ = ["MODELS", "AttributionQuery", "AttributionResult", "AttributionRow",
           "run_attribution", "weights"]

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class AttributionQuery:
    """`filters` narrows the conversions (e.g. new customers only)."""

    pixel_id: str
    range: TimeRange
    dimension: str = DEFAULT_DIMENSION
    model: str = DEFAULT_MODEL
    window_days: int = DEFAULT_WINDOW_DAYS
    conversion_event: str = DEFAULT_CONVERSION_EVENT
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    filters: Filter | None = None
    compare_range: TimeRange | None = None
    max_rows: int = 1_000_000


@dataclass(frozen=True)
class AttributionRow:
    value: str | None
    conversions: float  # attributed conversions (fractional under split models)
    revenue: float
    share: float  # percent of the period's conversions


@dataclass(frozen=True)
class AttributionResult:
    primary: list[AttributionRow]
    compare: list[AttributionRow]
    totals: dict[str, float]  # conversions, revenue
    compare_totals: dict[str, float] = field(default_factory=dict)


def weights(model: str, touches: list[tuple[int, str]], at: int, half_life_ms: float
            ) -> dict[str | None, float]:
    """Credit per dimension value for one conversion at `at`; `touches` sorted by time."""
    n = len(touches)
    if n == 0:
        return {}
    credit: dict[str | None, float] = defaultdict(float)
    if model == "first_click":
        credit[touches[0][1]] = 1.0
    elif model == "last_click":
        credit[touches[-1][1]] = 1.0
    elif model == "any_click":
        for _, v in touches:
            credit[v] = 1.0
    elif model == "linear":
        for _, v in touches:
            credit[v] += 1.0 / n
    elif model == "position_based":
        if n == 1:
            credit[touches[0][1]] = 1.0
        elif n == 2:
            credit[touches[0][1]] += 0.5
            credit[touches[1][1]] += 0.5
        else:
            credit[touches[0][1]] += 0.4
            credit[touches[-1][1]] += 0.4
            for _, v in touches[1:-1]:
                credit[v] += 0.2 / (n - 2)
    elif model == "time_decay":
        raw = [(v, 2.0 ** (-(at - ts) / half_life_ms)) for ts, v in touches]
        total = sum(w for _, w in raw)
        for v, w in raw:
            credit[v] += w / total
    else:
        raise ValueError(model)
    return dict(credit)


async def _period(conn: AsyncConnection, q: AttributionQuery, span: TimeRange
                  ) -> tuple[list[AttributionRow], dict[str, float]]:
    window = q.window_days * _DAY_MS
    conv_where = [T.pixel_id == q.pixel_id, T.name == q.conversion_event,
                  T.ts >= span.start_ms, T.ts < span.end_ms]
    if q.filters is not None:
        conv_where.append(compile_filter(q.filters))
    conversions = (await conn.execute(
        select(T.anonymous_id, T.ts, T.revenue).where(and_(*conv_where))
        .limit(q.max_rows + 1))).all()
    dim = field_expression(q.dimension)
    visitors = select(T.anonymous_id).where(and_(*conv_where, T.anonymous_id.is_not(None)))
    touch_rows = (await conn.execute(
        select(T.anonymous_id, func.min(T.ts), dim.label("v"))
        .where(T.pixel_id == q.pixel_id, T.ts >= span.start_ms - window, T.ts < span.end_ms,
               T.name != q.conversion_event, dim.is_not(None),
               T.anonymous_id.in_(visitors))
        .group_by(T.anonymous_id, T.session_id, "v")
        .limit(q.max_rows + 1))).all()
    if len(conversions) > q.max_rows or len(touch_rows) > q.max_rows:
        raise QueryTooLarge(f"Attribution over more than {q.max_rows} events; narrow the range")
    touches: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for anon, ts, v in touch_rows:
        touches[anon].append((int(ts), _text(v)))
    for lst in touches.values():
        lst.sort()
    half_life = q.half_life_days * _DAY_MS
    # Credits are summed with fsum (exact, then rounded once): conversions come in whatever
    # order the database returns them, and running float sums would depend on it.
    conv_parts: dict[str | None, list[float]] = defaultdict(list)
    rev_parts: dict[str | None, list[float]] = defaultdict(list)
    revenues: list[float] = []
    for anon, raw_ts, raw_revenue in conversions:
        ts = int(raw_ts)
        revenue = float(raw_revenue or 0.0)
        revenues.append(revenue)
        mine = [t for t in touches.get(anon, []) if ts - window <= t[0] <= ts]
        credit: dict[str | None, float] = {None: 1.0}
        if mine:
            credit = weights(q.model, mine, ts, half_life)
        for v, w in credit.items():
            conv_parts[v].append(w)
            rev_parts[v].append(w * revenue)
    n = len(conversions)
    total_rev = math.fsum(revenues)
    conv_credit = {v: math.fsum(ws) for v, ws in conv_parts.items()}
    rows = [AttributionRow(v, conv_credit[v], math.fsum(rev_parts[v]),
                           100.0 * conv_credit[v] / n)
            for v in conv_credit]
    rows.sort(key=lambda r: (-r.conversions, -r.revenue, r.value is None, r.value or ""))
    return rows, {"conversions": float(n), "revenue": total_rev}


def _text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


async def run_attribution(db: Database, q: AttributionQuery) -> AttributionResult:
    """Attributed conversions and revenue per dimension value, for the range and the
    optional compare range. The dimension and filter fields must be valid."""
    async with db.engine.connect() as conn:
        primary, totals = await _period(conn, q, q.range)
        compare, compare_totals = ([], {}) if q.compare_range is None else await _period(
            conn, q, q.compare_range)
    return AttributionResult(primary, compare, totals, compare_totals)
