"""Oracle support for the query engine tests (issue #5): a seeded event generator and a
brute-force, plain-Python evaluation of measures over the same events.

Nothing here imports the engine: buckets come from `zoneinfo` per event, measures from the
catalog's definitions interpreted row by row.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.catalog import CATALOG, Aggregate, Formula
from gateway.catalog.formula import BinaryOp, Constant, Neg, Node, Ref, parse_formula

__all__ = ["channel", "generate", "local_bucket", "matches", "measure_value", "percentile",
           "seed_events"]

SOURCES = [None, "google", "facebook", "instagram", "tiktok", "newsletter", "bing"]
MEDIUMS = {None: None, "google": "cpc", "facebook": "paid_social", "instagram": "social",
           "tiktok": "paid_social", "newsletter": "email", "bing": "organic"}


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def generate(pixel_id: str, *, seed: int, start: datetime, days: int, n: int = 1500
             ) -> list[dict[str, Any]]:
    """`n` random events in [start, start + days), a few just outside it on each side."""
    rng = random.Random(seed)
    span = days * 86_400_000
    lo = _ms(start) - 2 * 86_400_000
    users = [f"u{i}" for i in range(40)]
    anons = [f"a{i}" for i in range(80)]
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts = lo + rng.randrange(span + 4 * 86_400_000)
        name = rng.choices(["page_view", "purchase", "refund", "ad_spend", "signup"],
                           weights=[60, 15, 3, 8, 4])[0]
        source = rng.choice(SOURCES)
        anon = rng.choice(anons)
        row: dict[str, Any] = {
            "pixel_id": pixel_id, "name": name, "ts": ts, "received_at": ts,
            "event_id": f"e{seed}-{i}", "anonymous_id": anon,
            "session_id": f"s{anon}-{rng.randrange(4)}",
            "utm_source": source, "utm_medium": MEDIUMS[source],
            "utm_campaign": rng.choice([None, "spring", "brand"]),
            "country": rng.choice([None, "US", "DE", "FR"]),
            "device": rng.choice(["mobile", "desktop", None]),
            "path": rng.choice(["/", "/products/Tee", "/cart", None]),
            "properties": rng.choice([None, {"plan": "pro"}, {"plan": "free", "n": 3},
                                      {"n": rng.randrange(10)}]),
        }
        if name in ("purchase", "refund"):
            row.update(user_id=rng.choice(users), revenue=round(rng.uniform(5, 300), 2),
                       order_id=f"o{i}", currency="USD")
            if name == "purchase":
                row["new_customer"] = rng.random() < 0.3
        if name == "ad_spend":
            row.update(platform=rng.choice(["meta", "google", "tiktok"]),
                       campaign=rng.choice(["a", "b"]), spend=round(rng.uniform(1, 90), 2),
                       impressions=rng.randrange(0, 5000), clicks=rng.randrange(0, 80),
                       utm_source=None, utm_medium=None)
        out.append(row)
    return out


async def seed_events(db: Any, pixel_id: str, *, seed: int, start: datetime, days: int,
                      n: int = 1500) -> list[dict[str, Any]]:
    """`generate`'s events, stored through the ingestion storage call (`db`: the app's
    `Database`); returns them for the oracle."""
    from gateway.storage.events import insert_events

    events = generate(pixel_id, seed=seed, start=start, days=days, n=n)
    async with db.session() as session:
        await insert_events(session, events)
        await session.commit()
    return events


def local_bucket(ts: int, granularity: str, tz: str) -> tuple[datetime, datetime]:
    """The bucket of `ts` as UTC [start, end), straight from zoneinfo."""
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(ts / 1000, UTC).astimezone(zone)
    if granularity in ("second", "minute", "hour"):
        unit = {"second": 1, "minute": 60, "hour": 3600}[granularity]
        off = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]  # an aware datetime always has an offset
        s = (ts // 1000 + off) // unit * unit - off
        return (datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(s + unit, UTC))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if granularity == "day":
        a, b = day, day + timedelta(days=1)
    elif granularity == "week":
        a = day - timedelta(days=day.weekday())
        b = a + timedelta(days=7)
    elif granularity == "month":
        a = day.replace(day=1)
        b = (a + timedelta(days=32)).replace(day=1)
    elif granularity == "quarter":
        a = day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
        b = (a + timedelta(days=95)).replace(day=1)
    else:
        a = day.replace(day=1, month=1)
        b = a.replace(year=a.year + 1)
    return (a.replace(tzinfo=zone).astimezone(UTC), b.replace(tzinfo=zone).astimezone(UTC))


def channel(e: dict[str, Any]) -> str:
    m = e.get("utm_medium")
    if m in ("cpc", "ppc", "paid", "paid_search", "sem"):
        return "paid_search"
    if m in ("paid_social", "paidsocial", "social_paid"):
        return "paid_social"
    if m == "email":
        return "email"
    if m == "organic":
        return "organic_search"
    if m in ("social", "social_organic"):
        return "organic_social"
    if e.get("utm_source") is not None or e.get("referrer") is not None:
        return "referral"
    return "direct"


def field_value(e: dict[str, Any], name: str) -> Any:
    name = {"orders.customer_type": "customer_type", "events.name": "event"}.get(name, name)
    if name == "event":
        return e["name"]
    if name == "channel":
        return channel(e)
    if name == "customer_type":
        nc = e.get("new_customer")
        return None if nc is None else ("new_customer" if nc else "returning_customer")
    if name.startswith("properties."):
        props = e.get("properties") or {}
        v = props.get(name.removeprefix("properties."))
        return v
    return e.get(name)


def matches(e: dict[str, Any], f: Any) -> bool:
    """A filter in the Upstack JSON shape ({"and": [...]}, {"field", "op", "value"})."""
    if f is None:
        return True
    if "and" in f:
        return all(matches(e, x) for x in f["and"])
    if "or" in f:
        return any(matches(e, x) for x in f["or"])
    if "not" in f:
        return not matches(e, f["not"])
    v = field_value(e, f["field"])
    op, want = f["op"], f.get("value")
    prop = f["field"].startswith("properties.")
    if prop and v is not None and op not in ("gt", "gte", "lt", "lte"):
        v = str(v)
        want = [str(w) for w in want] if isinstance(want, list) else str(want)
    if op == "is_set":
        return v is not None
    if op == "is_not_set":
        return v is None
    if op == "not_equals":
        return v is None or v != want
    if op == "not_in":
        return v is None or v not in want
    if v is None:
        return False
    if op == "equals":
        return bool(v == want)
    if op == "in":
        return v in want
    if op == "contains":
        return str(want).lower() in str(v).lower()
    return bool({"gt": v > want, "gte": v >= want, "lt": v < want, "lte": v <= want}[op])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _aggregate(a: Aggregate, events: Iterable[dict[str, Any]]) -> Any:
    rows = [e for e in events if e["name"] in a.events and all(
        matches(e, {"field": c.field, "op": c.op, "value": list(c.value)
                    if isinstance(c.value, tuple) else c.value}) for c in a.where)]
    if a.fn == "count":
        return len(rows)
    col = a.column or ""
    vals = [e[col] for e in rows if e.get(col) is not None]
    if a.fn == "count_distinct":
        return len(set(vals))
    if a.fn == "sum":
        return sum(vals)
    if not vals:
        return None
    if a.fn == "avg":
        return sum(vals) / len(vals)
    if a.fn == "min":
        return min(vals)
    if a.fn == "max":
        return max(vals)
    return percentile(vals, {"p50": .5, "p90": .9, "p95": .95, "p99": .99}[a.fn])


def _eval(node: Node, events: Sequence[dict[str, Any]]) -> float | None:
    if isinstance(node, Ref):
        return measure_value(node.key, events)
    if isinstance(node, Constant):
        return node.value
    if isinstance(node, Neg):
        v = _eval(node.operand, events)
        return None if v is None else -v
    assert isinstance(node, BinaryOp)
    a, b = _eval(node.left, events), _eval(node.right, events)
    if a is None or b is None:
        return None
    if node.op == "/":
        return None if b == 0 else a / b
    return {"+": a + b, "-": a - b, "*": a * b}[node.op]


def measure_events(key: str) -> set[str]:
    """Event names a measure reads, through formulas."""
    d = CATALOG.find(key)
    assert d is not None, key
    if isinstance(d.definition, Aggregate):
        return set(d.definition.events)
    found: set[str] = set()
    stack: list[Node] = [parse_formula(d.definition.expression)]
    while stack:
        n = stack.pop()
        if isinstance(n, Ref):
            found |= measure_events(n.key)
        elif isinstance(n, Neg):
            stack.append(n.operand)
        elif isinstance(n, BinaryOp):
            stack += [n.left, n.right]
    return found


def expected_series(events: Sequence[dict[str, Any]], measures: Sequence[str],
                    start: datetime, end: datetime, granularity: str, tz: str,
                    dimensions: Sequence[str] = (), filters: Any = None
                    ) -> tuple[dict[tuple[Any, ...], dict[str, float | None]],
                               dict[str, float | None]]:
    """{(bucket start, *dims): {measure: value}} for every bucket x seen group, and totals."""
    names = set().union(*(measure_events(m) for m in measures))
    a, b = _ms(start), _ms(end)
    rows = [e for e in events if a <= e["ts"] < b and e["name"] in names and matches(e, filters)]
    if granularity == "none":
        starts = [start]
        bucket_of = {id(e): start for e in rows}
    else:
        starts = []
        cur = local_bucket(a, granularity, tz)
        while cur[0] < end:
            starts.append(cur[0])
            cur = local_bucket(_ms(cur[1]), granularity, tz)
        bucket_of = {id(e): local_bucket(e["ts"], granularity, tz)[0] for e in rows}

    def dim(e: dict[str, Any], d: str) -> str | None:
        v = field_value(e, d)
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    groups = {tuple(dim(e, d) for d in dimensions) for e in rows} if dimensions else {()}
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for e in rows:
        cells.setdefault((bucket_of[id(e)], *(dim(e, d) for d in dimensions)), []).append(e)
    out = {}
    for s in starts:
        for g in groups:
            evs = cells.get((s, *g), [])
            out[(s, *g)] = {m: measure_value(m, evs) for m in measures}
    totals = {m: measure_value(m, rows) for m in measures}
    return out, totals


def measure_value(key: str, events: Sequence[dict[str, Any]]) -> float | None:
    d = CATALOG.find(key)
    assert d is not None, key
    if isinstance(d.definition, Formula):
        return _eval(parse_formula(d.definition.expression), events)
    found: float | None = _aggregate(d.definition, events)
    return found


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
