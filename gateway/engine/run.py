"""`run_query`: one query, a fixed number of SQL statements whatever the number of measures.

Per period (primary, then compare), all run concurrently:

1. the main statement: one scan of the pixel's events in the range whose name is one the
   measures read, grouped by (bucket, dimensions), one conditional-aggregate column per part
   (split at a bucket boundary into `Limits.slices` statements that run side by side).
   Where the rollups give the same answer (gateway/engine/rollup_plan.py), the additive
   parts read one rollup statement (`rollup_main`) and the distinct counts another
   (`rollup_distinct`), and only the parts left over scan raw events;
2. when a distinct count is asked and the period has several buckets or groups: the same
   scan without grouping, for the period total (distinct counts do not add up), and, when a
   `limit` makes the group ranking decide what is returned, grouped by dimensions only
   (each from a rollup where one fits);
3. when a percentile is asked: one bounded fetch of the raw values, reduced in Python.

So a period issues at most `Limits.slices` + 4 statements (six by default: a rollup
statement, two raw slices, total, group totals, percentiles). The plan (every statement,
built before any runs) is a pure function of the query, cached per distinct query by the
database (`Database.plans`).

Without a limit, groups are ordered by their totals rolled up from buckets (for a distinct
count: the sum of bucket values) and `EngineResult.group_totals` is left empty when those
would be inexact.

Everything else (rolling buckets into group and period totals, formulas, empty buckets,
ranking and limiting groups) happens in Python on the aggregated rows.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from gateway.catalog import CATALOG, Catalog
from gateway.engine.buckets import BucketPlan, plan_buckets
from gateway.engine.fields import T, compile_filter, field_expression
from gateway.engine.measures import MeasurePlan, evaluate, percentile, plan_measures, rollup
from gateway.engine.query import Bucket, EngineQuery, EngineResult, TimeRange
from gateway.engine.rollup_plan import additive_rollup, aligned, distinct_rollup, rollup_statement
from gateway.errors import QueryTooLarge
from gateway.storage import Database
from gateway.storage.rollups import Rollup

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
    # The main scan is split at bucket boundaries into this many concurrent statements
    # (buckets never straddle a slice, so even distinct counts merge exactly).
    slices: int = 2
    # Read hourly rollups where they give the same answer (gateway/engine/rollup_plan.py);
    # False: always scan raw events (benchmarks and the rollup tests compare both).
    rollups: bool = True


@dataclass
class _Period:
    buckets: BucketPlan
    cells: dict[tuple[int, Key], Values] = field(default_factory=dict)
    groups: dict[Key, Values] = field(default_factory=dict)
    total: Values = field(default_factory=list)


def _base_where(query: EngineQuery, plan: MeasurePlan, span: TimeRange,
                start_ms: int | None = None, end_ms: int | None = None,
                parts: Sequence[int] | None = None) -> list[ColumnElement[bool]]:
    """Pixel, range (optionally a slice of it), the event names `parts` read (default: all
    parts) and the query's filter."""
    chosen = plan.parts if parts is None else [plan.parts[i] for i in parts]
    names = sorted({n for p in chosen for n in p.events})
    a = span.start_ms if start_ms is None else max(start_ms, span.start_ms)
    b = span.end_ms if end_ms is None else min(end_ms, span.end_ms)
    where = [T.pixel_id == query.pixel_id, T.ts >= a, T.ts < b,
             T.name.in_(names) if len(names) > 1 else T.name == names[0]]
    if query.filters is not None:
        where.append(compile_filter(query.filters))
    return where


def _too_many(max_rows: int) -> QueryTooLarge:
    return QueryTooLarge(f"The query has more than {max_rows} buckets x groups; narrow the "
                         "date range, use a coarser granularity, fewer dimensions or a filter")


def _aggregate_stmt(plan: MeasurePlan, parts: Sequence[int], where: list[ColumnElement[bool]],
                    keys: list[ColumnElement[Any]], max_rows: int) -> Select[Any]:
    """GROUP BY `keys` (by output label: PostgreSQL would not match repeated bound
    parameters in GROUP BY), one column per part."""
    labels = [k.label(f"g_{i}") for i, k in enumerate(keys)]
    cols = [plan.parts[i].sql().label(f"p_{i}") for i in parts]
    stmt = select(*labels, *cols).where(and_(*where))
    if labels:
        stmt = stmt.group_by(*(f"g_{i}" for i in range(len(labels)))).limit(max_rows + 1)
    return stmt


