"""Bounds on client input: the one table, and the checks that apply it.

Every layer checks the same numbers: the REST adapters (before turning a body into GraphQL
inputs), the GraphQL layer (variables, before graphql-core coerces them) and the services (the
authority, whatever the surface). A bound changes here or nowhere. Each check is linear in its
input, never recurses, and stops at the first bound crossed, so refusing a hostile input costs
less than serving a legitimate one. A crossed bound is an `InvalidInput` (400) whose field
error names the bound and the path of the part that crossed it.

    bound                    value                  why
    MAX_FILTER_CONDITIONS    100 per filter         SQLite refuses expression trees deeper than
                                                    1,000 and each condition compiles to 2-3
                                                    terms; empty and/or groups count as one
    MAX_FILTER_DEPTH         10 levels              nested and/or/not (a REST list is an `and`)
    MAX_FILTER_LIST          1,000 values           one in/not_in list
    MAX_FILTER_VALUES        5,000 values           a whole filter: SQL parameters (SQLite's
                                                    default limit is 32,766 per statement)
    MAX_FILTER_STRING        1,000 characters       a filter's field, op or string value
    INT64_MIN..INT64_MAX     -2^63..2^63-1          integers a filter compares (SQLite INTEGER,
                                                    PostgreSQL bigint); floats must be finite
    MAX_TIMEZONE_LENGTH      64 characters          the longest IANA name has 32
    MAX_NAME_LENGTH          200 characters         a measure, dimension or preset name: the
                                                    suggestions for a misspelt one (difflib)
                                                    cost time in its length
    MIN_DATE..MAX_DATE       2000-01-01..2100-12-31 query and dashboard dates (see below)
    MAX_OFFSET               10^9 rows              a page's offset
    MAX_PAGE_SIZE            1,000 rows             alerts and webhooks pages
    MAX_AUDIT_PAGE           500 entries            audit-log pages

Dates: events are stored from 2000-01-01 on (ingestion refuses earlier timestamps) and at most
a day ahead of receipt, so a range outside 2000..2100 can only answer zeros; inside it every
derived instant (the compare period of a ten-year range, an attribution window, a week or
quarter floor, any zone offset) stays far from `datetime`'s years 1 and 9999, where arithmetic
raises OverflowError.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import FieldError, InvalidInput
from gateway.filters import filter_view

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_AUDIT_PAGE",
    "MAX_DATE",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LIST",
    "MAX_FILTER_STRING",
    "MAX_FILTER_VALUES",
    "MAX_NAME_LENGTH",
    "MAX_OFFSET",
    "MAX_PAGE_SIZE",
    "MAX_TIMEZONE_LENGTH",
    "MIN_DATE",
    "as_utc",
    "check_page",
    "date_problem",
    "filter_problem",
    "find_zone",
    "parse_int",
]

MAX_FILTER_CONDITIONS = 100
MAX_FILTER_DEPTH = 10
MAX_FILTER_LIST = 1000
MAX_FILTER_VALUES = 5000
MAX_FILTER_STRING = 1000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_TIMEZONE_LENGTH = 64
MAX_NAME_LENGTH = 200
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)
MAX_OFFSET = 10**9
MAX_PAGE_SIZE = 1000
MAX_AUDIT_PAGE = 500

Path = tuple[str | int, ...]

# IANA spellings only: letters, digits, `_`, `+`, `-` in `/`-separated parts. No dots, no
# leading slash, no NUL: ZoneInfo would otherwise open arbitrary paths under its TZPATH.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
# ASCII digits only: `str.isdigit` and `int()` accept '²' and other Unicode digits.
_INTEGER = re.compile(r"-?[0-9]+")


# Filters ------------------------------------------------------------------------------------

def _group(node: Any) -> tuple[list[Any], Path, bool] | None:
    """A group's children, the path prefix they hang under and whether they are indexed;
    None for a condition (or anything that is not a well-formed group: the parser says why).
    Precedence is the parser's: `and`, then `or`, then `not`; a list is an `and`."""
    if isinstance(node, list):
        return node, (), True
    if isinstance(node, dict):
        for key in ("and", "or"):
            if key in node:
                items = node[key]
                return (items, (key,), True) if isinstance(items, list) else None
        if "not" in node:
            return [node["not"]], ("not",), False
    return None


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return f"integers in filters must be between {INT64_MIN} and {INT64_MAX} (64 bits)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers in filters must be finite"
    if isinstance(value, str):
        if len(value) > MAX_FILTER_STRING:
            return f"strings in filters may have at most {MAX_FILTER_STRING} characters"
        return None
    return "a filter value is a string, a number or a boolean (a list of them for in/not_in)"


