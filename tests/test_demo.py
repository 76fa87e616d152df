"""Demo data is stamped in the pixel's local days (issue #4's ad_spend rule, issue #5's
local buckets), so a dashboard shows each day's spend on that day."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from gateway.demo import generate_events, seed_demo
from tests.support import Harness


def test_ad_spend_is_at_local_midnight_and_traffic_within_local_days() -> None:
    tz = ZoneInfo("America/New_York")
    end = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # still Nov 19 in New York
    rows = list(generate_events("p", days=25, end=end, timezone="America/New_York",
                                sessions_per_day=20))
    spend_days = set()
    for row in rows:
        local = datetime.fromtimestamp(row["ts"] / 1000, tz)
        if row["name"] == "ad_spend":
            assert (local.hour, local.minute) == (0, 0), local
            spend_days.add(local.date().isoformat())
            assert row["event_id"].endswith(local.date().isoformat())
    # 25 local days ending the day before `end`'s local date, across the DST change on Nov 1.
    assert sorted(spend_days)[0] == "2026-10-25" and sorted(spend_days)[-1] == "2026-11-18"
    assert len(spend_days) == 25


@pytest.mark.postgres_only("statistics of PostgreSQL's planner (SQLite keeps none)")
async def test_seeding_refreshes_the_planner_statistics(harness: Harness) -> None:
    """Issue #16: after `gateway demo` nothing ran ANALYZE, and an attribution query then
    planned a nested loop on a 1-row estimate and ran for minutes. Seeding analyzes the
    events it wrote (reltuples is -1 until a table was first analyzed)."""
    db = harness.state.db
    result = await seed_demo(db, harness.state.settings, days=2, sessions_per_day=30,
                             now=harness.clock())
    async with db.engine.connect() as conn:
        estimated = (await conn.execute(text(
            "SELECT reltuples FROM pg_class WHERE relname = 'event'"))).scalar_one()
        stored = (await conn.execute(text("SELECT count(*) FROM event"))).scalar_one()
    assert result.events == stored > 100
    assert estimated == stored  # ANALYZE of a table this small reads every row
