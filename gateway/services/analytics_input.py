"""Validation and parsing of analytics inputs, shared by the query, attribution and cohort
operations. Every problem is collected as a `FieldError` whose path uses the wire names
(`dateRange.start`, `filters.and.0.op`), which are also the GraphQL input names.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from gateway.catalog import CATALOG, Catalog
from gateway.engine import FIELDS, OPERATORS, And, Filter, Not, Or, Predicate, TimeRange
from gateway.engine.fields import find_field, validate_filter
from gateway.errors import FieldError, InvalidInput
from gateway.filters import filter_view
from gateway.limits import (
    MAX_NAME_LENGTH,
    MAX_TIMEZONE_LENGTH,
    date_problem,
    filter_problem,
    find_zone,
)
from gateway.periods import MAX_RANGE_DAYS, PRESETS, day_range, preceding_days, preset_days
from gateway.services.measures import suggest_measures

__all__ = ["DateRangeRequest", "Problems", "ResolvedRange", "parse_filter", "preceding",
           "resolve_dimension", "resolve_measures", "resolve_range", "resolve_timezone"]

Path = tuple[str | int, ...]


class Problems:
    """Collects field errors; `add` records one, `errors` lists them."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, message: str, *path: str | int) -> None:
        self.errors.append(FieldError(message, tuple(path)))

    def error(self) -> InvalidInput:
        """The InvalidInput to raise: the first message, every error as a detail. A value left
        None by a check always recorded an error, so callers raise this when either holds."""
        if not self.errors:
            return InvalidInput("Bad Request")
        return InvalidInput(self.errors[0].message, details=self.errors)

    def one_of(self, value: Any, options: Sequence[str], what: str, *path: str | int) -> None:
        """Record "unknown <what> <value>; use one of …" unless `value` is in `options`."""
        if value not in options:
            self.add(f"unknown {what} {value!r}; use one of {', '.join(options)}", *path)


def _named(name: Any) -> str | None:
    """`name` when it is a string short enough to look up, suggest for and echo back."""
    return name if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH else None


