"""Hourly rollups of events, exact, kept current in the same transaction as every insert.

Dashboards ask the same few questions over 30-day ranges; scanning every raw event each time
costs a few hundred milliseconds per million events. Rollups keep per-hour aggregates keyed by
a few low-cardinality fields so that those questions read thousands of rows instead.

Two tables, both keyed by (pixel, rollup, event name, UTC hour, the rollup's field values):

- `event_rollup`: additive aggregates: the event count, and per numeric column the count of
  non-null values, sum, min and max. Any hour-aligned bucket (a local day in any whole-hour
  time zone) is a sum of hours; any grouping or filter on a subset of the rollup's fields
  is a sum over the other fields.
- `event_rollup_distinct`: exact distinct counts (sessions, visitors, customers). Distinct
  counts do not add up across hours, so each row counts the *chains* of one value (a
  session id, say) with one (event name, field values) that occur in an hour, by `gap`: the
  hours since the same chain last occurred (0: never before). A value is counted once in a
  bucket at the first hour of the bucket in which it occurs, which is exactly the rows whose
  previous occurrence (`hour - gap`) lies before the bucket: a plain conditional SUM, no
  DISTINCT. This is exact only when the query groups by exactly the rollup's fields and
  filters on no other field (else a value seen under two field values would count twice);
  `gateway.engine.rollup_plan` checks that and falls back to raw events otherwise.

Maintenance (`apply_rollups`) runs inside the insert's transaction, while it holds the write
lock (SQLite) or a per-pixel advisory lock (PostgreSQL): additive deltas come from the new
rows alone; for distinct counts, the chains of every value the new rows touch are recomputed
from that value's events with and without the new rows, and the difference is applied. Late
and out-of-order events are therefore exact too. `rebuild_rollups` recomputes a pixel from
scratch (migration 0007 backfills with it; `gateway rollups rebuild` runs it by hand).

Storage knows nothing above it: the field list here is the storage-side mirror of the
groupable fields in `gateway.engine.fields` (tests pin that each stored field exists there).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, String, Table, text

from gateway.channels import channel_of
from gateway.storage.models import metadata

__all__ = [
    "DIMENSIONS",
    "DISTINCT_COLUMNS",
    "HOUR_MS",
    "NUMERIC",
    "ROLLUPS",
    "ROLLUP_DISTINCT_TABLE",
    "ROLLUP_TABLE",
    "Executor",
    "Rollup",
    "apply_rollups",
    "dimension_values",
    "lock_pixels",
    "rebuild_rollups",
    "ConnectionExecutor",
    "SqliteExecutor",
    "SyncExecutor",
    "run_to_completion",
]

HOUR_MS = 3_600_000
NUMERIC = ("revenue", "spend", "impressions", "clicks")
DISTINCT_COLUMNS = ("session_id", "anonymous_id", "user_id")
# Stored fields (groupable, low cardinality). channel and customer_type are derived.
DIMENSIONS = ("utm_source", "utm_medium", "utm_campaign", "channel", "country", "device",
              "platform", "campaign", "currency", "customer_type", "new_customer")
# Event columns the stored fields are computed from.
_SOURCE_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "referrer", "country", "device",
                   "platform", "campaign", "currency", "new_customer")


@dataclass(frozen=True)
class Rollup:
    """One rollup: the fields it is keyed by; `distinct` keeps exact distinct counts too."""

    id: str
    fields: tuple[str, ...]
    distinct: bool = True


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("total", ()),
    *(Rollup(f, (f,)) for f in ("utm_source", "utm_medium", "utm_campaign", "channel",
                                "country", "device", "customer_type")),
    # Additive only: any grouping or filter over the stored fields, ~5x fewer rows than events.
    Rollup("wide", DIMENSIONS, distinct=False),
)
_DISTINCT_ROLLUPS = tuple(r for r in ROLLUPS if r.distinct)


def _dimension_columns() -> list[Column[Any]]:
    return [Column(f, Boolean) if f == "new_customer" else Column(f, String(256))
            for f in DIMENSIONS]


_KEY = ("pixel_id", "rollup", "name", "hour", "dk")
ROLLUP_TABLE = Table(
    "event_rollup", metadata,
    Column("pixel_id", String(36), primary_key=True),
    Column("rollup", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("hour", BigInteger, primary_key=True, autoincrement=False),
    Column("dk", String(32), primary_key=True),  # digest of the rollup's field values
    *_dimension_columns(),
    Column("n", BigInteger, nullable=False),
    *(c for name in NUMERIC for c in (
        Column(f"{name}_n", BigInteger, nullable=False), Column(f"{name}_sum", Float),
        Column(f"{name}_min", Float), Column(f"{name}_max", Float))),
)
_DISTINCT_KEY = ("pixel_id", "rollup", "name", "col", "hour", "gap", "dk")
ROLLUP_DISTINCT_TABLE = Table(
    "event_rollup_distinct", metadata,
    Column("pixel_id", String(36), primary_key=True),
    Column("rollup", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("col", String(16), primary_key=True),
    Column("hour", BigInteger, primary_key=True, autoincrement=False),
    Column("gap", Integer, primary_key=True, autoincrement=False),  # hours; 0: first time
    Column("dk", String(32), primary_key=True),
    *_dimension_columns(),
    Column("n", BigInteger, nullable=False),
)


class Executor(Protocol):
    """The two calls maintenance needs; SQL uses `:name` parameters (sqlite3 and SQLAlchemy
    `text()` both take them)."""

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]: ...

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None: ...


def dimension_values(event: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields of one event (a mapping with at least `_SOURCE_COLUMNS`)."""
    nc = event.get("new_customer")
    nc = None if nc is None else bool(nc)
    return {
        "utm_source": event.get("utm_source"), "utm_medium": event.get("utm_medium"),
        "utm_campaign": event.get("utm_campaign"),
        "channel": channel_of(event.get("utm_medium"), event.get("utm_source"),
                              event.get("referrer")),
        "country": event.get("country"), "device": event.get("device"),
        "platform": event.get("platform"), "campaign": event.get("campaign"),
        "currency": event.get("currency"),
        "customer_type": None if nc is None else "new_customer" if nc else "returning_customer",
        "new_customer": nc,
    }