def _condition_problem(node: Any, where: Path) -> tuple[FieldError | None, int]:
    """One condition's first problem, or None and the number of values it compares."""
    if not isinstance(node, dict):
        return None, 0
    for name in ("field", "op", "operator"):
        text = node.get(name)
        if isinstance(text, str) and len(text) > MAX_FILTER_STRING:
            return FieldError(f"strings in filters may have at most {MAX_FILTER_STRING} "
                              "characters", (*where, name)), 0
    value = node.get("value")
    if not isinstance(value, list):
        problem = _scalar_problem(value)
        return (None, 1) if problem is None else (FieldError(problem, (*where, "value")), 0)
    if len(value) > MAX_FILTER_LIST:
        return FieldError(f"an in/not_in list may have at most {MAX_FILTER_LIST} values",
                          (*where, "value")), 0
    for i, item in enumerate(value):
        problem = ("list values are strings, numbers or booleans"
                   if isinstance(item, list | dict) else _scalar_problem(item))
        if problem is not None:
            return FieldError(problem, (*where, "value", i)), 0
    return None, len(value)


def filter_problem(raw: Any, path: Path = ("filters",)) -> FieldError | None:
    """The first bound a filter tree crosses, or None when it is within every bound. The
    tree is canonical JSON or typed nodes (`FilterInput`), read through
    `gateway.filters.filter_view`.

    Walks the tree once with an explicit stack (no recursion, whatever the nesting) and stops
    at the first crossing: a group is refused before its children are visited when its width
    alone takes the tree past MAX_FILTER_CONDITIONS, so a 40,000-wide `and` costs nothing.
    Shapes the parser refuses (a number where a filter belongs, `and` of a non-list) count as
    one condition and are left to the parser to explain.
    """
    stack: list[tuple[Any, Path, int]] = [(raw, tuple(path), 0)]
    # Every node on the stack becomes at least one condition (an empty group counts as one),
    # so conditions seen + nodes pending is a lower bound on the final count.
    reserved = 1
    values = 0
    while stack:
        node, where, depth = stack.pop()
        node = filter_view(node)
        group = _group(node)
        if group is not None and group[0]:
            items, prefix, indexed = group
            if depth + 1 > MAX_FILTER_DEPTH:
                return FieldError(f"filters may nest at most {MAX_FILTER_DEPTH} levels of "
                                  "and/or/not", where)
            reserved += len(items) - 1
            if reserved > MAX_FILTER_CONDITIONS:
                return FieldError(f"a filter may have at most {MAX_FILTER_CONDITIONS} "
                                  "conditions", (*where, *prefix))
            base = (*where, *prefix)
            stack.extend((items[i], (*base, i) if indexed else base, depth + 1)
                         for i in reversed(range(len(items))))
            continue
        problem, count = _condition_problem(node, where)
        if problem is not None:
            return problem
        values += count
        if values > MAX_FILTER_VALUES:
            return FieldError(f"a filter may compare at most {MAX_FILTER_VALUES} values in "
                              "all", (*where, "value"))
    return None


# Time zones and dates -----------------------------------------------------------------------

def find_zone(name: Any) -> ZoneInfo | None:
    """The IANA zone `name`, or None when it is not one (too long, not an IANA spelling, not
    a zone file). Never raises: ZoneInfo's own errors (OSError for a 300-character name,
    ValueError for a file that is not TZif) all mean "unknown zone"."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_TIMEZONE_LENGTH:
        return None
    if not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        return None


def date_problem(day: date) -> str | None:
    """Why `day` is outside the dates a query or dashboard may name; None when inside."""
    if MIN_DATE <= day <= MAX_DATE:
        return None
    return f"dates must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"


def as_utc(value: datetime, *path: str | int) -> datetime:
    """`value` in UTC (naive means UTC). InvalidInput at `path` when its offset takes it past
    the years datetime can hold (`9999-12-31T23:59:59-23:59`)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput.field("date-time out of range (years 1 to 9999 in UTC)",
                                 *path) from exc


# Integers and pages -------------------------------------------------------------------------

def parse_int(text: str, name: str, *, low: int, high: int) -> int:
    """`text` as an integer in [low, high]: ASCII digits with an optional '-', nothing else.
    InvalidInput at `name` otherwise (never ValueError or OverflowError)."""
    if not _INTEGER.fullmatch(text):
        raise InvalidInput.field("must be an integer", name)
    digits = text.lstrip("-").lstrip("0")
    if len(digits) > len(str(max(abs(low), abs(high)))):  # past any bound: skip int()
        raise InvalidInput.field(f"must be between {low} and {high}", name)
    value = int(text)
    if not low <= value <= high:
        raise InvalidInput.field(f"must be between {low} and {high}", name)
    return value


def check_page(limit: int, offset: int, *, max_limit: int = MAX_PAGE_SIZE,
               names: tuple[str, str] = ("limit", "offset")) -> None:
    """Refuse a page outside 1..max_limit rows or an offset outside 0..MAX_OFFSET."""
    if not 1 <= limit <= max_limit:
        raise InvalidInput.field(f"{names[0]} must be between 1 and {max_limit}", names[0])
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput.field(f"{names[1]} must be between 0 and {MAX_OFFSET}", names[1])