def _aligned(plan: MeasurePlan, parts: Sequence[int], rows: Sequence[Any], n: int,
             max_rows: int) -> dict[Key, Values]:
    """Rows of an aggregate statement keyed by their `n` key columns, values aligned with
    plan.parts (None where not asked)."""
    if len(rows) > max_rows:
        raise _too_many(max_rows)
    out: dict[Key, Values] = {}
    for row in rows:
        values: Values = [None] * len(plan.parts)
        for j, i in enumerate(parts):
            values[i] = plan.parts[i].settle(row[n + j])
        out[tuple(_dim_value(v) for v in row[:n])] = values
    return out


def _dim_value(v: Any) -> Any:
    if v is None or isinstance(v, str | int):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _group_key(key: Key) -> Key:
    return tuple(None if v is None else v if isinstance(v, str) else
                 ("true" if v is True else "false" if v is False else str(v)) for v in key)


@dataclass(frozen=True)
class _Statement:
    """One statement of a period. `parts`: the plan.parts indexes its value columns stand for,
    after its key columns (empty for the percentile fetch, which reads raw values);
    `rollup`: the rollup it reads (None: raw events)."""

    name: str
    sql: Select[Any]
    parts: tuple[int, ...]
    rollup: str | None = None


@dataclass(frozen=True)
class _PeriodPlan:
    """The statements of one period, built before any runs so all periods run together.
    Never mutated once built: plans are shared through the database's plan cache."""

    buckets: BucketPlan
    dimensions: int  # key columns after the bucket index
    statements: tuple[_Statement, ...]

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.statements)


@dataclass(frozen=True)
class _Planned:
    """A query's plan: its measures' parts, then one `_PeriodPlan` per period (primary, then
    compare)."""

    measures: MeasurePlan
    periods: tuple[_PeriodPlan, ...]


def _plan_buckets(query: EngineQuery, span: TimeRange, limits: Limits) -> BucketPlan:
    try:
        return plan_buckets(query.granularity, span, query.timezone, limits.max_buckets)
    except ValueError as exc:
        raise QueryTooLarge(f"{exc}; use a coarser granularity or a shorter range") from exc


def _rolled_up(name: str, query: EngineQuery, plan: MeasurePlan, span: TimeRange,
               parts: tuple[int, ...], found: Rollup | None, buckets: BucketPlan | None,
               grouping: Sequence[str], max_rows: int) -> _Statement | None:
    """The statement `name` over the rollup `found`; None when there is none (or no parts)."""
    if found is None or not parts:
        return None
    return _Statement(name, rollup_statement(query, plan, parts, found, span, buckets,
                                             grouping, max_rows), parts, found.id)


def _raw(name: str, query: EngineQuery, plan: MeasurePlan, span: TimeRange,
         parts: tuple[int, ...], keys: list[ColumnElement[Any]], max_rows: int) -> _Statement:
    """The statement `name` over raw events, the whole period, grouped by `keys`."""
    where = _base_where(query, plan, span, parts=parts)
    return _Statement(name, _aggregate_stmt(plan, parts, where, keys, max_rows), parts)