def _digest(values: tuple[Any, ...]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


class _Keys:
    """Rollup keys of events, with the digests of field values cached (few distinct ones)."""

    def __init__(self) -> None:
        self._digests: dict[tuple[Any, ...], str] = {}
        self.dims: dict[str, dict[str, Any]] = {}  # digest -> the field values it stands for

    def of(self, rollup: Rollup, dims: Mapping[str, Any]) -> str:
        values = tuple(dims[f] for f in rollup.fields)
        found = self._digests.get(values)
        if found is None:
            found = self._digests[values] = _digest(values)
            self.dims[found] = dict(zip(rollup.fields, values, strict=True))
        return found


# --- additive ------------------------------------------------------------------------------

def _additive(rows: Iterable[Mapping[str, Any]], keys: _Keys
              ) -> dict[tuple[str, str, str, int, str], list[Any]]:
    """(pixel, rollup, name, hour, dk) -> [n, then per NUMERIC: count, sum, min, max]."""
    out: dict[tuple[str, str, str, int, str], list[Any]] = {}
    for row in rows:
        dims = dimension_values(row)
        hour = row["ts"] // HOUR_MS * HOUR_MS
        numbers = [row.get(c) for c in NUMERIC]
        for rollup in ROLLUPS:
            key = (row["pixel_id"], rollup.id, row["name"], hour, keys.of(rollup, dims))
            acc = out.get(key)
            if acc is None:
                acc = out[key] = [0] + [0, None, None, None] * len(NUMERIC)
            acc[0] += 1
            for i, v in enumerate(numbers):
                if v is None:
                    continue
                j = 1 + 4 * i
                acc[j] += 1
                acc[j + 1] = v if acc[j + 1] is None else acc[j + 1] + v
                acc[j + 2] = v if acc[j + 2] is None else min(acc[j + 2], v)
                acc[j + 3] = v if acc[j + 3] is None else max(acc[j + 3], v)
    return out


def _merge(op: str, table: str, col: str) -> str:
    """Portable NULL-aware combination of a stored and an incoming aggregate."""
    old, new = f"{table}.{col}", f"excluded.{col}"
    if op == "+":
        combined = f"{old} + {new}"
    else:
        combined = f"CASE WHEN {new} {op} {old} THEN {new} ELSE {old} END"
    return f"CASE WHEN {old} IS NULL THEN {new} WHEN {new} IS NULL THEN {old} ELSE {combined} END"


def _upsert_sql() -> str:
    values = [f"{n}_{a}" for n in NUMERIC for a in ("n", "sum", "min", "max")]
    cols = [*_KEY, *DIMENSIONS, "n", *values]
    sets = ["n = event_rollup.n + excluded.n"]
    for n in NUMERIC:
        sets.append(f"{n}_n = event_rollup.{n}_n + excluded.{n}_n")
        sets.append(f"{n}_sum = {_merge('+', 'event_rollup', f'{n}_sum')}")
        sets.append(f"{n}_min = {_merge('<', 'event_rollup', f'{n}_min')}")
        sets.append(f"{n}_max = {_merge('>', 'event_rollup', f'{n}_max')}")
    return (f"INSERT INTO event_rollup ({', '.join(cols)}) "
            f"VALUES ({', '.join(':' + c for c in cols)}) "
            f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {', '.join(sets)}")


_UPSERT = _upsert_sql()
_NUMERIC_COLS = [f"{n}_{a}" for n in NUMERIC for a in ("n", "sum", "min", "max")]


def _additive_params(found: Mapping[tuple[str, str, str, int, str], list[Any]], keys: _Keys
                     ) -> list[dict[str, Any]]:
    empty = dict.fromkeys(DIMENSIONS)
    params = []
    for (pixel, rollup, name, hour, dk), acc in found.items():
        p = {"pixel_id": pixel, "rollup": rollup, "name": name, "hour": hour, "dk": dk,
             **empty, **keys.dims[dk], "n": acc[0]}
        p.update(zip(_NUMERIC_COLS, acc[1:], strict=True))
        params.append(p)
    return params


# --- distinct ------------------------------------------------------------------------------

# What an event contributes to chains: (name, ts, *source columns); the value is the key.
_Shape = tuple[Any, ...]


def _shape(event: Mapping[str, Any]) -> _Shape:
    nc = event.get("new_customer")
    return (event["name"], int(event["ts"]),
            *(event.get(c) for c in _SOURCE_COLUMNS[:-1]), None if nc is None else bool(nc))


def _chains(shapes: Iterable[_Shape], col: str, keys: _Keys, out: Counter[tuple[Any, ...]],
            sign: int) -> None:
    """Add `sign` x the chain rows of one value's events to `out`."""
    hours: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for s in shapes:
        dims = dimension_values(dict(zip(_SOURCE_COLUMNS, s[2:], strict=True)))
        hour = s[1] // HOUR_MS * HOUR_MS
        for rollup in _DISTINCT_ROLLUPS:
            hours[(rollup.id, s[0], keys.of(rollup, dims))].add(hour)
    for (rollup_id, name, dk), found in hours.items():
        prev = None
        for hour in sorted(found):
            gap = 0 if prev is None else (hour - prev) // HOUR_MS
            out[(rollup_id, name, col, hour, gap, dk)] += sign
            prev = hour


def _in_list(values: Sequence[Any], prefix: str = "v") -> tuple[str, dict[str, Any]]:
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


_FETCH_CHUNK = 400
_SHAPE_SQL = ", ".join(("name", "ts", *_SOURCE_COLUMNS))


async def _distinct_deltas(ex: Executor, pixel: str, rows: Sequence[Mapping[str, Any]],
                           keys: _Keys) -> Counter[tuple[Any, ...]]:
    delta: Counter[tuple[Any, ...]] = Counter()
    for col in DISTINCT_COLUMNS:
        new: dict[Any, Counter[_Shape]] = defaultdict(Counter)
        for r in rows:
            if r.get(col) is not None:
                new[r[col]][_shape(r)] += 1
        values = list(new)
        for start in range(0, len(values), _FETCH_CHUNK):
            chunk = values[start:start + _FETCH_CHUNK]
            placeholders, params = _in_list(chunk)
            found = await ex.fetch(
                f"SELECT {col}, {_SHAPE_SQL} FROM event WHERE pixel_id = :pixel AND "
                f"{col} IN ({placeholders})", {"pixel": pixel, **params})
            after: dict[Any, Counter[_Shape]] = defaultdict(Counter)
            for row in found:
                nc = row[-1]
                after[row[0]][(row[1], int(row[2]), *row[3:-1],
                               None if nc is None else bool(nc))] += 1
            for value in chunk:
                now = after.get(value, Counter())
                _chains(now.elements(), col, keys, delta, +1)
                _chains((now - new[value]).elements(), col, keys, delta, -1)
    return delta


_DISTINCT_UPSERT = (
    f"INSERT INTO event_rollup_distinct ({', '.join((*_DISTINCT_KEY, *DIMENSIONS, 'n'))}) "
    f"VALUES ({', '.join(':' + c for c in (*_DISTINCT_KEY, *DIMENSIONS, 'n'))}) "
    f"ON CONFLICT ({', '.join(_DISTINCT_KEY)}) DO UPDATE SET n = event_rollup_distinct.n + "
    "excluded.n")
_DISTINCT_PRUNE = ("DELETE FROM event_rollup_distinct WHERE "
                   + " AND ".join(f"{c} = :{c}" for c in _DISTINCT_KEY) + " AND n = 0")


async def _write_distinct(ex: Executor, pixel: str, delta: Counter[tuple[Any, ...]],
                          keys: _Keys) -> None:
    empty = dict.fromkeys(DIMENSIONS)
    changed = [(k, n) for k, n in delta.items() if n]
    if not changed:
        return
    params = [{"pixel_id": pixel, "rollup": r, "name": name, "col": col, "hour": hour,
               "gap": gap, "dk": dk, **empty, **keys.dims[dk], "n": n}
              for (r, name, col, hour, gap, dk), n in changed]
    await ex.executemany(_DISTINCT_UPSERT, params)
    gone = [{c: p[c] for c in _DISTINCT_KEY} for p in params if p["n"] < 0]
    if gone:
        await ex.executemany(_DISTINCT_PRUNE, gone)


# --- entry points --------------------------------------------------------------------------

async def apply_rollups(ex: Executor, rows: Sequence[Mapping[str, Any]]) -> None:
    """Fold newly inserted `rows` (column mappings, already in `event`) into the rollups.

    Call inside the insert's transaction, after the insert, holding the write lock."""
    if not rows:
        return
    keys = _Keys()
    await ex.executemany(_UPSERT, _additive_params(_additive(rows, keys), keys))
    by_pixel: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_pixel[r["pixel_id"]].append(r)
    for pixel, mine in by_pixel.items():
        delta = await _distinct_deltas(ex, pixel, mine, keys)
        await _write_distinct(ex, pixel, delta, keys)


async def lock_pixels(ex: Executor, dialect: str, pixels: Iterable[str]) -> None:
    """PostgreSQL: serialize rollup maintenance per pixel for this transaction (SQLite's
    write lock already does)."""
    if dialect != "postgresql":
        return
    for pixel in sorted(set(pixels)):
        await ex.fetch("SELECT pg_advisory_xact_lock(hashtext(:p))", {"p": pixel})


async def rebuild_rollups(ex: Executor, pixel_id: str, *, chunk: int = 50_000,
                          progress: Callable[[int], None] | None = None) -> int:
    """Recompute one pixel's rollups from its events; returns the events read.

    Memory stays bounded by the rollups' size: events stream in id order for the additive
    part and in value order for the distinct part."""
    await ex.executemany("DELETE FROM event_rollup WHERE pixel_id = :p", [{"p": pixel_id}])
    await ex.executemany("DELETE FROM event_rollup_distinct WHERE pixel_id = :p",
                         [{"p": pixel_id}])
    keys = _Keys()
    cols = ("id", "pixel_id", "name", "ts", *_SOURCE_COLUMNS, *NUMERIC)
    total: dict[tuple[str, str, str, int, str], list[Any]] = {}
    last, read = -1, 0
    while True:
        batch = await ex.fetch(
            f"SELECT {', '.join(cols)} FROM event WHERE pixel_id = :p AND id > :last "
            f"ORDER BY id LIMIT {chunk}", {"p": pixel_id, "last": last})
        if not batch:
            break
        part = _additive((dict(zip(cols, r, strict=True)) for r in batch), keys)
        for k, acc in part.items():
            _fold(total, k, acc)
        last, read = batch[-1][0], read + len(batch)
        if progress is not None:
            progress(len(batch))
    if total:
        await ex.executemany(_UPSERT, _additive_params(total, keys))
    delta: Counter[tuple[Any, ...]] = Counter()
    for col in DISTINCT_COLUMNS:
        after: Any = None
        while True:
            past = f"{col} IS NOT NULL" if after is None else f"{col} > :after"
            batch = await ex.fetch(
                f"SELECT {col}, {_SHAPE_SQL} FROM event WHERE pixel_id = :p AND {past} "
                f"AND {col} IN (SELECT DISTINCT {col} FROM event WHERE pixel_id = :p AND "
                f"{past} ORDER BY {col} LIMIT {max(1, chunk // 10)}) ORDER BY {col}",
                {"p": pixel_id} if after is None else {"p": pixel_id, "after": after})
            if not batch:
                break
            grouped: dict[Any, list[_Shape]] = defaultdict(list)
            for row in batch:
                nc = row[-1]
                grouped[row[0]].append((row[1], int(row[2]), *row[3:-1],
                                        None if nc is None else bool(nc)))
            for shapes in grouped.values():
                _chains(shapes, col, keys, delta, +1)
            after = batch[-1][0]
    await _write_distinct(ex, pixel_id, delta, keys)
    return read


def _fold(total: dict[Any, list[Any]], key: Any, acc: list[Any]) -> None:
    cur = total.get(key)
    if cur is None:
        total[key] = acc
        return
    cur[0] += acc[0]
    for i in range(len(NUMERIC)):
        j = 1 + 4 * i
        if acc[j] == 0:
            continue
        cur[j] += acc[j]
        cur[j + 1] = acc[j + 1] if cur[j + 1] is None else cur[j + 1] + acc[j + 1]
        cur[j + 2] = acc[j + 2] if cur[j + 2] is None else min(cur[j + 2], acc[j + 2])
        cur[j + 3] = acc[j + 3] if cur[j + 3] is None else max(cur[j + 3], acc[j + 3])


def run_to_completion(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine whose awaits never suspend (a synchronous Executor) to its result:
    lets the migration reuse `rebuild_rollups` on Alembic's synchronous connection."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended; use a synchronous Executor")


class SyncExecutor:
    """An Executor over a synchronous SQLAlchemy connection (migrations)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list(self._conn.execute(text(sql), dict(params)).all())

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None:
        if params:
            self._conn.execute(text(sql), params)


class ConnectionExecutor:
    """An Executor over an async SQLAlchemy connection (PostgreSQL, sessions)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list((await self._conn.execute(text(sql), dict(params))).all())

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None:
        if params:
            await self._conn.execute(text(sql), params)


class SqliteExecutor:
    """An Executor over the aiosqlite driver connection (the event writer's fast path)."""

    def __init__(self, db: Any) -> None:
        self._db = db

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        cursor = await self._db.execute(sql, dict(params))
        return list(await cursor.fetchall())

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None:
        if params:
            await self._db.executemany(sql, params)

