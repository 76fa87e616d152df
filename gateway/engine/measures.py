"""Measures to SQL: each query's measures become a set of *parts*, one aggregate column each.

A part is one `Aggregate` of the catalog (deduplicated: `core.revenue` and
`orders.total_revenue` share one column); `avg` becomes two parts (sum and count) so it rolls
up exactly; formulas contribute their leaves and are evaluated in Python per bucket and per
period from the parts, never from other buckets' ratios. Every part is a conditional aggregate
over the same scan: `SUM(CASE WHEN name = 'purchase' AND … THEN revenue END)`, so adding
measures adds columns, never statements.

Percentiles have no SQL form on SQLite: their parts are `PercentilePart`s, filled from one
bounded fetch of the raw values (see `engine.run`).

Money sums are exact on every backend and every path: a sum of a money column
(`MONEY_COLUMNS`) is kept to `MONEY_DECIMALS` places (`Part.settle`), where it comes out of
SQL and again where buckets combine into periods. A floating-point SUM depends on the order
the rows are added in, which differs between SQLite and PostgreSQL, between a raw scan and
the rollups, and between slices of one scan: `core.aov` differed in its last digit. Amounts
with at most that many decimals sum exactly (the error of a double sum stays far below half a
thousandth: 5e-6 for 10^6 two-decimal amounts summed in random orders, measured); a measure
computed from such sums (an AOV, a ROAS) is then the same float everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Float, and_, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from gateway.catalog import CATALOG, Aggregate, Catalog, Formula
from gateway.catalog.formula import BinaryOp, Constant, Neg, Node, Ref, parse_formula
from gateway.engine.fields import T, compile_predicate
from gateway.engine.query import Predicate

__all__ = ["MONEY_COLUMNS", "MONEY_DECIMALS", "MeasurePlan", "Part", "evaluate",
           "plan_measures"]

# Columns holding an amount of money, and the places their sums are kept to: a thousandth
# of the currency unit, the finest minor unit in use (the dinars: KWD, BHD, JOD, OMR, TND).
MONEY_COLUMNS = frozenset({"revenue", "spend"})
MONEY_DECIMALS = 3

_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Part:
    """One aggregate column. `fn` is count, sum, min, max, count_distinct or a percentile."""

    fn: str
    events: tuple[str, ...]
    column: str | None
    where: tuple[Predicate, ...]

    @property
    def rollup(self) -> str | None:
        """How bucket values combine into a period value; None when they cannot."""
        return {"count": "sum", "sum": "sum", "min": "min", "max": "max"}.get(self.fn)

    @property
    def is_percentile(self) -> bool:
        return self.fn in _PERCENTILES

    @property
    def quantile(self) -> float:
        return _PERCENTILES[self.fn]

    def condition(self, source: Any = None) -> ColumnElement[bool]:
        """Which events this part reads: name in events, every catalog condition.
        `source`: a rollup table's columns instead of the event table's."""
        c = T if source is None else source
        clauses: list[ColumnElement[bool]] = [
            c.name == self.events[0] if len(self.events) == 1 else c.name.in_(self.events)]
        clauses += [compile_predicate(p, source) for p in self.where]
        if source is None and self.column is not None and self.fn != "count":
            clauses.append(T[self.column].is_not(None))
        return and_(*clauses)

    @property
    def fields(self) -> set[str]:
        """The fields the catalog conditions read."""
        return {p.field for p in self.where}

    def rollup_sql(self, source: Any) -> ColumnElement[Any]:
        """The aggregate over an additive rollup (`event_rollup`): count, sum, min, max.
        A count is a SUM of stored counts, cast back to an integer: PostgreSQL's SUM of a
        BIGINT is NUMERIC (a Decimal), where a raw scan's COUNT is an integer."""
        cond = self.condition(source)
        if self.fn == "count":
            return cast(func.sum(case((cond, source.n if self.column is None
                                       else source[f"{self.column}_n"]))), BigInteger)
        if self.fn == "sum":
            return func.sum(case((cond, source[f"{self.column}_sum"])))
        agg = func.min if self.fn == "min" else func.max
        return agg(case((cond, source[f"{self.column}_{self.fn}"])))

    def distinct_rollup_sql(self, source: Any, first: ColumnElement[bool]) -> ColumnElement[Any]:
        """A distinct count over `event_rollup_distinct`: chains whose first hour in the
        bucket (`first`) is this row's."""
        return cast(func.sum(case((and_(self.condition(source), source.col == self.column,
                                        source.gap >= 0, first), source.n))), BigInteger)

    def sql(self) -> ColumnElement[Any]:
        """The aggregate column (not for percentiles)."""
        cond = self.condition()
        if self.fn == "count":
            target = literal(1) if self.column is None else T[self.column]
            return func.count(case((cond, target)))
        if self.fn == "count_distinct":
            return func.count(func.distinct(case((cond, T[self.column]))))
        value = case((cond, cast(T[self.column], Float)))
        if self.fn == "sum":
            return func.sum(value)
        return func.min(value) if self.fn == "min" else func.max(value)

    def value_sql(self) -> ColumnElement[Any]:
        """For percentiles: the raw value of a qualifying event, else NULL."""
        return case((self.condition(), cast(T[self.column], Float)))

    @property
    def is_money_sum(self) -> bool:
        return self.fn == "sum" and self.column in MONEY_COLUMNS

    def settle(self, value: float | None) -> float | None:
        """A value of this part as the engine keeps it: money sums to MONEY_DECIMALS places
        (the same float whatever order the database added the rows in), the rest as is."""
        if value is None or not self.is_money_sum:
            return value
        return round(float(value), MONEY_DECIMALS)

    def empty(self) -> float | None:
        """The value of a bucket with no qualifying events."""
        return 0 if self.fn in ("count", "sum", "count_distinct") else None