def _plan_period(query: EngineQuery, plan: MeasurePlan, span: TimeRange, limits: Limits,
                 rollups: bool) -> _PeriodPlan:
    """The statements of one period (see the module docstring); `rollups`: whether the
    rollups are current, so statements may read them where they answer the same."""
    buckets = _plan_buckets(query, span, limits)
    dims = [field_expression(d) for d in query.dimensions]
    distinct = tuple(plan.distinct_parts)
    additive = tuple(i for i in plan.sql_parts if i not in distinct)
    grouping, cells = query.dimensions, limits.max_cells
    fits_additive = fits_grouped = fits_total = None
    if rollups and aligned(buckets, span):
        distinct_defs = [plan.parts[i] for i in distinct]
        fits_additive = additive_rollup([plan.parts[i] for i in additive], query)
        fits_grouped = distinct_rollup(distinct_defs, query, grouping)
        fits_total = distinct_rollup(distinct_defs, query, ())
    main = _rolled_up("rollup_main", query, plan, span, additive, fits_additive, buckets,
                      grouping, cells)
    main_distinct = _rolled_up("rollup_distinct", query, plan, span, distinct, fits_grouped,
                               buckets, grouping, cells)
    statements = [s for s in (main, main_distinct) if s is not None]
    rolled = {i for s in statements for i in s.parts}
    raw = tuple(i for i in plan.sql_parts if i not in rolled)
    if raw:
        count = buckets.count
        k = max(1, min(limits.slices, count))
        cuts = [buckets.edges[round(i * count / k)] for i in range(k + 1)]
        keys = [buckets.sql_index(T.ts), *dims]
        for i in range(k):
            where = _base_where(query, plan, span, cuts[i], cuts[i + 1], parts=raw)
            statements.append(_Statement(f"main{i}",
                                         _aggregate_stmt(plan, raw, where, keys, cells), raw))
    if distinct and (buckets.count > 1 or dims):
        statements.append(
            _rolled_up("total", query, plan, span, distinct, fits_total, None, (), 1)
            or _raw("total", query, plan, span, distinct, [], 1))
        # Exact group totals of distinct counts cost one more scan: only when a limit makes
        # the ranking decide which groups are returned.
        if dims and buckets.count > 1 and query.limit is not None:
            statements.append(
                _rolled_up("groups", query, plan, span, distinct, fits_grouped, None,
                           grouping, cells)
                or _raw("groups", query, plan, span, distinct, dims, cells))
    if plan.percentile_parts:
        idx = plan.percentile_parts
        where = _base_where(query, plan, span, parts=idx)
        conds = [plan.parts[i].condition() for i in idx]
        fetch = (select(buckets.sql_index(T.ts), *dims,
                        *(plan.parts[i].value_sql() for i in idx))
                 .where(and_(*where, or_(*conds))).limit(limits.max_percentile_rows + 1))
        statements.append(_Statement("percentiles", fetch, ()))
    return _PeriodPlan(buckets, len(dims), tuple(statements))


def plan_query(query: EngineQuery, catalog: Catalog, limits: Limits, rollups: bool
               ) -> _Planned:
    """The statements of `query`, a pure function of its arguments (so it can be cached)."""
    plan = plan_measures(query.measures, catalog)
    spans = [query.range] + ([query.compare_range] if query.compare_range else [])
    return _Planned(plan, tuple(_plan_period(query, plan, span, limits, rollups)
                                for span in spans))


def _period(plan: MeasurePlan, p: _PeriodPlan, results: dict[str, Sequence[Any]],
            limits: Limits) -> _Period:
    period = _Period(p.buckets)
    n = 1 + p.dimensions
    for s in p.statements:
        if s.name in ("total", "groups", "percentiles"):
            continue
        parts = s.parts
        for key, values in _aligned(plan, parts, results[s.name], n, limits.max_cells).items():
            cell = (int(key[0]), _group_key(key[1:]))
            found = period.cells.get(cell)
            if found is None:
                period.cells[cell] = values
            else:
                for i in parts:
                    found[i] = values[i]
    by_group: dict[Key, list[Values]] = defaultdict(list)
    for (_, g), values in period.cells.items():
        by_group[g].append(values)
    for g, rows in by_group.items():
        period.groups[g] = rollup(plan.parts, rows)
    period.total = rollup(plan.parts, period.cells.values())
    distinct = plan.distinct_parts
    if "groups" in results:
        found_groups = _aligned(plan, distinct, results["groups"], p.dimensions,
                                limits.max_cells)
        for key, values in found_groups.items():
            g = _group_key(key)
            for i in distinct:
                period.groups.setdefault(g, rollup(plan.parts, []))[i] = (
                    plan.parts[i].empty() if values[i] is None else values[i])
    if "total" in results:
        [row] = results["total"]
        for j, i in enumerate(distinct):
            period.total[i] = plan.parts[i].empty() if row[j] is None else row[j]
    if "percentiles" in results:
        _fill_percentiles(plan, results["percentiles"], n, period, limits)
    return period


