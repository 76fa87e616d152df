"""`run_query`: one query, a fixed number of SQL statements whatever the number of measures.

Per period (primary, then compare):

1. the main statement: one scan of the pixel's events in the range whose name is one the
   measures read, grouped by (bucket, dimensions), one conditional-aggregate column per part;
2. when a distinct count is asked and the period has several buckets or groups: the same
   scan grouped by dimensions only, and once without grouping (distinct counts do not add up);
3. when a percentile is asked: one bounded fetch of the raw values, reduced in Python.

Everything else (rolling buckets into group and period totals, formulas, empty buckets,
ranking and limiting groups) happens in Python on the aggregated rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from gateway.catalog import CATALOG, Catalog
from gateway.engine.buckets import BucketPlan, plan_buckets
from gateway.engine.fields import T, compile_filter, field_expression
from gateway.engine.measures import MeasurePlan, evaluate, percentile, plan_measures, rollup
from gateway.engine.query import Bucket, EngineQuery, EngineResult, TimeRange
from gateway.errors import QueryTooLarge
from gateway.storage import Database

__all__ = ["Limits", "run_query"]

Key = tuple[Any, ...]
Values = list[float | None]


@dataclass(frozen=True)
class Limits:
    """Bounds on one query: buckets per period, cells (buckets x groups) and raw values
    fetched for percentiles. Past a bound the query fails with QueryTooLarge."""

    max_buckets: int = 10_000
    max_cells: int = 100_000
    max_percentile_rows: int = 1_000_000


@dataclass
class _Period:
    buckets: BucketPlan
    cells: dict[tuple[int, Key], Values] = field(default_factory=dict)
    groups: dict[Key, Values] = field(default_factory=dict)
    total: Values = field(default_factory=list)


def _base_where(query: EngineQuery, plan: MeasurePlan, span: TimeRange
                ) -> list[ColumnElement[bool]]:
    names = sorted({n for p in plan.parts for n in p.events})
    where = [T.pixel_id == query.pixel_id, T.ts >= span.start_ms, T.ts < span.end_ms,
             T.name.in_(names) if len(names) > 1 else T.name == names[0]]
    if query.filters is not None:
        where.append(compile_filter(query.filters))
    return where


async def _aggregate(conn: AsyncConnection, plan: MeasurePlan, parts: Sequence[int],
                     where: list[ColumnElement[bool]], keys: list[ColumnElement[Any]],
                     max_rows: int) -> dict[Key, Values]:
    """GROUP BY `keys`; each row's values aligned with plan.parts (None where not asked)."""
    labels = [k.label(f"g_{i}") for i, k in enumerate(keys)]
    cols = [plan.parts[i].sql().label(f"p_{i}") for i in parts]
    stmt = select(*labels, *cols).where(and_(*where))
    if labels:
        stmt = stmt.group_by(*(f"g_{i}" for i in range(len(labels)))).limit(max_rows + 1)
    result = await conn.execute(stmt)
    rows = result.all()
    if len(rows) > max_rows:
        raise QueryTooLarge(f"The query has more than {max_rows} buckets x groups; narrow the "
                            "date range, use a coarser granularity, fewer dimensions or a "
                            "filter")
    out: dict[Key, Values] = {}
    n = len(keys)
    for row in rows:
        values: Values = [None] * len(plan.parts)
        for j, i in enumerate(parts):
            values[i] = row[n + j]
        out[tuple(row[:n])] = values
    return out


