"""Time buckets: local, DST-correct boundaries computed in Python, mapped to SQL cheaply.

Boundaries are computed with `zoneinfo` as UTC instants (epoch ms). SQL then maps an event's
`ts` to a bucket index without any time-zone support from the database:

- second/minute/hour: fixed-length steps from the first local boundary, `(ts - e0) / unit`
  (integer division). These are local hours in every zone whose offsets are whole hours; in
  a fall-back night the repeated local hour is two buckets, as it should be.
- day/week: the local time is `ts + offset(ts)`, where `offset` is piecewise constant with
  a handful of DST transitions in the range, so `(ts + offset(ts) - local_e0) / unit` with a
  tiny CASE over the transitions (none in UTC or zones without DST).
- month/quarter/year: a CASE over the (few) boundaries.
- none: one bucket, the whole range.

Measured on 1M events (benchmarks/query.py, decisions.md): the arithmetic forms cost the same
as grouping by a precomputed column; a 30-way CASE over day boundaries is ~1.6x slower.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, case, literal
from sqlalchemy.sql.elements import ColumnElement

from gateway.engine.query import TimeRange
from gateway.periods import local_floor, local_step

__all__ = ["BucketPlan", "plan_buckets", "transitions"]

_FIXED_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}
_DAY_MS = 86_400_000


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _offset_ms(tz: ZoneInfo, ms: int) -> int:
    off = _from_ms(ms).astimezone(tz).utcoffset()
    if off is None:  # never for a ZoneInfo; the check narrows the type
        raise ValueError(f"{tz} gives no UTC offset")
    return int(off.total_seconds() * 1000)


@functools.lru_cache(maxsize=512)
def transitions(tz: ZoneInfo, start_ms: int, end_ms: int) -> tuple[tuple[int, int], ...]:
    """(instant, new offset) for each offset change in [start, end), found by bisection to
    the millisecond; cached (a query asks several times, dashboards ask the same ranges)."""
    found: list[tuple[int, int]] = []
    step = 6 * 3_600_000  # no zone changes offset twice within 6 hours
    lo, lo_off = start_ms, _offset_ms(tz, start_ms)
    while lo < end_ms:
        hi = min(lo + step, end_ms)
        hi_off = _offset_ms(tz, hi)
        if hi_off != lo_off:
            a, b = lo, hi  # offset(a) == lo_off, offset(b) != lo_off
            while b - a > 1:  # to the millisecond: `ts >= b` is then exactly the change
                mid = (a + b) // 2
                if _offset_ms(tz, mid) == lo_off:
                    a = mid
                else:
                    b = mid
            found.append((b, _offset_ms(tz, b)))
        lo, lo_off = hi, hi_off
    return tuple(found)


@dataclass(frozen=True)
class BucketPlan:
    """Boundaries `edges` (epoch ms, len = buckets + 1) and how SQL finds an event's bucket."""

    granularity: str
    edges: tuple[int, ...]
    timezone: str
    # day/week: the first boundary's local wall time read as if it were UTC (epoch ms).
    local_origin: int = 0

    @property
    def count(self) -> int:
        return len(self.edges) - 1

    def bounds(self, index: int) -> tuple[datetime, datetime]:
        return _from_ms(self.edges[index]), _from_ms(self.edges[index + 1])

    def index_of(self, ts: int) -> int | None:
        """The bucket of `ts` in Python (for fetched rows); None outside the range."""
        import bisect

        if not self.edges[0] <= ts < self.edges[-1]:
            return None
        return bisect.bisect_right(self.edges, ts) - 1

    def sql_index(self, ts: ColumnElement[Any]) -> ColumnElement[Any]:
        """SQL expression: the bucket index of an event (rows are already range-filtered)."""
        g, e0 = self.granularity, self.edges[0]
        if self.count == 1:
            return literal(0, BigInteger)
        if g in _FIXED_MS:
            return (ts - literal(e0, BigInteger)) // literal(_FIXED_MS[g], BigInteger)
        if g in ("day", "week"):
            tz = ZoneInfo(self.timezone)
            unit = _DAY_MS * (7 if g == "week" else 1)
            off0 = _offset_ms(tz, e0)
            changes = transitions(tz, e0, self.edges[-1])
            if not changes:
                return (ts + literal(off0 - self.local_origin, BigInteger)) // literal(
                    unit, BigInteger)
            # Local time minus the local origin, the offset picked by a CASE over the
            # transitions, newest first.
            whens = [(ts >= literal(at, BigInteger),
                      literal(off - self.local_origin, BigInteger))
                     for at, off in reversed(changes)]
            shift = case(*whens, else_=literal(off0 - self.local_origin, BigInteger))
            return (ts + shift) // literal(unit, BigInteger)
        whens = [(ts < literal(edge, BigInteger), literal(i, BigInteger))
                 for i, edge in enumerate(self.edges[1:-1])]
        return case(*whens, else_=literal(self.count - 1, BigInteger))


def plan_buckets(granularity: str, span: TimeRange, timezone: str, max_buckets: int
                 ) -> BucketPlan:
    """Buckets covering `span`: whole local periods from the one containing `span.start` to
    the one containing the last instant before `span.end`.

    The first and last buckets may extend beyond the span (a week starting mid-week); events
    are still filtered to the span, so they count only what the span covers.
    Raises ValueError past `max_buckets`.
    """
    start, end = span.start_ms, span.end_ms
    if granularity == "none":
        return BucketPlan(granularity, (start, end), timezone)
    tz = ZoneInfo(timezone)
    if granularity in _FIXED_MS:
        unit = _FIXED_MS[granularity]
        count = -(-(end - start) // unit)
        if count > max_buckets:
            raise ValueError(f"{count} {granularity} buckets exceed the limit of {max_buckets}")
        off = _offset_ms(tz, start)
        first = (start + off) // unit * unit - off
        edges = list(range(first, end, unit))
        edges.append(edges[-1] + unit)
        return BucketPlan(granularity, tuple(edges), timezone)
    local = local_floor(span.start.astimezone(tz), granularity)
    edges_l: list[int] = []
    while True:
        at = _ms(local.replace(tzinfo=tz))
        if edges_l and at >= end:
            edges_l.append(at)
            break
        edges_l.append(at)
        if len(edges_l) > max_buckets + 1:
            raise ValueError(f"more than {max_buckets} {granularity} buckets")
        local = local_step(local, granularity)
    origin = int(local_floor(span.start.astimezone(tz), granularity)
                 .replace(tzinfo=UTC).timestamp() * 1000)
    return BucketPlan(granularity, tuple(edges_l), timezone, origin)
