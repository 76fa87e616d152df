"""Which statements of a query period read rollups (`gateway.storage.rollups`) instead of
raw events, and those statements.

A period reads rollups only where the answer is provably the same as the raw scan's:

- every bucket edge and the range are whole UTC hours (local days in any whole-hour time
  zone; not +5:45, not minute or second buckets);
- additive parts (count, sum, min, max of a stored numeric column): the narrowest rollup
  whose fields cover the dimensions, the filter and the parts' catalog conditions;
- distinct counts (sessions, visitors, customers): a rollup keyed by exactly the query's
  dimensions, with the filter and the conditions on those fields only (or the event name);
  otherwise a value seen under two field values would be counted twice;
- percentiles never (they need raw values).

Anything else falls back to the raw scan, statement by statement, so a query is never
wrong, only slower. tests/engine/test_rollups.py compares both paths on random queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Select, and_, cast, or_, select
from sqlalchemy.sql.elements import ColumnElement

from gateway.engine.buckets import BucketPlan, transitions
from gateway.engine.fields import compile_filter, filter_fields, find_field, stored_column
from gateway.engine.measures import MeasurePlan, Part
from gateway.engine.query import EngineQuery, TimeRange
from gateway.storage.rollups import (
    DIMENSIONS,
    DISTINCT_COLUMNS,
    HOUR_MS,
    NUMERIC,
    ROLLUP_DISTINCT_TABLE,
    ROLLUP_TABLE,
    ROLLUPS,
    Rollup,
)

__all__ = ["additive_rollup", "aligned", "distinct_rollup", "rollup_statement"]

A = ROLLUP_TABLE.c
D = ROLLUP_DISTINCT_TABLE.c
_STORED = frozenset(DIMENSIONS)


def aligned(buckets: BucketPlan, span: TimeRange) -> bool:
    """Every boundary the statements use is a whole UTC hour: the range, the bucket edges
    and (day/week buckets map instants through the UTC offset) every offset change."""
    if buckets.granularity in ("second", "minute") or span.start_ms % HOUR_MS or \
            span.end_ms % HOUR_MS or any(e % HOUR_MS for e in buckets.edges):
        return False
    if buckets.granularity in ("day", "week") and buckets.count > 1:
        changes = transitions(ZoneInfo(buckets.timezone), buckets.edges[0], buckets.edges[-1])
        return all(at % HOUR_MS == 0 for at, _ in changes)
    return True


def _fields(parts: Sequence[Part], query: EngineQuery, dimensions: Sequence[str]
            ) -> set[str] | None:
    """The stored fields a statement reads besides the event name; None when one of them
    is not stored (path, properties.*, …)."""
    names = filter_fields(query.filters) | {_canonical(d) for d in dimensions}
    for p in parts:
        names |= p.fields
    names.discard("event")
    return names if names <= _STORED else None


def additive_rollup(parts: Sequence[Part], query: EngineQuery) -> Rollup | None:
    if not all(p.fn in ("count", "sum", "min", "max") and p.column in (None, *NUMERIC)
               for p in parts):
        return None
    needed = _fields(parts, query, query.dimensions)
    if needed is None:
        return None
    fits = [r for r in ROLLUPS if needed <= set(r.fields)]
    return min(fits, key=lambda r: len(r.fields)) if fits else None


def distinct_rollup(parts: Sequence[Part], query: EngineQuery, dimensions: Sequence[str]
                    ) -> Rollup | None:
    """`dimensions`: the grouping of this statement (the query's, or none for a total)."""
    if not all(p.fn == "count_distinct" and p.column in DISTINCT_COLUMNS
               and len(p.events) == 1 for p in parts):
        return None
    needed = _fields(parts, query, dimensions)
    grouped = {_canonical(d) for d in dimensions} - {"event"}
    if needed is None or not needed <= grouped:
        return None
    for r in ROLLUPS:
        if r.distinct and set(r.fields) == grouped:
            return r
    return None


def rollup_statement(query: EngineQuery, plan: MeasurePlan, parts: Sequence[int],
                     rollup: Rollup, span: TimeRange, buckets: BucketPlan | None,
                     dimensions: Sequence[str], max_rows: int) -> Select[Any]:
    """GROUP BY (bucket, dimensions) over a rollup; `buckets` None: no bucket column (a
    period total, or per-group totals). Distinct parts count a chain at its first hour in
    the bucket (or in the period)."""
    distinct = plan.parts[parts[0]].fn == "count_distinct"
    src = D if distinct else A
    keys: list[ColumnElement[Any]] = []
    if buckets is not None:
        keys.append(buckets.sql_index(src.hour))
    keys += [src[stored_column(_canonical(d))] for d in dimensions]
    labels = [k.label(f"g_{i}") for i, k in enumerate(keys)]
    names = sorted({n for i in parts for n in plan.parts[i].events})
    where: list[ColumnElement[bool]] = [
        src.pixel_id == query.pixel_id, src.rollup == rollup.id,
        src.name.in_(names) if len(names) > 1 else src.name == names[0],
        src.hour >= span.start_ms, src.hour < span.end_ms]
    if query.filters is not None:
        where.append(compile_filter(query.filters, src))
    if distinct:
        # distinct parts always name a column (distinct_rollup checks DISTINCT_COLUMNS)
        columns = sorted({c for i in parts if (c := plan.parts[i].column) is not None})
        where.append(D.col.in_(columns) if len(columns) > 1 else D.col == columns[0])
        # gap is a 32-bit INTEGER: widened before the product, which passes 2^31 after 597
        # hours (PostgreSQL computes INTEGER * INTEGER in 32 bits and fails).
        prev = D.hour - cast(D.gap, BigInteger) * HOUR_MS
        first_terms = [D.gap == 0, prev < span.start_ms]
        if buckets is not None and buckets.count > 1:
            first_terms.append(buckets.sql_index(prev) != buckets.sql_index(D.hour))
        first = or_(*first_terms)
        cols = [plan.parts[i].distinct_rollup_sql(D, first).label(f"p_{j}")
                for j, i in enumerate(parts)]
    else:
        cols = [plan.parts[i].rollup_sql(A).label(f"p_{j}") for j, i in enumerate(parts)]
    stmt = select(*labels, *cols).where(and_(*where))
    if labels:
        stmt = stmt.group_by(*(f"g_{i}" for i in range(len(labels)))).limit(max_rows + 1)
    return stmt


def _canonical(name: str) -> str:
    spec = find_field(name)
    return name if spec is None else spec.name