def _part(agg: Aggregate, fn: str | None = None) -> Part:
    where = tuple(Predicate(c.field, c.op, c.value) for c in agg.where)
    return Part(fn or agg.fn, agg.events, agg.column, where)


@dataclass(frozen=True)
class MeasurePlan:
    """The parts of a set of measures and how each measure is computed from them."""

    measures: tuple[str, ...]
    parts: tuple[Part, ...]
    # measure key -> a formula tree whose Refs name parts by index ("#3"), ready to evaluate.
    trees: dict[str, Node]

    @property
    def sql_parts(self) -> list[int]:
        return [i for i, p in enumerate(self.parts) if not p.is_percentile]

    @property
    def percentile_parts(self) -> list[int]:
        return [i for i, p in enumerate(self.parts) if p.is_percentile]

    @property
    def distinct_parts(self) -> list[int]:
        return [i for i, p in enumerate(self.parts) if p.fn == "count_distinct"]


def plan_measures(keys: Sequence[str], catalog: Catalog = CATALOG) -> MeasurePlan:
    """Expand measures into parts; raises KeyError for an unknown key (validate first)."""
    parts: dict[Part, int] = {}

    def part_ref(p: Part) -> Ref:
        return Ref(f"#{parts.setdefault(p, len(parts))}")

    def tree_of(key: str, seen: tuple[str, ...] = ()) -> Node:
        if key in seen:
            raise ValueError(f"formula cycle through {key}")
        d = catalog.find(key)
        if d is None:
            raise KeyError(key)
        definition = d.definition
        if isinstance(definition, Formula):
            return _substitute(parse_formula(definition.expression),
                               lambda k: tree_of(k, (*seen, key)))
        if definition.fn == "avg":
            return BinaryOp("/", part_ref(_part(definition, "sum")),
                            part_ref(_part(definition, "count")))
        return part_ref(_part(definition))

    trees = {k: tree_of(k) for k in dict.fromkeys(keys)}
    ordered = sorted(parts, key=parts.__getitem__)
    return MeasurePlan(tuple(dict.fromkeys(keys)), tuple(ordered), trees)


def _substitute(node: Node, resolve: Callable[[str], Node]) -> Node:
    if isinstance(node, Ref):
        return resolve(node.key)
    if isinstance(node, Neg):
        return Neg(_substitute(node.operand, resolve))
    if isinstance(node, BinaryOp):
        return BinaryOp(node.op, _substitute(node.left, resolve), _substitute(node.right, resolve))
    return node


def evaluate(node: Node, values: Sequence[float | None]) -> float | None:
    """A measure's value from part values; None propagates and x / 0 is None."""
    if isinstance(node, Ref):
        return values[int(node.key[1:])]
    if isinstance(node, Constant):
        return node.value
    if isinstance(node, Neg):
        v = evaluate(node.operand, values)
        return None if v is None else -v
    left, right = evaluate(node.left, values), evaluate(node.right, values)
    if left is None or right is None:
        return None
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    return None if right == 0 else left / right


def rollup(parts: Sequence[Part], rows: Iterable[Sequence[float | None]]
           ) -> list[float | None]:
    """Combine bucket part values into period values (for parts that roll up)."""
    out: list[float | None] = [None] * len(parts)
    for row in rows:
        for i, p in enumerate(parts):
            v = row[i]
            if v is None:
                continue
            cur = out[i]
            how = p.rollup
            if cur is None:
                out[i] = v
            elif how == "sum":
                out[i] = cur + v
            elif how == "min":
                out[i] = min(cur, v)
            elif how == "max":
                out[i] = max(cur, v)
            elif p.fn == "count_distinct":  # an upper bound; exact totals replace it
                out[i] = cur + v
    return [p.empty() if v is None else p.settle(v) for p, v in zip(parts, out, strict=True)]


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    values.sort()
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)
