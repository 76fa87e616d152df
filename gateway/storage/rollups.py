"""Hourly rollups of events, exact, folded off the write path by a background task.

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
  hours since the same chain last occurred (0: never before; NO_VALUE rows count events
  without a value, so that their groups are listed, as a raw scan lists them, with 0). A
  value is counted once in a
  bucket at the first hour of the bucket in which it occurs, which is exactly the rows whose
  previous occurrence (`hour - gap`) lies before the bucket: a plain conditional SUM, no
  DISTINCT. This is exact only when the query groups by exactly the rollup's fields and
  filters on no other field (else a value seen under two field values would count twice);
  `gateway.engine.rollup_plan` checks that and falls back to raw events otherwise.

When: off the write path, on both backends. Inserting events only stores them; `fold` moves
a watermark over new events in id order, in batches: `Database.fold_rollups`, run by a
background task of every gateway process (it yields to ingestion: gateway/app.py
`_fold_rollups`) and, before a query reads rollups, for what little is left
(`Database.rollups_current`), so a query never misses an acknowledged event. Folding each
request's rows in its own transaction cut ingestion 4x (measured). Far behind (after an
import, a burst, or migration 0007 on an existing database) queries scan raw events until
the background task has caught up.

The watermark is safe only if no id below it can still appear. SQLite assigns ids and
commits in one order, under the write lock the fold holds. A PostgreSQL sequence hands ids
to transactions that commit in any order, so there every statement inserting events first
takes a shared advisory lock (`EVENT_INSERT_LOCK`, a trigger: migration 0011), and a folder
reads its *horizon* (`max(id)`) holding that lock exclusively for an instant: every id up
to the horizon is then settled, every id drawn later lies above it, and the fold reads only
up to it. Folders exclude each other through the state row (`FOR UPDATE`: the background
folders skip a locked one, a query waits for it), so concurrent folders in many processes
fold every event exactly once.

How: additive deltas come from the new rows alone; for distinct counts,
`event_rollup_value` keeps, per value, where it occurred (distinct event name x hour x
source); the chains of every value the new rows add to are recomputed with and without the
new occurrences, and the difference is applied. Late and out-of-order events are therefore
exact too. (Indexes on the event table by session, visitor and customer would serve the
same look-ups but cost every insert three random b-tree writes: 2.7x slower ingestion.)

Storage knows nothing above it: the field list here is the storage-side mirror of the
groupable fields in `gateway.engine.fields` (tests pin that each stored field exists there).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, String, Table, Text, text

from gateway.channels import channel_of
from gateway.storage.models import metadata

__all__ = [
    "DIMENSIONS",
    "DISTINCT_COLUMNS",
    "EVENT_INSERT_LOCK",
    "HOUR_MS",
    "NO_VALUE",
    "NUMERIC",
    "ROLLUPS",
    "ROLLUP_DISTINCT_TABLE",
    "ROLLUP_STATE_TABLE",
    "ROLLUP_TABLE",
    "ROLLUP_VALUE_TABLE",
    "ConnectionExecutor",
    "Executor",
    "Rollup",
    "RollupKeys",
    "SqliteExecutor",
    "apply_rollups",
    "dimension_values",
    "fold",
    "insert_horizon",
    "lag",
    "source_of",
]

HOUR_MS = 3_600_000
# `gap` of the rows that count events without a value (never counted as distinct values).
NO_VALUE = -1
NUMERIC = ("revenue", "spend", "impressions", "clicks")
DISTINCT_COLUMNS = ("session_id", "anonymous_id", "user_id")
# Stored fields (groupable, low cardinality). channel and customer_type are derived.
DIMENSIONS = ("utm_source", "utm_medium", "utm_campaign", "channel", "country", "device",
              "platform", "campaign", "currency", "customer_type", "new_customer")


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


ROLLUP_VALUE_TABLE = Table(
    "event_rollup_value", metadata,
    Column("pixel_id", String(36), primary_key=True),
    Column("col", String(16), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("shapes", Text, nullable=False),  # JSON: [[name, hour, source], ...]
    sqlite_with_rowid=False,
)


# One row (id 1): the last event id folded into the rollups (see `fold`).
ROLLUP_STATE_TABLE = Table(
    "event_rollup_state", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_event_id", BigInteger, nullable=False),
)


class Executor(Protocol):
    """The calls maintenance needs; SQL uses `:name` parameters (sqlite3 and SQLAlchemy
    `text()` both take them). `arrays`: the database takes array parameters (PostgreSQL),
    so a batch of rows is written by one statement over one array per column (`unnest`)
    instead of one execution per row: 3-5x faster folds there."""

    arrays: bool

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]: ...

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None: ...

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class _Upsert:
    """An INSERT ... ON CONFLICT DO UPDATE in its two forms: per row (`rows_sql`, VALUES of
    `:name` parameters, for executemany) and per batch (`arrays_sql`: SELECT FROM unnest of
    one array parameter per column, cast to its PostgreSQL type). A batch must not hold one
    key twice (PostgreSQL refuses to update a row twice in one statement); every caller
    builds its batch keyed by the conflict columns."""

    table: str
    columns: tuple[tuple[str, str], ...]  # (name, PostgreSQL type)
    conflict: tuple[str, ...]
    sets: str

    @property
    def rows_sql(self) -> str:
        names = [c for c, _ in self.columns]
        return (f"INSERT INTO {self.table} ({', '.join(names)}) "  # noqa: S608  # fixed identifiers; values bound
                f"VALUES ({', '.join(':' + c for c in names)}) "
                f"ON CONFLICT ({', '.join(self.conflict)}) DO UPDATE SET {self.sets}")

    @property
    def arrays_sql(self) -> str:
        names = [c for c, _ in self.columns]
        arrays = ", ".join(f"CAST(:{c} AS {t}[])" for c, t in self.columns)
        return (f"INSERT INTO {self.table} ({', '.join(names)}) "  # noqa: S608  # fixed identifiers; values bound
                f"SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT ({', '.join(self.conflict)}) DO UPDATE SET {self.sets}")


async def _upsert(ex: Executor, upsert: _Upsert, params: list[dict[str, Any]]) -> None:
    if not params:
        return
    if ex.arrays:
        await ex.execute(upsert.arrays_sql,
                         {c: [p[c] for p in params] for c, _ in upsert.columns})
    else:
        await ex.executemany(upsert.rows_sql, params)


# An event's *source*: the event columns its stored fields derive from, the referrer reduced
# to whether it is set (all channel needs). Few distinct sources exist, so everything derived
# from one is computed once per batch.
Source = tuple[Any, ...]


def source_of(event: Mapping[str, Any]) -> Source:
    nc = event.get("new_customer")
    return (event.get("utm_source"), event.get("utm_medium"), event.get("utm_campaign"),
            event.get("referrer") is not None, event.get("country"), event.get("device"),
            event.get("platform"), event.get("campaign"), event.get("currency"),
            None if nc is None else bool(nc))


def dimension_values(src: Source) -> dict[str, Any]:
    """The stored fields of an event, from its source."""
    (utm_source, utm_medium, utm_campaign, has_referrer, country, device, platform, campaign,
     currency, nc) = src
    return {
        "utm_source": utm_source, "utm_medium": utm_medium, "utm_campaign": utm_campaign,
        "channel": channel_of(utm_medium, utm_source, "set" if has_referrer else None),
        "country": country, "device": device, "platform": platform, "campaign": campaign,
        "currency": currency,
        "customer_type": None if nc is None else "new_customer" if nc else "returning_customer",
        "new_customer": nc,
    }


class RollupKeys:
    """Per source, the key (`dk`) of each rollup: a digest of the rollup's field names and
    values; `dims[dk]` maps it back to the values stored in the row. Sources repeat across
    writes, so one instance lives as long as its database (`Database.rollup_keys`); it starts
    over past `limit` sources."""

    def __init__(self, limit: int = 50_000) -> None:
        self._by_source: dict[Source, tuple[str, ...]] = {}
        self.dims: dict[str, dict[str, Any]] = {}
        self._limit = limit

    def trim(self) -> None:
        """Between writes: start over when the cache has grown past its limit."""
        if len(self._by_source) >= self._limit:
            self._by_source.clear()
            self.dims.clear()

    def of(self, src: Source) -> tuple[str, ...]:
        """The dk of each rollup of ROLLUPS, in order."""
        found = self._by_source.get(src)
        if found is None:
            values = dimension_values(src)
            keys = []
            for r in ROLLUPS:
                mine = {f: values[f] for f in r.fields}
                raw = json.dumps([r.fields, [mine[f] for f in r.fields]], separators=(",", ":"))
                dk = hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()
                self.dims.setdefault(dk, mine)
                keys.append(dk)
            found = self._by_source[src] = tuple(keys)
        return found


_IDS = tuple(r.id for r in ROLLUPS)
_DISTINCT_AT = tuple(i for i, r in enumerate(ROLLUPS) if r.distinct)


# --- additive ------------------------------------------------------------------------------

def _additive(rows: Iterable[Mapping[str, Any]], shapes: Iterable[Shape], keys: RollupKeys
              ) -> dict[tuple[str, str, str, int, str], list[Any]]:
    """(pixel, rollup, name, hour, dk) -> [n, then per NUMERIC: count, sum, min, max];
    `shapes`: each row's (name, hour, source), in the same order."""
    out: dict[tuple[str, str, str, int, str], list[Any]] = {}
    for row, (name, hour, src) in zip(rows, shapes, strict=True):
        dks = keys.of(src)
        pixel = row["pixel_id"]
        numbers = [(1 + 4 * i, v) for i, c in enumerate(NUMERIC)
                   if (v := row.get(c)) is not None]
        for rollup_id, dk in zip(_IDS, dks, strict=True):
            key = (pixel, rollup_id, name, hour, dk)
            acc = out.get(key)
            if acc is None:
                acc = out[key] = [0, *([0, None, None, None] * len(NUMERIC))]
            acc[0] += 1
            for j, v in numbers:
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


