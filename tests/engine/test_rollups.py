"""Rollups (gateway/storage/rollups.py, gateway/engine/rollup_plan.py) against raw scans.

Every query here runs twice on the same real SQLite database: with default limits (rollups
where the planner proves them equal) and with `Limits(rollups=False)` (raw events only); the
answers must be the same. Also: folding in small, out-of-order steps gives the same tables as
folding everything at once; a query sees an acknowledged event at once; the Python and SQL
channel rules agree; every stored rollup field is a groupable engine field.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from gateway.catalog import CATALOG, Aggregate, Catalog, Condition, Formula, MeasureDefinition
from gateway.channels import PAID_SEARCH, PAID_SOCIAL, SOCIAL, channel_of
from gateway.engine import And, EngineQuery, Limits, Not, Or, Predicate, TimeRange, run_query
from gateway.engine.fields import FIELDS
from gateway.engine.query import EngineResult, Filter
from gateway.services import tenancy
from gateway.storage import Database
from gateway.storage.events import insert_events
from gateway.storage.rollups import DIMENSIONS, HOUR_MS, NUMERIC
from tests.support import Harness
from tests.support_events import page_view, post_events, purchase

DAY_MS = 86_400_000
# Data from Oct 1 to Nov 16, 2026: the EU fall-back night (Oct 25) and the US one (Nov 1).
DATA_START = datetime(2026, 10, 1, tzinfo=UTC)
DATA_DAYS = 46
RAW = Limits(rollups=False)

SOURCES = [None, "google", "facebook", "instagram", "tiktok", "newsletter", "bing", ""]
MEDIUMS = [None, *PAID_SEARCH[:2], *PAID_SOCIAL[:2], "email", "organic", *SOCIAL, "referral",
           "affiliate"]
CAMPAIGNS = [None, "spring", "brand", "retarget"]
COUNTRIES = [None, "US", "DE", "FR", "IN"]
DEVICES = [None, "mobile", "desktop", "tablet"]
REFERRERS = [None, "https://news.example/a", "https://search.example/?q=tee"]
PATHS = [None, "/", "/products/Tee", "/cart", "/checkout"]


# --- events --------------------------------------------------------------------------------

def make_events(pixel_id: str, *, seed: int, sessions: int = 450) -> list[dict[str, Any]]:
    """Sessions of 1-9 events spread over minutes to hours (many straddle an hour or a local
    midnight), visitors and customers that come back under other utm/country values, events
    exactly on hour boundaries, NULL dimension values, new_customer True/False/None, ad spend
    rows; returned shuffled (ids will not follow time: late and out-of-order events)."""
    rng = random.Random(seed)
    lo = int(DATA_START.timestamp() * 1000)
    span = DATA_DAYS * DAY_MS
    anons = [f"a{i}" for i in range(sessions // 3)]
    users = [f"u{i}" for i in range(sessions // 6)]
    out: list[dict[str, Any]] = []

    def attrs() -> dict[str, Any]:
        source = rng.choice(SOURCES)
        return {"utm_source": source, "utm_medium": rng.choice(MEDIUMS),
                "utm_campaign": rng.choice(CAMPAIGNS), "referrer": rng.choice(REFERRERS),
                "country": rng.choice(COUNTRIES), "device": rng.choice(DEVICES)}

    for s in range(sessions):
        anon = rng.choice(anons)
        sid = f"s{s}"
        t = lo + rng.randrange(span)
        r = rng.random()
        if r < 0.25:  # start shortly before a UTC midnight
            t = t // DAY_MS * DAY_MS - rng.randrange(1, 3 * HOUR_MS)
        elif r < 0.4:  # shortly before local midnight in New York / Berlin / Kolkata
            t = t // DAY_MS * DAY_MS + rng.choice([4, 5, -1, -2, -5]) * HOUR_MS \
                - rng.choice([0, 30, 45]) * 60_000 - rng.randrange(1, HOUR_MS)
        a = attrs()
        user = rng.choice(users) if rng.random() < 0.7 else None
        for k in range(rng.randint(1, 9)):
            if rng.random() < 0.12:  # the session moves on to other values mid-way
                a = {**a, **{f: v for f, v in attrs().items() if rng.random() < 0.5}}
            name = rng.choices(["page_view", "purchase", "refund", "signup"],
                               weights=[70, 16, 4, 6])[0]
            row: dict[str, Any] = {
                "pixel_id": pixel_id, "event_id": f"e{seed}-{s}-{k}", "name": name, "ts": t,
                "received_at": t + rng.randrange(0, 10 * DAY_MS), "anonymous_id": anon,
                "session_id": sid if rng.random() < 0.97 else None,
                "path": rng.choice(PATHS), **a,
                "utm_content": rng.choice([None, "c1", "c2"]),
                "properties": rng.choice([None, {"plan": "pro"}, {"plan": "free"}]),
            }
            if name in ("purchase", "refund"):
                row.update(user_id=user or rng.choice(users), order_id=f"o{seed}-{s}-{k}",
                           revenue=(None if rng.random() < 0.04
                                    else round(rng.uniform(-5, 400), 2)),
                           currency=rng.choice(["USD", "EUR", None]))
                if name == "purchase":
                    row["new_customer"] = rng.choice([True, False, None])
            elif name == "signup" and rng.random() < 0.5:
                row["new_customer"] = rng.choice([True, False])
            out.append(row)
            gap = rng.choice([0, 0, 1, 5, 20, 40, 59, 61, 90, 150]) * 60_000
            t += gap + rng.randrange(0, 60_000)
            if rng.random() < 0.1:  # exactly on an hour boundary, or 1 ms before one
                t = t // HOUR_MS * HOUR_MS + rng.choice([0, HOUR_MS - 1])
    for d in range(-1, DATA_DAYS + 1):
        for platform in ("meta", "google", "tiktok"):
            for campaign in ("a", "b"):
                if rng.random() < 0.3:
                    continue
                t = lo + d * DAY_MS + rng.randrange(DAY_MS)
                out.append({
                    "pixel_id": pixel_id, "event_id": f"ad{seed}-{d}-{platform}-{campaign}",
                    "name": "ad_spend", "ts": t, "received_at": t, "platform": platform,
                    "campaign": campaign, "currency": "USD",
                    "spend": round(rng.uniform(0, 120), 2),
                    "impressions": None if rng.random() < 0.05 else rng.randrange(0, 9000),
                    "clicks": rng.randrange(0, 120)})
    rng.shuffle(out)
    return out


def bulk_events(pixel_id: str, n: int, *, seed: int) -> list[dict[str, Any]]:
    """Many cheap events (few distinct field values): a backlog after an import."""
    rng = random.Random(seed)
    lo = int(DATA_START.timestamp() * 1000)
    out = []
    for i in range(n):
        t = lo + rng.randrange(DATA_DAYS * DAY_MS)
        name = "purchase" if i % 5 == 0 else "page_view"
        out.append({"pixel_id": pixel_id, "event_id": f"bulk{seed}-{i}", "name": name,
                    "ts": t, "received_at": t, "session_id": f"b{rng.randrange(n // 4)}",
                    "anonymous_id": f"a{rng.randrange(300)}", "country": rng.choice(COUNTRIES),
                    "utm_source": rng.choice(SOURCES[:3]),
                    **({"revenue": float(rng.randrange(1, 99)), "user_id": f"u{i % 97}"}
                       if name == "purchase" else {})})
    return out


async def insert(db: Database, rows: Sequence[dict[str, Any]], batches: int = 1) -> None:
    """Insert in `batches` separate transactions (ids follow insertion, not time)."""
    step = max(1, -(-len(rows) // batches))
    for i in range(0, len(rows), step):
        async with db.session() as session:
            await insert_events(session, rows[i:i + step])
            await session.commit()


async def fresh_database(new_database: Callable[..., str], name: str, pixels: int = 1
                         ) -> tuple[Database, list[str]]:
    """A migrated database of the test's own, with no background folding (unlike the
    app)."""
    db = Database(new_database(name))
    now = datetime(2026, 11, 20, tzinfo=UTC)
    org = await tenancy.create_organization(db, "Acme", now)
    ids = [(await tenancy.create_pixel(db, org.id, f"site{i}", now)).id for i in range(pixels)]
    return db, ids


async def fold_all(db: Database, limit: int = 1_000_000) -> None:
    while await db.fold_rollups(limit=limit):
        pass


# --- queries -------------------------------------------------------------------------------

MEASURES = [
    "core.revenue", "core.orders", "core.aov", "web.sessions", "web.visitors",
    "core.customers", "web.paid_sessions", "orders.largest_order", "core.new_customers",
    "core.net_revenue", "core.roas", "core.mer", "core.cac", "meta.spend", "meta.cpm",
    "google.revenue", "google.ctr", "web.page_views", "web.conversion_rate",
    "web.pages_per_session", "orders.revenue_per_customer", "orders.refund_rate",
    "core.new_customer_aov", "tiktok.roas", "orders.median_order_value",
]

def _x(key: str, definition: Aggregate | Formula) -> MeasureDefinition:
    return MeasureDefinition(key, key, key, "count", "number", definition)


# The catalog has no min, no count of a column, no condition on a derived field: a catalog
# with such measures too (run_query takes any catalog).
EXTRA = (
    _x("x.smallest_order", Aggregate("min", ("purchase",), "revenue")),
    _x("x.smallest_spend", Aggregate("min", ("ad_spend",), "spend")),
    _x("x.most_impressions", Aggregate("max", ("ad_spend",), "impressions")),
    _x("x.priced_orders", Aggregate("count", ("purchase",), "revenue")),
    _x("x.counted_impressions", Aggregate("count", ("ad_spend",), "impressions")),
    _x("x.clicks", Aggregate("sum", ("ad_spend",), "clicks")),
    _x("x.new_signups", Aggregate("count", ("signup",), None,
                                  (Condition("new_customer", "equals", True),))),
    _x("x.direct_buyers", Aggregate("count_distinct", ("purchase",), "anonymous_id",
                                    (Condition("channel", "equals", "direct"),))),
    _x("x.unknown_country_sessions", Aggregate("count_distinct", ("page_view",), "session_id",
                                               (Condition("country", "is_not_set"),))),
    _x("x.cart_views", Aggregate("count", ("page_view",), None,
                                 (Condition("path", "equals", "/cart"),))),
    _x("x.buying_sessions", Aggregate("count_distinct", ("purchase",), "session_id")),
    _x("x.order_range", Formula("orders.largest_order - x.smallest_order")),
)
EXT = Catalog([*CATALOG, *EXTRA])
MEASURES += [m.key for m in EXTRA]
DISTINCT = {"web.sessions", "web.visitors", "core.customers", "x.buying_sessions"}
GROUPINGS = ["utm_source", "utm_medium", "utm_campaign", "channel", "country", "device",
             "customer_type", "event", "platform", "new_customer", "currency", "path",
             "orders.customer_type", "referrer"]
VALUES: dict[str, list[Any]] = {
    "utm_source": ["google", "facebook", "tiktok", ""], "utm_medium": ["cpc", "email", "social"],
    "utm_campaign": ["spring", "brand"], "channel": ["paid_search", "direct", "referral"],
    "country": ["US", "DE", "IN"], "device": ["mobile", "desktop"],
    "customer_type": ["new_customer", "returning_customer"], "platform": ["meta", "google"],
    "currency": ["USD", "EUR"], "event": ["page_view", "purchase"], "path": ["/cart", "/"],
    "referrer": ["https://news.example/a"], "utm_content": ["c1"],
    "properties.plan": ["pro", "free"], "orders.customer_type": ["new_customer"],
}
TIMEZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu"]


def _predicate(rng: random.Random, field: str) -> Predicate:
    if field == "new_customer":
        return rng.choice([Predicate(field, "equals", rng.choice([True, False])),
                           Predicate(field, "is_set"), Predicate(field, "not_equals", True)])
    if field == "revenue":
        return Predicate(field, rng.choice(["gt", "lte"]), rng.choice([50, 120.5]))
    values = VALUES[field]
    op = rng.choice(["equals", "not_equals", "in", "not_in", "contains", "is_set",
                     "is_not_set"])
    if op in ("is_set", "is_not_set"):
        return Predicate(field, op)
    if op in ("in", "not_in"):
        return Predicate(field, op, tuple(rng.sample(values, rng.randint(1, len(values)))))
    if op == "contains":
        return Predicate(field, op, rng.choice(values)[:3].upper() or "x")
    return Predicate(field, op, rng.choice(values))


def _filter(rng: random.Random, dims: Sequence[str]) -> Filter | None:
    r = rng.random()
    if r < 0.35:
        return None
    pool = [*VALUES, "new_customer", "revenue"]

    def one() -> Predicate:
        own = [d for d in dims if d in VALUES or d == "new_customer"]
        field = rng.choice(own) if own and rng.random() < 0.6 else rng.choice(pool)
        return _predicate(rng, field)

    if r < 0.75:
        return one()
    kind = rng.choice(["and", "or", "not"])
    if kind == "not":
        return Not(one())
    items = (one(), one())
    return And(items) if kind == "and" else Or(items)


def _local(tz: str, day: datetime, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute,
                    tzinfo=ZoneInfo(tz)).astimezone(UTC)


def random_query(rng: random.Random, pixel_id: str) -> EngineQuery:
    tz = rng.choice(TIMEZONES)
    granularity = rng.choice(["hour", "day", "day", "week", "month", "quarter", "none",
                              "none"])
    days = rng.randint(1, 3) if granularity == "hour" else rng.randint(1, 35)
    first = DATA_START + timedelta(days=rng.randrange(0, DATA_DAYS - days + 3))
    r = rng.random()
    if r < 0.7:  # local days, as the dashboards ask
        start, end = _local(tz, first), _local(tz, first + timedelta(days=days))
    elif r < 0.9:  # local hours
        start = _local(tz, first, rng.randrange(24))
        end = start + timedelta(hours=rng.randint(1, 24 * days))
    else:  # not on an hour: never rollups
        start = _local(tz, first, rng.randrange(24), rng.choice([1, 15, 59]))
        end = start + timedelta(hours=rng.randint(1, 24 * days), minutes=rng.randrange(60))
    span = TimeRange(start, end)
    compare = None
    if rng.random() < 0.35:
        compare = TimeRange(start - (end - start), start)
    n_dims = rng.choices([0, 1, 2], weights=[30, 50, 20])[0]
    dims = tuple(rng.sample(GROUPINGS, n_dims))
    if n_dims == 2 and granularity == "hour":
        granularity = "day"
    measures = tuple(rng.sample(MEASURES, rng.randint(1, 4)))
    if rng.random() < 0.4:  # a distinct count keyed like the grouping: the rollup's case
        measures = tuple(dict.fromkeys((rng.choice(sorted(DISTINCT)), *measures)))
    limit = rng.randint(1, 4) if dims and rng.random() < 0.3 else None
    order_by = rng.choice(measures) if rng.random() < 0.5 else None
    return EngineQuery(pixel_id, measures, span, granularity=granularity, timezone=tz,
                       dimensions=dims, filters=_filter(rng, dims), compare_range=compare,
                       order_by=order_by, descending=rng.random() < 0.8, limit=limit)


# --- comparing answers ---------------------------------------------------------------------

def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _same_values(a: dict[str, float | None], b: dict[str, float | None], where: Any) -> None:
    assert a.keys() == b.keys(), where
    for k in a:
        assert _close(a[k], b[k]), (where, k, a[k], b[k])
        # the same JSON too: 3 is not 3.0
        assert a[k] is None or type(a[k]) is type(b[k]), (where, k, a[k], b[k])


def assert_same(got: EngineResult, want: EngineResult, q: EngineQuery) -> None:
    for name in ("primary", "compare"):
        g, w = getattr(got, name), getattr(want, name)
        assert [(b.start, b.end, b.dimensions) for b in g] == [
            (b.start, b.end, b.dimensions) for b in w], (q, name)
        for bg, bw in zip(g, w, strict=True):
            _same_values(bg.values, bw.values, (q, name, bg.start, bg.dimensions))
    _same_values(got.totals, want.totals, (q, "totals"))
    _same_values(got.compare_totals, want.compare_totals, (q, "compare_totals"))
    assert list(got.group_totals) == list(want.group_totals), q
    for g in want.group_totals:
        _same_values(got.group_totals[g], want.group_totals[g], (q, "group_totals", g))


async def compare_paths(db: Database, q: EngineQuery) -> EngineResult:
    """Run `q` both ways, assert equal answers; the rollup-side result."""
    rolled = await run_query(db, q, catalog=EXT)
    raw = await run_query(db, q, catalog=EXT, limits=RAW)
    assert raw.rollups == ()
    assert_same(rolled, raw, q)
    return rolled


def _half_hour_zone(q: EngineQuery) -> bool:
    return q.timezone in ("Asia/Kolkata", "Asia/Kathmandu")


# --- 1. rollups answer what raw scans answer -----------------------------------------------

@pytest.mark.slow  # hundreds of random queries, each on both paths
async def test_random_queries_rollups_equal_raw(harness: Harness) -> None:
    db = harness.state.db
    events = make_events(harness.pixel_id, seed=101)
    await insert(db, events, batches=5)
    rng = random.Random(7)
    used = Counter[str]()
    n = 260
    for _ in range(n):
        q = random_query(rng, harness.pixel_id)
        result = await compare_paths(db, q)
        if result.rollups:
            used["any"] += 1
            used.update(r.split("=", 1)[0].removeprefix("compare.") for r in result.rollups)
        # Local days and hours in +5:30 and +5:45 are never whole UTC hours.
        if _half_hour_zone(q) or q.range.start_ms % HOUR_MS or q.range.end_ms % HOUR_MS:
            used["raw by rule"] += 1
            assert result.rollups == (), q
    # A good share read rollups, each kind of rollup statement among them.
    assert used["any"] >= n * 0.3, used
    assert used["raw by rule"] >= n * 0.3, used
    assert {"rollup_main", "rollup_distinct", "total"} <= set(used), used


async def test_rollup_paths_are_taken_where_expected(harness: Harness) -> None:
    """The planner's decisions pinned on a few queries (a regression that silently stopped
    reading rollups would pass the equality test)."""
    db = harness.state.db
    await insert(db, make_events(harness.pixel_id, seed=5, sessions=150))
    p = harness.pixel_id
    month = TimeRange(datetime(2026, 10, 12, 4, tzinfo=UTC), datetime(2026, 11, 9, 5, tzinfo=UTC))
    cases: list[tuple[EngineQuery, tuple[str, ...]]] = [
        (EngineQuery(p, ("core.customers",), month, timezone="America/New_York",
                     dimensions=("country",), filters=Predicate("country", "in", ("US", "DE")),
                     limit=2),
         # the period total ignores country, but the filter reads it: raw
         ("groups=country", "rollup_distinct=country")),
        (EngineQuery(p, ("web.sessions", "core.revenue"), month, granularity="week",
                     timezone="Europe/Berlin", compare_range=TimeRange(
                         datetime(2026, 9, 14, 4, tzinfo=UTC), month.start)),
         ("compare.rollup_distinct=total", "compare.rollup_main=total",
          "compare.total=total", "rollup_distinct=total", "rollup_main=total", "total=total")),
        (EngineQuery(p, ("core.revenue", "meta.spend"), month, dimensions=("event", "device"),
                     filters=Not(Predicate("channel", "equals", "direct"))),
         ("rollup_main=wide",)),
        (EngineQuery(p, ("orders.largest_order", "core.orders"), month, granularity="hour",
                     dimensions=("customer_type",)), ("rollup_main=customer_type",)),
        # A distinct count conditioned on the grouped field: rollup; on another field (or
        # filtered by one): raw, the additive part still from a rollup.
        (EngineQuery(p, ("web.paid_sessions", "core.orders"), month, granularity="none",
                     dimensions=("utm_medium",)),
         ("rollup_distinct=utm_medium", "rollup_main=utm_medium")),
        (EngineQuery(p, ("web.paid_sessions", "core.orders"), month, granularity="none",
                     dimensions=("country",)), ("rollup_main=country",)),
        (EngineQuery(p, ("web.visitors",), month, granularity="none",
                     dimensions=("country",), filters=Predicate("device", "equals", "mobile")),
         ()),
        # Not stored, not hour-aligned, half-hour zone, percentile: raw.
        (EngineQuery(p, ("core.revenue",), month, dimensions=("path",)), ()),
        (EngineQuery(p, ("core.revenue",), TimeRange(month.start + timedelta(minutes=30),
                                                    month.end)), ()),
        (EngineQuery(p, ("core.revenue", "web.sessions"), month, timezone="Asia/Kolkata"), ()),
        (EngineQuery(p, ("orders.median_order_value",), month), ()),
    ]
    for q, want in cases:
        result = await compare_paths(db, q)
        assert result.rollups == want, (q, result.rollups)


# --- 2. incremental folding is exact -------------------------------------------------------

def _rows_close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], table: str) -> None:
    assert len(a) == len(b), (table, len(a), len(b))
    for ra, rb in zip(a, b, strict=True):
        assert len(ra) == len(rb)
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                assert _close(x, y), (table, ra, rb)
            else:
                assert x == y, (table, ra, rb)


@pytest.mark.slow  # two databases, 50 fold steps with queries in between
async def test_incremental_folding_is_exact(new_database: Callable[..., str]) -> None:
    """Shuffled events of two pixels (sharing session, visitor and user ids), inserted in
    batches with small folds in between that end mid-batch; queries on the way; then the
    tables equal those of folding everything at once into a fresh database."""
    inc, (p1, p2) = await fresh_database(new_database, "inc.sqlite3", pixels=2)
    once, (q1,) = await fresh_database(new_database, "once.sqlite3")
    try:
        mine = make_events(p1, seed=202, sessions=300)
        other = make_events(p2, seed=203, sessions=120)
        rng = random.Random(3)
        mixed = mine + other
        rng.shuffle(mixed)
        queries = random.Random(11)
        pos = 0
        while pos < len(mixed):
            size = rng.randint(1, 400)
            await insert(inc, mixed[pos:pos + size])
            pos += size
            for _ in range(rng.randint(0, 3)):
                await inc.fold_rollups(limit=rng.choice([1, 7, 50, 133]))
            if rng.random() < 0.3:  # a query now folds the rest inline, or scans raw
                await compare_paths(inc, random_query(queries, p1))
        await fold_all(inc, limit=97)
        assert await inc.rollup_lag() == 0

        for r in mine:  # same events, another pixel id, one insert and one fold
            r["pixel_id"] = q1
        await insert(once, sorted(mine, key=lambda r: r["ts"]))
        assert await once.fold_rollups(limit=1_000_000) == len(mine)

        # Only p1's rows: p2's differ and live under another pixel id.
        async def only(db: Database, pixel: str, table: str, order: str
                       ) -> list[tuple[Any, ...]]:
            async with db.engine.connect() as conn:
                names = list((await conn.execute(
                    text(f"SELECT * FROM {table} LIMIT 0"))).keys())
                rows = (await conn.execute(text(
                    f"SELECT * FROM {table} WHERE pixel_id = :p ORDER BY {order}"),
                    {"p": pixel})).all()
            keep = [i for i, c in enumerate(names) if c != "pixel_id"]
            return [tuple(r[i] for i in keep) for r in rows]

        order = "rollup, name, hour, dk"
        a = await only(inc, p1, "event_rollup", order)
        b = await only(once, q1, "event_rollup", order)
        assert len(a) > 1000
        _rows_close(a, b, "event_rollup")
        order = "rollup, name, col, hour, gap, dk"
        a = await only(inc, p1, "event_rollup_distinct", order)
        b = await only(once, q1, "event_rollup_distinct", order)
        assert len(a) > 1000 and all(r[-1] > 0 for r in a)
        _rows_close(a, b, "event_rollup_distinct")
        a = await only(inc, p1, "event_rollup_value", "col, value")
        b = await only(once, q1, "event_rollup_value", "col, value")
        assert [(c, v, sorted(map(json.dumps, json.loads(s)))) for c, v, s in a] == [
            (c, v, sorted(map(json.dumps, json.loads(s)))) for c, v, s in b]

        rng = random.Random(12)
        for _ in range(50):
            q = random_query(rng, p1)
            r_inc = await compare_paths(inc, q)
            r_once = await compare_paths(once, replace(q, pixel_id=q1))
            assert_same(r_inc, r_once, q)
    finally:
        await inc.dispose()
        await once.dispose()


# --- 3. freshness --------------------------------------------------------------------------

async def _watermark(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        mark = (await conn.execute(text(
            "SELECT last_event_id FROM event_rollup_state WHERE id = 1"))).scalar_one()
        top = (await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM event"))).scalar_one()
    return int(mark), int(top)


async def test_ingested_events_are_visible_at_once(harness: Harness) -> None:
    """POST /tr/api/events, then at once POST /db-mgmt/api/query: every acknowledged event
    counts, from rollups that hold it."""
    write = await harness.mint("events:write")
    read = await harness.mint("analytics:read")
    day = {"start": "2026-11-20", "end": "2026-11-20"}
    orders = revenue = 0.0
    sessions: set[str] = set()
    for round_ in range(4):
        batch = [purchase(f"{round_}-{i}", revenue=10.0 + i, session_id=f"s{round_}-{i}",
                          timestamp=f"2026-11-20T{8 + i:02d}:{10 * round_:02d}:00Z")
                 for i in range(3)]
        batch += [page_view(100 * round_ + i, session_id=f"s{round_}-{i % 2}",
                            timestamp=f"2026-11-20T0{i}:00:00Z") for i in range(5)]
        response = await post_events(harness, write, batch)
        assert response.status_code == 200 and response.json()["accepted"] == 8, response.text
        orders += 3
        revenue += 33.0
        sessions |= {f"s{round_}-0", f"s{round_}-1"}
        response = await harness.client.post(
            "/db-mgmt/api/query", headers=harness.headers(read, harness.pixel_id),
            json={"granularity": "day", "timezone": "UTC", "dateRange": day,
                  "measures": ["core.orders", "core.revenue", "web.sessions"]})
        assert response.status_code == 200, response.text
        [result] = response.json()["results"]
        details = {d["measure"]: d["primaryTotal"] for d in result["measureDetails"]}
        assert details == {"core.orders": orders, "core.revenue": revenue,
                           "web.sessions": len(sessions)}, (round_, details)
        mark, top = await _watermark(harness.state.db)
        assert mark == top  # the query folded whatever the background task had not
    # The same question through the engine: read from rollups.
    q = EngineQuery(harness.pixel_id, ("core.orders", "core.revenue", "web.sessions"),
                    TimeRange(datetime(2026, 11, 20, tzinfo=UTC),
                              datetime(2026, 11, 21, tzinfo=UTC)))
    result = await compare_paths(harness.state.db, q)
    assert result.rollups == ("rollup_distinct=total", "rollup_main=total")
    assert result.totals == {"core.orders": orders, "core.revenue": revenue,
                             "web.sessions": len(sessions)}


async def test_concurrent_ingestion_and_queries(harness: Harness) -> None:
    """Posts and queries racing (each query folding inline, the background task too): every
    query answer equals the raw scan of the same moment's events or a later one, and at the
    end the rollups hold every event, counted once."""
    write = await harness.mint("events:write")
    db = harness.state.db
    q = EngineQuery(harness.pixel_id, ("core.orders", "core.revenue", "web.visitors"),
                    TimeRange(datetime(2026, 11, 20, tzinfo=UTC),
                              datetime(2026, 11, 21, tzinfo=UTC)), granularity="hour",
                    dimensions=("utm_source",))

    async def post(i: int) -> None:
        batch = [purchase(f"c{i}-{j}", revenue=float(j + 1), anonymous_id=f"v{j}",
                          utm_source=["google", "bing", None][j % 3],
                          timestamp=f"2026-11-20T{j % 12:02d}:{i:02d}:00Z") for j in range(20)]
        batch += [page_view(1000 * i + j, anonymous_id=f"v{(i + j) % 9}",
                            utm_source=["google", None][j % 2],
                            timestamp=f"2026-11-20T{j:02d}:00:{i:02d}Z") for j in range(12)]
        response = await post_events(harness, write, batch)
        assert response.status_code == 200 and response.json()["accepted"] == 32

    async def query() -> EngineResult:
        return await run_query(db, q)

    done = await asyncio.gather(*(post(i) for i in range(12)), *(query() for _ in range(6)))
    for result in done[12:]:
        assert isinstance(result, EngineResult)
        assert result.totals["core.orders"] in range(0, 12 * 20 + 1, 20)
    final = await compare_paths(db, q)
    assert final.rollups
    assert final.totals["core.orders"] == 240
    assert final.totals["core.revenue"] == 12 * sum(range(1, 21))
    assert final.totals["web.visitors"] == 9
    mark, top = await _watermark(db)
    assert mark == top


async def test_query_folds_a_small_backlog_first(new_database: Callable[..., str]) -> None:
    """Stored but unfolded events (no background task here): the query folds them first."""
    db, (pixel,) = await fresh_database(new_database, "lag.sqlite3")
    try:
        events = make_events(pixel, seed=9, sessions=60)
        await insert(db, events)
        assert await db.rollup_lag() == len(events) <= 5000
        q = EngineQuery(pixel, ("core.revenue", "web.visitors"), TimeRange(
            DATA_START, DATA_START + timedelta(days=DATA_DAYS)), dimensions=("device",))
        result = await compare_paths(db, q)
        assert result.rollups  # folded inline, then read
        assert await db.rollup_lag() == 0
        mark, top = await _watermark(db)
        assert mark == top
    finally:
        await db.dispose()


@pytest.mark.slow  # a backlog past the inline-fold bound: thousands of events
async def test_far_behind_answers_from_raw_events(new_database: Callable[..., str]) -> None:
    """More than 5000 events unfolded: rollups_current() is False, queries scan raw events
    and are right; once folded they read rollups again, same answers."""
    db, (pixel,) = await fresh_database(new_database, "behind.sqlite3")
    try:
        await insert(db, make_events(pixel, seed=1, sessions=200))
        await fold_all(db)
        events = bulk_events(pixel, 5200, seed=2)
        await insert(db, events, batches=3)
        behind = await db.rollup_lag()
        assert behind == len(events) > 5000
        assert await db.rollups_current() is False
        assert await db.rollup_lag() == behind  # nothing folded by asking
        span = TimeRange(DATA_START, DATA_START + timedelta(days=DATA_DAYS))
        q = EngineQuery(pixel, ("core.orders", "core.revenue", "web.sessions"), span,
                        granularity="week", dimensions=("country",))
        stale = await compare_paths(db, q)
        assert stale.rollups == ()
        async with db.engine.connect() as conn:
            orders, sessions = (await conn.execute(text(
                "SELECT SUM(CASE WHEN name = 'purchase' THEN 1 ELSE 0 END), "
                "COUNT(DISTINCT CASE WHEN name = 'page_view' THEN session_id END) "
                "FROM event WHERE pixel_id = :p AND ts >= :a AND ts < :b"),
                {"p": pixel, "a": span.start_ms, "b": span.end_ms})).one()
        assert stale.totals["core.orders"] == orders
        assert stale.totals["web.sessions"] == sessions
        await db.fold_rollups(limit=1000)
        assert await db.rollups_current() is True  # 4200 left: folded inline
        assert await db.rollup_lag() == 0
        fresh = await compare_paths(db, q)
        assert fresh.rollups
        assert_same(fresh, stale, q)
    finally:
        await db.dispose()


# --- 4. one channel rule -------------------------------------------------------------------

async def test_channel_rule_python_equals_sql(harness: Harness) -> None:
    db = harness.state.db
    mediums = [None, "", *PAID_SEARCH, *PAID_SOCIAL, "email", "organic", *SOCIAL, "referral",
               "affiliate", "display", "CPC", "Email", "cpc "]
    sources = [None, "", "google", "facebook"]
    referrers = [None, "", "https://example.com/"]
    t0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
    rows, want = [], Counter[str]()
    for i, (m, s, r) in enumerate(itertools.product(mediums, sources, referrers)):
        rows.append({"pixel_id": harness.pixel_id, "name": "page_view", "ts": t0 + i * 1000,
                     "received_at": t0, "utm_medium": m, "utm_source": s, "referrer": r,
                     "session_id": f"s{i}"})
        want[channel_of(m, s, r)] += 1
    await insert(db, rows)
    span = TimeRange(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    # Per combination, the SQL CASE against channel_of.
    q = EngineQuery(harness.pixel_id, ("web.page_views",), span, granularity="none",
                    dimensions=("utm_medium", "utm_source", "referrer", "channel"))
    result = await run_query(db, q, limits=RAW)
    seen = {b.dimensions for b in result.primary}
    assert len(seen) == len(rows)
    for m, s, r, ch in seen:
        assert ch == channel_of(m, s, r), (m, s, r, ch)
    # GROUP BY channel: raw (SQL CASE), and from the channel rollup (channel_of at folding).
    q = EngineQuery(harness.pixel_id, ("web.page_views", "web.sessions"), span,
                    granularity="none", dimensions=("channel",))
    raw = await run_query(db, q, limits=RAW)
    assert {b.dimensions[0]: b.values["web.page_views"] for b in raw.primary} == want
    rolled = await compare_paths(db, q)
    assert "rollup_distinct=channel" in rolled.rollups


# --- 5. stored fields are engine fields ----------------------------------------------------

def test_every_stored_rollup_field_is_a_groupable_engine_field() -> None:
    for name in DIMENSIONS:
        assert name in FIELDS and FIELDS[name].groupable, name
    assert {f for f in FIELDS if FIELDS[f].type == "number"} == set(NUMERIC)


async def test_tied_groups_rank_the_same_whatever_the_row_order(
        new_database: Callable[..., str]) -> None:
    """Groups tied on the ranking measure are ordered by their values, NULL apart from "",
    whichever statement (rollup or raw, day 1 or day 2) found them first."""
    db, (pixel,) = await fresh_database(new_database, "ties.sqlite3")
    try:
        day = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
        for first in (None, ""):
            second = "" if first is None else None
            await insert(db, [
                {"pixel_id": pixel, "name": "purchase", "ts": day + k * DAY_MS + HOUR_MS * 3,
                 "received_at": day, "utm_source": src, "user_id": f"u{k}",
                 "revenue": 5.0, "event_id": f"{first!r}-{k}"}
                for k, src in enumerate((first, second))])
            span = TimeRange(datetime.fromtimestamp(day / 1000, UTC),
                             datetime.fromtimestamp((day + 2 * DAY_MS) / 1000, UTC))
            for measures in (("core.orders",), ("core.customers", "core.revenue")):
                q = EngineQuery(pixel, measures, span, dimensions=("utm_source",), limit=1)
                result = await compare_paths(db, q)
                assert list(result.group_totals) == [(None,)], (first, measures)
            day += 7 * DAY_MS
    finally:
        await db.dispose()


async def test_group_with_only_null_distinct_values(new_database: Callable[..., str]) -> None:
    """A group whose events all lack the distinct id is listed with 0 on both paths
    (the rollup keeps NO_VALUE rows for them)."""
    db, (pixel,) = await fresh_database(new_database, "nulls.sqlite3")
    try:
        t = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp() * 1000)
        await insert(db, [
            {"pixel_id": pixel, "name": "page_view", "ts": t, "received_at": t,
             "country": "US", "session_id": "s1", "anonymous_id": "a1"},
            {"pixel_id": pixel, "name": "page_view", "ts": t, "received_at": t,
             "country": "DE", "session_id": None, "anonymous_id": None}])
        span = TimeRange(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
        q = EngineQuery(pixel, ("web.sessions",), span, dimensions=("country",))
        raw = await run_query(db, q, limits=RAW)
        assert {b.dimensions for b in raw.primary} == {("US",), ("DE",)}
        await compare_paths(db, q)
    finally:
        await db.dispose()
