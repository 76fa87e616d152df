"""Calendar rules: granularities, date presets, local-day ranges, compare periods and alert
windows. The one home: the engine, the services (analytics, dashboards, widget data, alerts),
the GraphQL types and every REST surface import these; none keeps its own list or arithmetic.
A domain module: it imports nothing from the gateway, so every layer may import it.

Presets resolve on the local day `today` of the query's (or the pixel's) time zone at `now`:

    preset                  on 2026-11-20 (a Friday)   meaning
    today                   Nov 20 .. Nov 20           the local day so far
    yesterday               Nov 19 .. Nov 19
    last_N_days             Nov 13 .. Nov 19 (N = 7)   the N whole days before today
    this_week / _month /    Nov 16 .. Nov 20 (week)    the current ISO week (Monday), month,
      _quarter / _year                                 quarter or year, through today
    last_week / _month /    Nov 9 .. Nov 15 (week)     the whole previous one
      _quarter / _year
    month_to_date           Nov 1 .. Nov 20            = this_month
    year_to_date            Jan 1 .. Nov 20            = this_year

`last_N_days` excludes today so that a rolling window is N complete days and its compare
period (the N days before it) compares like with like; `this_*` and `*_to_date` include the
day in progress by their names.

Ranges are inclusive local days; `day_range` turns them into the half-open UTC instants they
cover (`[local midnight of first, local midnight after last)`, DST-correct). The compare
period of a range is `preceding_days`: as many local days, just before it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

__all__ = [
    "COHORT_GRANULARITIES",
    "DEFAULT_PRESET",
    "GRANULARITIES",
    "INTERVALS",
    "MAX_RANGE_DAYS",
    "PRESETS",
    "CohortGranularity",
    "Granularity",
    "day_range",
    "floor_day",
    "interval_window",
    "local_floor",
    "local_step",
    "overlaps",
    "preceding_days",
    "preset_days",
]


class Granularity(Enum):
    """Bucket size of a time series; `none` is one bucket per period."""

    NONE = "none"
    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class CohortGranularity(Enum):
    """The calendar period customers are grouped by in a cohort analysis."""

    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


GRANULARITIES: tuple[str, ...] = tuple(g.value for g in Granularity)
COHORT_GRANULARITIES: tuple[str, ...] = tuple(g.value for g in CohortGranularity)

_ROLLING_DAYS = (7, 14, 28, 30, 90, 365)
_CALENDAR_UNITS = ("week", "month", "quarter", "year")
# Aliases: widget names for the calendar period through today.
_TO_DATE = {"month_to_date": "month", "year_to_date": "year"}
PRESETS: tuple[str, ...] = (
    "today", "yesterday", *(f"last_{n}_days" for n in _ROLLING_DAYS),
    *(f"{which}_{unit}" for unit in _CALENDAR_UNITS for which in ("this", "last")),
    *_TO_DATE,
)
DEFAULT_PRESET = "last_30_days"  # a dashboard view without a date range of its own
MAX_RANGE_DAYS = 3660  # ten years, inclusive days from first to last

# Alert evaluation intervals (ClickStack's enum) -> seconds.
INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
                             "6h": 21600, "12h": 43200, "1d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_day(day: date, unit: str) -> date:
    """The first day of the calendar `unit` (day, week: ISO Monday, month, quarter, year)
    holding `day`. ValueError for another unit."""
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    if unit == "year":
        return day.replace(day=1, month=1)
    raise ValueError(unit)


def local_floor(local: datetime, granularity: str) -> datetime:
    """Naive local midnight starting the calendar period (day..year) holding `local`."""
    return datetime.combine(floor_day(local.date(), granularity), time())


def local_step(d: datetime, granularity: str) -> datetime:
    """The start of the next calendar period (day..year) after the one starting at `d`."""
    if granularity == "day":
        return d + timedelta(days=1)
    if granularity == "week":
        return d + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity]
    total = d.month - 1 + months
    return d.replace(year=d.year + total // 12, month=total % 12 + 1)


def preset_days(name: str, now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """Inclusive local (first, last) days of preset `name` at `now` in `zone` (the table in
    the module docstring). ValueError for a name not in PRESETS."""
    if name not in PRESETS:
        raise ValueError(name)
    today = now.astimezone(zone).date()
    if name == "today":
        return today, today
    if name == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    which, unit = name.split("_", 1)
    if which == "last" and unit.endswith("_days"):
        return today - timedelta(days=int(unit[:-5])), today - timedelta(days=1)
    unit = _TO_DATE.get(name, unit)
    this = floor_day(today, unit)
    if which == "last":
        return floor_day(this - timedelta(days=1), unit), this - timedelta(days=1)
    return this, today


def day_range(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight of `first`, local midnight after `last`) in `zone`, as aware UTC."""
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def preceding_days(first: date, last: date) -> tuple[date, date]:
    """The compare period of `first..last`: as many local days, ending the day before."""
    end = first - timedelta(days=1)
    return end - (last - first), end


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    """Whether two half-open instant ranges share an instant."""
    return a[0] < b[1] and b[0] < a[1]


def interval_window(interval: str, now: datetime) -> tuple[datetime, datetime]:
    """The last complete window of an alert `interval` at `now`: [start, end), `end` being
    `now` rounded down to the interval on the UTC epoch. KeyError for an unknown interval."""
    step = INTERVALS[interval]
    seconds = int((now - _EPOCH).total_seconds())
    end = _EPOCH + timedelta(seconds=seconds - seconds % step)
    return end - timedelta(seconds=step), end