# PostgreSQL types of the columns, for the array form of the upserts.
_TYPES = {"pixel_id": "text", "rollup": "text", "name": "text", "hour": "bigint", "dk": "text",
          "col": "text", "gap": "integer", "n": "bigint", "value": "text", "shapes": "text",
          **{f: "boolean" if f == "new_customer" else "text" for f in DIMENSIONS},
          **{f"{n}_{a}": "bigint" if a == "n" else "float8"
             for n in NUMERIC for a in ("n", "sum", "min", "max")}}


def _columns(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((c, _TYPES[c]) for c in names)


def _additive_upsert() -> _Upsert:
    values = [f"{n}_{a}" for n in NUMERIC for a in ("n", "sum", "min", "max")]
    sets = ["n = event_rollup.n + excluded.n"]
    for n in NUMERIC:
        sets.append(f"{n}_n = event_rollup.{n}_n + excluded.{n}_n")
        sets.append(f"{n}_sum = {_merge('+', 'event_rollup', f'{n}_sum')}")
        sets.append(f"{n}_min = {_merge('<', 'event_rollup', f'{n}_min')}")
        sets.append(f"{n}_max = {_merge('>', 'event_rollup', f'{n}_max')}")
    return _Upsert("event_rollup", _columns(*_KEY, *DIMENSIONS, "n", *values), _KEY,
                   ", ".join(sets))


_UPSERT = _additive_upsert()
_NUMERIC_COLS = [f"{n}_{a}" for n in NUMERIC for a in ("n", "sum", "min", "max")]


def _additive_params(found: Mapping[tuple[str, str, str, int, str], list[Any]], keys: RollupKeys
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

# Where one value (a session id, say) occurred: the distinct (event name, hour, source)
# of its events. Kept per value in `event_rollup_value`, so a write reads and rewrites only
# the values it touches; the chains (and so the distinct rows) follow from it.
Shape = tuple[str, int, Source]


def _chains(shapes: Iterable[Shape], col: str, keys: RollupKeys, out: Counter[tuple[Any, ...]],
            sign: int) -> None:
    """Add `sign` x the chain rows of one value's shapes to `out`."""
    hours: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for name, hour, src in shapes:
        dks = keys.of(src)
        for i in _DISTINCT_AT:
            hours[(_IDS[i], name, dks[i])].add(hour)
    for (rollup_id, name, dk), found in hours.items():
        prev = None
        for hour in sorted(found):
            out[(rollup_id, name, col, hour,
                 0 if prev is None else (hour - prev) // HOUR_MS, dk)] += sign
            prev = hour


def _encode(shapes: Iterable[Shape]) -> str:
    return json.dumps([[n, h, list(s)] for n, h, s in shapes], separators=(",", ":"))


def _decode(raw: str) -> set[Shape]:
    return {(n, h, tuple(s)) for n, h, s in json.loads(raw)}


def _in_list(values: Sequence[Any], prefix: str = "v") -> tuple[str, dict[str, Any]]:
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


_FETCH_CHUNK = 400  # values per IN (...) look-up, well under SQLite's variable limit
_FETCH_ARRAY_CHUNK = 5000  # values per = ANY(array) look-up (PostgreSQL: one parameter)
# One index probe per value, whatever the statistics say: with `value = ANY(:values)` a
# planner that has not yet analyzed the table (a fresh or freshly loaded one) expects one
# row per (pixel, col) and filters all of them instead (40 ms a look-up at 15,000 values,
# growing with the table). OFFSET 0 keeps the LATERAL from being flattened into a join.
_VALUES_BY_ARRAY = (
    "SELECT v.value, v.shapes FROM unnest(CAST(:values AS text[])) AS q(value) "
    "CROSS JOIN LATERAL (SELECT value, shapes FROM event_rollup_value WHERE "
    "pixel_id = :pixel AND col = :col AND value = q.value OFFSET 0) AS v")
_VALUE_UPSERT = _Upsert("event_rollup_value", _columns("pixel_id", "col", "value", "shapes"),
                        ("pixel_id", "col", "value"), "shapes = excluded.shapes")


async def _distinct_deltas(ex: Executor, pixel: str, rows: Sequence[Mapping[str, Any]],
                           shapes: Sequence[Shape], keys: RollupKeys
                           ) -> tuple[Counter[tuple[Any, ...]], list[dict[str, Any]]]:
    """The changes to distinct rows, and the new states of the values that changed;
    `shapes`: each row's (name, hour, source), in the same order."""
    delta: Counter[tuple[Any, ...]] = Counter()
    states: list[dict[str, Any]] = []
    for col in DISTINCT_COLUMNS:
        new: dict[Any, set[Shape]] = defaultdict(set)
        for r, shape in zip(rows, shapes, strict=True):
            v = r.get(col)
            if v is not None:
                new[v].add(shape)
            else:  # counts nothing, but lists the group (a raw scan lists it with 0)
                name, hour, src = shape
                dks = keys.of(src)
                for i in _DISTINCT_AT:
                    delta[(_IDS[i], name, col, hour, NO_VALUE, dks[i])] += 1
        values = list(new)
        step = _FETCH_ARRAY_CHUNK if ex.arrays else _FETCH_CHUNK
        for start in range(0, len(values), step):
            chunk = values[start:start + step]
            if ex.arrays:
                found = await ex.fetch(_VALUES_BY_ARRAY,
                                       {"pixel": pixel, "col": col, "values": chunk})
            else:
                placeholders, params = _in_list(chunk)
                found = await ex.fetch(
                    "SELECT value, shapes FROM event_rollup_value WHERE pixel_id = :pixel "  # noqa: S608  # fixed identifiers; values bound
                    f"AND col = :col AND value IN ({placeholders})",
                    {"pixel": pixel, "col": col, **params})
            before_of = {v: _decode(raw) for v, raw in found}
            for value in chunk:
                before = before_of.get(value, set())
                added = new[value] - before
                if not added:
                    continue  # nothing new for this value: no chain changes
                after = before | added
                _chains(after, col, keys, delta, +1)
                if before:
                    _chains(before, col, keys, delta, -1)
                states.append({"pixel_id": pixel, "col": col, "value": value,
                               "shapes": _encode(after)})
    return delta, states


_DISTINCT_UPSERT = _Upsert("event_rollup_distinct",
                           _columns(*_DISTINCT_KEY, *DIMENSIONS, "n"), _DISTINCT_KEY,
                           "n = event_rollup_distinct.n + excluded.n")
_DISTINCT_PRUNE = ("DELETE FROM event_rollup_distinct WHERE "  # noqa: S608  # fixed identifiers; values bound
                   + " AND ".join(f"{c} = :{c}" for c in _DISTINCT_KEY) + " AND n = 0")


async def _write_distinct(ex: Executor, pixel: str, delta: Counter[tuple[Any, ...]],
                          keys: RollupKeys) -> None:
    empty = dict.fromkeys(DIMENSIONS)
    changed = [(k, n) for k, n in delta.items() if n]
    if not changed:
        return
    params = [{"pixel_id": pixel, "rollup": r, "name": name, "col": col, "hour": hour,
               "gap": gap, "dk": dk, **empty, **keys.dims[dk], "n": n}
              for (r, name, col, hour, gap, dk), n in changed]
    await _upsert(ex, _DISTINCT_UPSERT, params)
    gone = [{c: p[c] for c in _DISTINCT_KEY} for p in params if p["n"] < 0]
    if gone:
        await ex.executemany(_DISTINCT_PRUNE, gone)


# --- entry points --------------------------------------------------------------------------

async def apply_rollups(ex: Executor, rows: Sequence[Mapping[str, Any]], keys: RollupKeys
                        ) -> None:
    """Fold stored `rows` (column mappings) into the rollups; call holding the write lock."""
    if not rows:
        return
    keys.trim()
    # Each row's (name, hour, source), computed once: the additive and the three distinct
    # passes all need it (computing it per pass was the largest avoidable cost of a fold).
    shapes = [(r["name"], r["ts"] // HOUR_MS * HOUR_MS, source_of(r)) for r in rows]
    await _upsert(ex, _UPSERT, _additive_params(_additive(rows, shapes, keys), keys))
    by_pixel: dict[str, tuple[list[Mapping[str, Any]], list[Shape]]] = defaultdict(
        lambda: ([], []))
    for r, shape in zip(rows, shapes, strict=True):
        its_rows, its_shapes = by_pixel[r["pixel_id"]]
        its_rows.append(r)
        its_shapes.append(shape)
    for pixel, (mine, mine_shapes) in by_pixel.items():
        delta, states = await _distinct_deltas(ex, pixel, mine, mine_shapes, keys)
        await _write_distinct(ex, pixel, delta, keys)
        await _upsert(ex, _VALUE_UPSERT, states)


_EVENT_COLS = ("id", "pixel_id", "name", "ts", "utm_source", "utm_medium", "utm_campaign",
               "referrer", "country", "device", "platform", "campaign", "currency",
               "new_customer", *NUMERIC, *DISTINCT_COLUMNS)


async def fold(ex: Executor, limit: int, keys: RollupKeys, *, horizon: int | None = None,
               lock: str = "") -> int:
    """Fold up to `limit` events past the watermark into the rollups, in id order, and move
    the watermark; returns how many. Run in one transaction, on SQLite holding the write
    lock; on PostgreSQL with the `horizon` read just before (`insert_horizon`: no id at or
    below it is still in flight) and `lock` = "FOR UPDATE" (wait for another folder) or
    "FOR UPDATE SKIP LOCKED" (return 0 if one is at work). `keys`: the database's rollup
    key cache."""
    found = await ex.fetch(
        f"SELECT last_event_id FROM event_rollup_state WHERE id = 1 {lock}", {})  # noqa: S608  # a fixed clause
    if not found:
        return 0  # SKIP LOCKED: another folder holds the watermark
    [(mark,)] = found
    bound = "" if horizon is None else "AND id <= :horizon "
    batch = await ex.fetch(f"SELECT {', '.join(_EVENT_COLS)} FROM event WHERE id > :mark "  # noqa: S608  # fixed identifiers; values bound
                           f"{bound}ORDER BY id LIMIT {int(limit)}",
                           {"mark": mark, **({} if horizon is None else {"horizon": horizon})})
    if not batch:
        return 0
    await apply_rollups(ex, [dict(zip(_EVENT_COLS, r, strict=True)) for r in batch], keys)
    await ex.executemany("UPDATE event_rollup_state SET last_event_id = :id WHERE id = 1",
                         [{"id": batch[-1][0]}])
    return len(batch)


# Held shared by every statement inserting events (PostgreSQL; migration 0011 keeps its own
# copy of the number), exclusively by `insert_horizon` for an instant.
EVENT_INSERT_LOCK = 0x6761746577617965


async def insert_horizon(conn: Any) -> int:
    """PostgreSQL: the largest event id such that every id at or below it is committed or
    rolled back (see the module docstring); commits the connection's transaction, which
    releases the lock at once. `conn`: an async SQLAlchemy connection."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_INSERT_LOCK})
    top = (await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM event"))).scalar_one()
    await conn.commit()
    return int(top)


async def lag(ex: Executor) -> int:
    """Events stored but not yet folded."""
    [(behind,)] = await ex.fetch(
        "SELECT COALESCE((SELECT MAX(id) FROM event), 0) - "
        "(SELECT last_event_id FROM event_rollup_state WHERE id = 1)", {})
    return int(behind)


class ConnectionExecutor:
    """An Executor over an async SQLAlchemy connection (PostgreSQL, sessions)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.arrays = conn.dialect.name == "postgresql"

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list((await self._conn.execute(text(sql), dict(params))).all())

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        await self._conn.execute(text(sql), dict(params))

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None:
        if params:
            await self._conn.execute(text(sql), params)


class SqliteExecutor:
    """An Executor over the aiosqlite driver connection (the event writer's fast path)."""

    arrays = False

    def __init__(self, db: Any) -> None:
        self._db = db

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        cursor = await self._db.execute(sql, dict(params))
        return list(await cursor.fetchall())

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        await self._db.execute(sql, dict(params))

    async def executemany(self, sql: str, params: list[dict[str, Any]]) -> None:
        if params:
            await self._db.executemany(sql, params)

