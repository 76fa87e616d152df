"""Widget data: each dashboard widget's series, computed by the query engine in batches.

`widget_series` checks the caller and hands one key to the request's widget-data loader;
the loader calls `compute_series` once per tick with every key asked for, which groups them
by (pixel, date range, granularity) and runs ONE engine query per group with all of that
group's measures merged. The engine's statement count does not grow with the number of
measures, so a page of 20 views x 30 widgets costs one pixel look-up plus one engine call per
distinct group, not one per widget.

Reading a widget's data is part of reading the dashboard: `dashboards:read` suffices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from gateway.auth.policy import require_pixel, require_scope
from gateway.auth.principal import Principal
from gateway.cost import CostLedger, analytics_cost
from gateway.engine import EngineQuery, Filter, TimeRange, run_query
from gateway.errors import GatewayError, InvalidInput, NotFound
from gateway.limits import date_problem
from gateway.periods import GRANULARITIES, MAX_RANGE_DAYS, day_range, preset_days
from gateway.services.analytics_input import Problems, parse_filter
from gateway.storage import Database
from gateway.storage.tenancy import find_pixels

if TYPE_CHECKING:
    from strawberry.dataloader import DataLoader

__all__ = ["Series", "SeriesKey", "compute_series", "widget_series"]


@dataclass(frozen=True)
class SeriesKey:
    """One widget's request. `range_spec` is ("dates", first, last) with ISO days, or
    ("preset", name); `now` resolves presets in the pixel's time zone; `filters` is the
    view's canonical filter as sorted JSON ("" for none), validated when the view was saved."""

    pixel_id: str
    range_spec: tuple[str, ...]
    granularity: str
    now: datetime
    measure: str
    filters: str = ""

    @property
    def group(self) -> tuple[str, tuple[str, ...], str, str, datetime]:
        return (self.pixel_id, self.range_spec, self.granularity, self.filters, self.now)


@dataclass(frozen=True)
class Point:
    start: datetime
    end: datetime
    value: float | None


@dataclass(frozen=True)
class Series:
    measure: str
    granularity: str
    start: datetime
    end: datetime
    total: float | None
    points: list[Point]


async def widget_series(loader: DataLoader[SeriesKey, Series], principal: Principal | None, *,
                        pixel_id: str, measure: str, range_spec: tuple[str, ...],
                        granularity: str, now: datetime,
                        filters: Mapping[str, Any] | None = None) -> Series:
    """A widget's series (dashboards:read). Raises InvalidInput for a bad range or
    granularity and NotFound for another pixel's widget."""
    if require_pixel(require_scope(principal, "dashboards:read")) != pixel_id:
        raise NotFound("Dashboard view not found")
    if granularity not in GRANULARITIES:
        raise InvalidInput.field(f"granularity must be one of {', '.join(GRANULARITIES)}",
                                 "granularity")
    if range_spec[0] == "dates":
        first, last = date.fromisoformat(range_spec[1]), date.fromisoformat(range_spec[2])
        for name, day in (("start", first), ("end", last)):
            if (problem := date_problem(day)) is not None:
                raise InvalidInput.field(problem, "dateRange", name)
        if first > last:
            raise InvalidInput.field("start must not be after end", "dateRange", "start")
        if (last - first).days > MAX_RANGE_DAYS:
            raise InvalidInput.field(f"a range spans at most {MAX_RANGE_DAYS} days",
                                     "dateRange")
    canonical = orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode() if filters else ""
    return await loader.load(SeriesKey(pixel_id, range_spec, granularity, now, measure,
                                       canonical))


def _filter(canonical: str) -> Filter | None:
    """The view's stored filter; InvalidInput when it no longer passes (a bound tightened
    since it was saved) rather than silently computing the unfiltered series."""
    if not canonical:
        return None
    problems = Problems()
    found = parse_filter(orjson.loads(canonical), problems, "filters")
    if problems.errors:
        raise problems.error()
    return found


def _days(spec: tuple[str, ...], now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """A range spec's inclusive local days; a preset means what it means everywhere."""
    if spec[0] == "dates":
        return date.fromisoformat(spec[1]), date.fromisoformat(spec[2])
    return preset_days(spec[1], now, zone)


async def compute_series(db: Database, principal: Principal | None, keys: Sequence[SeriesKey],
                         *, cost: CostLedger | None = None) -> list[Series | GatewayError]:
    """Every key's series, with one engine call per (pixel, range, granularity) group (the
    request's batching loader; dashboards:read), each admitted to `cost` first. A key of
    another pixel answers NotFound, a group whose stored filter no longer passes its
    InvalidInput, and a group past the request's cost budget QueryTooCostly, for their own
    keys only (the loader raises it for those), not for the whole batch."""
    own = require_pixel(require_scope(principal, "dashboards:read"))
    foreign = [k for k in keys if k.pixel_id != own]
    groups: dict[tuple[str, tuple[str, ...], str, str, datetime], list[str]] = {}
    for key in keys:
        if key.pixel_id != own:
            continue
        measures = groups.setdefault(key.group, [])
        if key.measure not in measures:
            measures.append(key.measure)
    async with db.session() as session:
        pixels = await find_pixels(session, [own])
    computed: dict[tuple[Any, ...], Series | GatewayError] = {
        (*k.group, k.measure): NotFound("Dashboard view not found") for k in foreign}
    for (pixel_id, spec, granularity, filters, now), measures in groups.items():
        timezone = pixels[pixel_id].timezone if pixel_id in pixels else "UTC"
        zone = ZoneInfo(timezone)
        days = _days(spec, now, zone)
        start, end = day_range(*days, zone)
        try:
            tree = _filter(filters)
            if cost is not None:
                await cost.admit(analytics_cost(measures=measures, granularity=granularity,
                                                ranges=[days], zone=zone,
                                                rollups=db.is_sqlite).ms)
        except InvalidInput as exc:
            for m in measures:
                computed[(pixel_id, spec, granularity, filters, now, m)] = exc
            continue
        result = await run_query(db, EngineQuery(
            pixel_id=pixel_id, measures=tuple(measures), range=TimeRange(start, end),
            granularity=granularity, timezone=timezone, filters=tree))
        for m in measures:
            points = [Point(b.start, b.end, b.values.get(m)) for b in result.primary]
            computed[(pixel_id, spec, granularity, filters, now, m)] = Series(
                measure=m, granularity=granularity, start=start, end=end,
                total=result.totals.get(m), points=points)
    return [computed[(*k.group, k.measure)] for k in keys]