def _dim_value(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


async def _run_period(conn: AsyncConnection, query: EngineQuery, plan: MeasurePlan,
                      span: TimeRange, limits: Limits, counter: list[int]) -> _Period:
    try:
        buckets = plan_buckets(query.granularity, span, query.timezone, limits.max_buckets)
    except ValueError as exc:
        raise QueryTooLarge(f"{exc}; use a coarser granularity or a shorter range") from exc
    period = _Period(buckets)
    where = _base_where(query, plan, span)
    dims = [field_expression(d) for d in query.dimensions]
    bucket_sql = buckets.sql_index(T.ts)
    sql_parts = plan.sql_parts
    raw: dict[Key, Values] = {}
    if sql_parts or not plan.percentile_parts:
        counter[0] += 1
        raw = await _aggregate(conn, plan, sql_parts, where, [bucket_sql, *dims],
                               limits.max_cells)
    # SQL may return values that compare equal after normalisation (JSON numbers): merge.
    for key, values in raw.items():
        cell = (int(key[0]), tuple(_dim_value(v) for v in key[1:]))
        period.cells[cell] = values
    group_keys = {g for _, g in period.cells}
    for g in group_keys:
        period.groups[g] = []
    single_bucket = buckets.count == 1
    # Rolled-up values, then the parts that do not roll up.
    by_group: dict[Key, list[Values]] = defaultdict(list)
    for (_, g), values in period.cells.items():
        by_group[g].append(values)
    for g, rows in by_group.items():
        period.groups[g] = rollup(plan.parts, rows)
    period.total = rollup(plan.parts, period.cells.values())
    distinct = plan.distinct_parts
    if distinct and (not single_bucket or dims):
        if dims and not single_bucket:
            counter[0] += 1
            found = await _aggregate(conn, plan, distinct, where, dims, limits.max_cells)
            for key, values in found.items():
                g = tuple(_dim_value(v) for v in key)
                for i in distinct:
                    period.groups.setdefault(g, rollup(plan.parts, []))[i] = values[i]
        counter[0] += 1
        found = await _aggregate(conn, plan, distinct, where, [], limits.max_cells)
        for i in distinct:
            period.total[i] = found[()][i]
    if plan.percentile_parts:
        counter[0] += 1
        await _fill_percentiles(conn, plan, where, bucket_sql, dims, period, limits)
    return period


async def _fill_percentiles(conn: AsyncConnection, plan: MeasurePlan,
                            where: list[ColumnElement[bool]], bucket_sql: ColumnElement[Any],
                            dims: list[ColumnElement[Any]], period: _Period,
                            limits: Limits) -> None:
    from sqlalchemy import or_

    idx = plan.percentile_parts
    conds = [plan.parts[i].condition() for i in idx]
    stmt = (select(bucket_sql, *dims, *(plan.parts[i].value_sql() for i in idx))
            .where(and_(*where, or_(*conds))).limit(limits.max_percentile_rows + 1))
    rows = (await conn.execute(stmt)).all()
    if len(rows) > limits.max_percentile_rows:
        raise QueryTooLarge(f"A percentile over more than {limits.max_percentile_rows} events; "
                            "narrow the date range or add a filter")
    n = 1 + len(dims)
    cell_vals: dict[tuple[int, Key], list[list[float]]] = defaultdict(
        lambda: [[] for _ in idx])
    group_vals: dict[Key, list[list[float]]] = defaultdict(lambda: [[] for _ in idx])
    total_vals: list[list[float]] = [[] for _ in idx]
    for row in rows:
        g = tuple(_dim_value(v) for v in row[1:n])
        cell = (int(row[0]), g)
        for j in range(len(idx)):
            v = row[n + j]
            if v is not None:
                cell_vals[cell][j].append(v)
                group_vals[g][j].append(v)
                total_vals[j].append(v)
    empty = [None] * len(plan.parts)
    for cell, lists in cell_vals.items():
        values = period.cells.setdefault(cell, list(empty))
        for j, i in enumerate(idx):
            values[i] = percentile(lists[j], plan.parts[i].quantile)
    for g, lists in group_vals.items():
        values = period.groups.setdefault(g, rollup(plan.parts, []))
        for j, i in enumerate(idx):
            values[i] = percentile(lists[j], plan.parts[i].quantile)
    if not period.total:
        period.total = rollup(plan.parts, [])
    for j, i in enumerate(idx):
        period.total[i] = percentile(total_vals[j], plan.parts[i].quantile)


def _measure_values(plan: MeasurePlan, parts: Values) -> dict[str, float | None]:
    return {k: evaluate(plan.trees[k], parts) for k in plan.measures}


def _ranked_groups(query: EngineQuery, plan: MeasurePlan, periods: Sequence[_Period]
                   ) -> list[Key]:
    primary = periods[0]
    groups: dict[Key, None] = dict.fromkeys(primary.groups)
    for p in periods[1:]:
        groups.update(dict.fromkeys(p.groups))
    if not query.dimensions:
        return [()]
    order = query.order_by or plan.measures[0]
    empty = rollup(plan.parts, [])

    def rank(g: Key) -> tuple[int, float, tuple[str, ...]]:
        v = evaluate(plan.trees[order], primary.groups.get(g, empty))
        missing = 1 if v is None else 0
        score = 0.0 if v is None else (-v if query.descending else v)
        return (missing, score, tuple("" if x is None else x for x in g))

    ranked = sorted(groups, key=rank)
    return ranked if query.limit is None else ranked[: query.limit]


def _series(plan: MeasurePlan, period: _Period, groups: Sequence[Key]) -> list[Bucket]:
    empty = rollup(plan.parts, [])
    out = []
    for b in range(period.buckets.count):
        start, end = period.buckets.bounds(b)
        for g in groups:
            found = period.cells.get((b, g))
            parts = empty if found is None else [
                p.empty() if v is None else v for p, v in zip(plan.parts, found, strict=True)]
            out.append(Bucket(start, end, g, _measure_values(plan, parts)))
    return out


async def run_query(db: Database, query: EngineQuery, *, catalog: Catalog = CATALOG,
                    limits: Limits = Limits()) -> EngineResult:
    """Run `query`. Measures, dimensions and filter fields must be valid (the service
    validates them with field paths first); raises QueryTooLarge past `limits`."""
    plan = plan_measures(query.measures, catalog)
    counter = [0]
    async with db.engine.connect() as conn:
        periods = [await _run_period(conn, query, plan, query.range, limits, counter)]
        if query.compare_range is not None:
            periods.append(await _run_period(conn, query, plan, query.compare_range, limits,
                                             counter))
    groups = _ranked_groups(query, plan, periods)
    if len(groups) * periods[0].buckets.count > limits.max_cells:
        raise QueryTooLarge(f"The query has more than {limits.max_cells} buckets x groups")
    primary = periods[0]
    compare = periods[1] if len(periods) > 1 else None
    return EngineResult(
        primary=_series(plan, primary, groups),
        compare=[] if compare is None else _series(plan, compare, groups),
        totals=_measure_values(plan, primary.total or rollup(plan.parts, [])),
        compare_totals={} if compare is None else _measure_values(
            plan, compare.total or rollup(plan.parts, [])),
        group_totals={g: _measure_values(plan, primary.groups.get(g, rollup(plan.parts, [])))
                      for g in groups} if query.dimensions else {},
        statements=counter[0],
    )