def _fill_percentiles(plan: MeasurePlan, rows: Sequence[Any], n: int, period: _Period,
                      limits: Limits) -> None:
    if len(rows) > limits.max_percentile_rows:
        raise QueryTooLarge(f"A percentile over more than {limits.max_percentile_rows} events; "
                            "narrow the date range or add a filter")
    idx = plan.percentile_parts
    cell_vals: dict[tuple[int, Key], list[list[float]]] = defaultdict(
        lambda: [[] for _ in idx])
    group_vals: dict[Key, list[list[float]]] = defaultdict(lambda: [[] for _ in idx])
    total_vals: list[list[float]] = [[] for _ in idx]
    for row in rows:
        g = _group_key(tuple(_dim_value(v) for v in row[1:n]))
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
    for j, i in enumerate(idx):
        period.total[i] = percentile(total_vals[j], plan.parts[i].quantile)


async def _fetch(db: Database, stmt: Select[Any]) -> Sequence[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


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

    def rank(g: Key) -> tuple[int, float, tuple[tuple[bool, str], ...]]:
        v = evaluate(plan.trees[order], primary.groups.get(g, empty))
        missing = 1 if v is None else 0
        score = 0.0 if v is None else (-v if query.descending else v)
        # Ties by group values, NULL before "" (never equal to it: the order of tied groups
        # must not depend on which statement, rollup or raw, returned them first).
        return (missing, score, tuple((x is not None, x or "") for x in g))

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


def _planned(db: Database, query: EngineQuery, catalog: Catalog, limits: Limits,
             rollups: bool) -> _Planned:
    """The plan of a query from the database's plan cache, built on a miss: building it is
    most of the engine's own time over rollups (~5 ms of SQLAlchemy expressions), and
    dashboards, widgets and alerts ask the same queries again. A query is hashable all the
    way down (filters are frozen trees of tuples), so every query can be cached."""
    key = (query, catalog, limits, rollups)
    found = db.plans.get(key)
    if isinstance(found, _Planned):
        return found
    made = plan_query(query, catalog, limits, rollups)
    db.plans.put(key, made)
    return made


async def run_query(db: Database, query: EngineQuery, *, catalog: Catalog = CATALOG,
                    limits: Limits = Limits()) -> EngineResult:
    """Run `query`. Measures, dimensions and filter fields must be valid (the service
    validates them with field paths first); raises QueryTooLarge past `limits`.

    The statements (see the module docstring: at most `Limits.slices` + 4 per period, six
    with the default two slices; five when none reads a rollup) run concurrently, each on
    its own pooled connection: SQLite runs each in its own thread, so a distinct-count total
    costs no extra wall time on a multi-core machine.
    """
    # Rollups only when they hold every stored event (a few missing ones are folded first).
    current = limits.rollups and await db.rollups_current()
    planned = _planned(db, query, catalog, limits, current)
    plan, plans = planned.measures, planned.periods
    jobs = [(i, st.name, st.sql) for i, p in enumerate(plans) for st in p.statements]
    fetched = await asyncio.gather(*(_fetch(db, stmt) for _, _, stmt in jobs))
    results: list[dict[str, Sequence[Any]]] = [{} for _ in plans]
    for (i, name, _), rows in zip(jobs, fetched, strict=True):
        results[i][name] = rows
    periods = [_period(plan, p, r, limits) for p, r in zip(plans, results, strict=True)]
    groups = _ranked_groups(query, plan, periods)
    if len(groups) * periods[0].buckets.count > limits.max_cells:
        raise _too_many(limits.max_cells)
    primary = periods[0]
    compare = periods[1] if len(periods) > 1 else None
    exact_groups = plans[0].has("groups") or not (
        plan.distinct_parts and primary.buckets.count > 1)
    return EngineResult(
        primary=_series(plan, primary, groups),
        compare=[] if compare is None else _series(plan, compare, groups),
        totals=_measure_values(plan, primary.total or rollup(plan.parts, [])),
        compare_totals={} if compare is None else _measure_values(
            plan, compare.total or rollup(plan.parts, [])),
        group_totals={g: _measure_values(plan, primary.groups.get(g, rollup(plan.parts, [])))
                      for g in groups} if query.dimensions and exact_groups else {},
        statements=len(jobs),
        rollups=tuple(sorted(f"{'compare.' if i else ''}{st.name}={st.rollup}"
                             for i, p in enumerate(plans) for st in p.statements
                             if st.rollup is not None)),
    )