def _hint(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


@dataclass(frozen=True)
class DateRangeRequest:
    """Inclusive local dates `YYYY-MM-DD`, or a preset such as `last_30_days`."""

    start: str | None = None
    end: str | None = None
    preset: str | None = None


@dataclass(frozen=True)
class ResolvedRange:
    """Local inclusive dates and the UTC half-open range they cover."""

    start: date
    end: date
    range: TimeRange

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _to_range(start: date, end: date, tz: ZoneInfo) -> ResolvedRange:
    return ResolvedRange(start, end, TimeRange(*day_range(start, end, tz)))


def resolve_range(value: DateRangeRequest | None, tz: ZoneInfo, now: datetime,
                  problems: Problems, *path: str | int) -> ResolvedRange | None:
    """Dates or preset in the query's zone; problems recorded under `path`. What each
    preset means: `gateway.periods` (`preset_days`)."""
    if value is None:
        problems.add("dateRange is required", *path)
        return None
    if value.preset is not None:
        if value.preset not in PRESETS:
            name = _named(value.preset)
            shown = f"{name!r}{_hint(name, PRESETS)}" if name is not None else "name"
            problems.add(f"unknown preset {shown}; use one of {', '.join(PRESETS)}",
                         *path, "preset")
            return None
        return _to_range(*preset_days(value.preset, now, tz), tz)
    found: list[date] = []
    for key, text in (("start", value.start), ("end", value.end)):
        if text is None:
            problems.add(f"{key} is required (YYYY-MM-DD), or give a preset", *path, key)
            continue
        try:
            if not isinstance(text, str) or len(text) != 10:
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            problems.add(f"{str(text)[:40]!r} is not a date (YYYY-MM-DD)", *path, key)
            continue
        problem = date_problem(day)
        if problem is not None:
            problems.add(problem, *path, key)
            continue
        found.append(day)
    if len(found) != 2:
        return None
    if found[1] < found[0]:
        problems.add("end is before start", *path, "end")
        return None
    if (found[1] - found[0]).days > MAX_RANGE_DAYS:
        problems.add("the range may span at most ten years", *path, "end")
        return None
    return _to_range(found[0], found[1], tz)


def preceding(r: ResolvedRange, tz: ZoneInfo) -> ResolvedRange:
    """The compare period of `r` (`gateway.periods.preceding_days`)."""
    return _to_range(*preceding_days(r.start, r.end), tz)


def resolve_timezone(name: str, problems: Problems, *path: str | int) -> ZoneInfo | None:
    """The zone (`gateway.limits.find_zone`), or None with a problem and close names."""
    zone = find_zone(name)
    if zone is not None:
        return zone
    if not isinstance(name, str) or len(name) > MAX_TIMEZONE_LENGTH:
        problems.add(f"a time zone is an IANA name of at most {MAX_TIMEZONE_LENGTH} "
                     "characters", *path)
        return None
    hint = _hint(name, sorted(available_timezones()))
    problems.add(f"unknown IANA time zone {name!r}{hint}", *path)
    return None


def resolve_measures(names: Sequence[str], problems: Problems, *path: str | int,
                     catalog: Catalog = CATALOG, max_count: int = 30) -> tuple[str, ...]:
    """Catalog keys for `names` (a key or a title each); unknown ones recorded with hints.
    Past `max_count` names, none is looked at (each unknown one costs a suggestion)."""
    if not 1 <= len(names) <= max_count:
        problems.add(f"give 1 to {max_count} measures", *path)
        return ()
    keys: list[str] = []
    for i, name in enumerate(names):
        if isinstance(name, str) and _named(name) is None:
            problems.add(f"a measure name has at most {MAX_NAME_LENGTH} characters", *path, i)
            continue
        found = catalog.resolve(name) if isinstance(name, str) else None
        if found is None:
            hint = suggest_measures(str(name), catalog)
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            problems.add(f"unknown measure {name!r}{extra}", *path, i)
        else:
            keys.append(found.key)
    return tuple(dict.fromkeys(keys))


def resolve_dimension(name: Any, problems: Problems, *path: str | int) -> str | None:
    if isinstance(name, str) and _named(name) is None:
        problems.add(f"a dimension name has at most {MAX_NAME_LENGTH} characters", *path)
        return None
    spec = find_field(name) if isinstance(name, str) else None
    if spec is None or not spec.groupable:
        groupable = [f.name for f in FIELDS.values() if f.groupable]
        problems.add(f"unknown dimension {name!r}{_hint(str(name), groupable)}; use one of "
                     f"{', '.join(groupable)} or properties.<key>", *path)
        return None
    return str(name)


def parse_filter(obj: Any, problems: Problems, *path: str | int) -> Filter | None:
    """A filter as an engine filter tree: the one parse, whatever the surface. `obj` is
    canonical JSON (`{"and": [...]}`, `{"or": [...]}`, `{"not": {...}}`,
    `{"field", "op", "value"}`; a list means `and`; a dashboard view's stored filter) or a
    typed `FilterInput` tree (GraphQL, and the REST adapters' typed arguments), both read
    through `gateway.filters.filter_view`: `and` is taken before `or`, `or` before `not`.

    The bounds (`gateway.limits.filter_problem`: conditions, depth, values) are checked
    first, without recursion; only a tree within them is built, so building may recurse."""
    if obj is None:
        return None
    bound = filter_problem(obj, path)
    if bound is not None:
        problems.add(bound.message, *bound.path)
        return None
    tree = _tree(obj, problems, path)
    if tree is None:
        return None
    for where, found in validate_filter(tree, path):
        message = found
        if found.startswith("unknown field"):
            name = found.split("'")[1] if "'" in found else ""
            message += _hint(name, list(FIELDS)) + "; properties.<key> reaches custom properties"
        problems.add(message, *where)
    return tree


def _tree(obj: Any, problems: Problems, path: Path) -> Filter | None:
    obj = filter_view(obj)
    if isinstance(obj, list):
        obj = {"and": obj}
    if not isinstance(obj, dict):
        problems.add("a filter is an object: {field, op, value} or {and|or: [...]} or "
                     "{not: {...}}", *path)
        return None
    for combinator in ("and", "or"):
        if combinator in obj:
            items = obj[combinator]
            if not isinstance(items, list):
                problems.add(f"{combinator} takes a list of filters", *path, combinator)
                return None
            parts = [_tree(x, problems, (*path, combinator, i)) for i, x in enumerate(items)]
            if any(p is None for p in parts):
                return None
            done = tuple(p for p in parts if p is not None)
            return And(done) if combinator == "and" else Or(done)
    if "not" in obj:
        inner = _tree(obj["not"], problems, (*path, "not"))
        return None if inner is None else Not(inner)
    field, op = obj.get("field"), obj.get("op")
    if not isinstance(field, str) or not field:
        problems.add("field is required", *path, "field")
        return None
    if not isinstance(op, str) or op not in OPERATORS:
        problems.add(f"unknown operator {op!r}{_hint(str(op), OPERATORS)}; use one of "
                     f"{', '.join(OPERATORS)}", *path, "op")
        return None
    value = obj.get("value")
    return Predicate(field, op, tuple(value) if isinstance(value, list) else value)
