"""Slow analytics statements from a few rows, for the time-limit and fairness tests (#12).

A `contains` filter is `lower(value) LIKE '%pattern%'`, and SQLite's LIKE backtracks: a
999-character pattern that almost matches ("a" x 998 + "b") against 4,000 "a"s costs it
millions of character comparisons, ~4 ms on the development machine. A filter may hold 100
such conditions (gateway/limits.py); SLOW_FILTER holds 20 (~80 ms a row: SQLite notices an
interrupt between rows, so a row's cost is how late a cancelled statement stops), and a few
dozen rows make a statement that runs for seconds: a hostile query any client can send,
which is what the time limit is for. No test-only switch in the app, no big data set.
"""

from __future__ import annotations

from typing import Any

from gateway.storage.events import insert_events
from tests.support import Harness

__all__ = ["ANALYTICS_GRAPHQL", "FAST_QUERY", "SLOW_FILTER", "SLOW_QUERY", "seed_slow_rows"]

_DAY = "2026-11-19"
_TS = 1_795_089_600_000  # 2026-11-19T12:00:00Z
_HAYSTACK = "a" * 4000
# The conditions differ: SQLite evaluates a repeated identical term once.
SLOW_FILTER: dict[str, Any] = {"or": [
    {"field": "properties.blob", "op": "contains", "value": "a" * (998 - i) + "b"}
    for i in range(20)]}

SLOW_QUERY: dict[str, Any] = {
    "measures": ["web.page_views"], "granularity": "none", "compare": False,
    "dateRange": {"start": _DAY, "end": _DAY}, "timezone": "UTC", "filters": SLOW_FILTER}
FAST_QUERY: dict[str, Any] = {
    "measures": ["web.page_views"], "granularity": "none", "compare": False,
    "dateRange": {"start": _DAY, "end": _DAY}, "timezone": "UTC"}
# GraphQL's `analytics` with the filter as a variable (`{"f": SLOW_FILTER}`; null: fast).
ANALYTICS_GRAPHQL = """query($f: FilterInput) { analytics(input: {measures: ["web.page_views"],
  granularity: NONE, compare: false, dateRange: {start: "2026-11-19", end: "2026-11-19"},
  timezone: "UTC", filters: $f}) { totals { measure value } } }"""


async def seed_slow_rows(h: Harness, pixel_id: str, rows: int = 60) -> None:
    """`rows` page views on 2026-11-19 whose `properties.blob` makes SLOW_FILTER slow."""
    events = [{"pixel_id": pixel_id, "name": "page_view", "event_id": f"slow-{i}",
               "anonymous_id": f"a{i}", "session_id": f"s{i}", "path": "/", "ts": _TS + i,
               "received_at": _TS + i, "properties": {"blob": _HAYSTACK}}
              for i in range(rows)]
    async with h.state.db.session() as s:
        await insert_events(s, events)
        await s.commit()
