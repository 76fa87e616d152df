"""Folding throughput: how fast `Database.fold_rollups()` catches up on a backlog.

    .venv/bin/python benchmarks/fold.py [--db bench-fold.sqlite3] [--events 200000]
                                        [--limit 20000] [--profile]

`--db` is a SQLite file of events not yet folded; when it does not exist, it is made: a
freshly migrated file with `--events` demo events (gateway.demo.generate_events, one pixel,
90 days) inserted with gateway.storage.events.insert_events, which only stores them (the
watermark stays at 0). Each run folds a copy (SQLite backup API), so the source stays a
backlog: `fold_rollups(limit)` is called until it returns 0, timed from the first call to the
last. Prints events/s, the rows of each rollup table and a digest of their contents (to check
that a change to the folding code leaves the rollups identical). `--profile` runs the fold under
cProfile and prints the top functions (the event-loop thread only: SQLite's own work runs in
aiosqlite's thread and shows up as waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import json
import pstats
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import store_demo_events
from gateway.services.tenancy import create_organization, create_pixel
from gateway.storage import Database

END = datetime(2026, 11, 20, 12, tzinfo=UTC)  # fixed, so the file is the same every time
DAYS = 90


async def _generate(path: Path, target: int) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    org = await create_organization(db, "bench", END)
    pixel = await create_pixel(db, org.id, "bench", END, timezone="America/New_York")
    t0 = time.perf_counter()
    written = await store_demo_events(db, pixel.id, days=DAYS, end=END, target=target)
    await db.dispose()
    print(f"generated {written:,} events into {path} in {time.perf_counter() - t0:.0f} s",
          flush=True)


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


async def _fold(path: Path, limit: int) -> tuple[int, float, int]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    behind = await db.rollup_lag()
    done, t0 = 0, time.perf_counter()
    while folded := await db.fold_rollups(limit):
        done += folded
    elapsed = time.perf_counter() - t0
    assert await db.rollup_lag() == 0
    await db.dispose()
    return done, elapsed, behind


def _sizes(path: Path, events: int) -> list[str]:
    out = []
    with sqlite3.connect(path) as conn:
        for table in ("event_rollup", "event_rollup_distinct"):
            per = conn.execute(f"SELECT rollup, COUNT(*) FROM {table} GROUP BY rollup "
                               "ORDER BY rollup").fetchall()
            rows = sum(n for _, n in per)
            out.append(f"{table:<23}{rows:>10,} rows ({rows / events:.3f} per event): "
                       + ", ".join(f"{r} {n:,}" for r, n in per))
        rows = conn.execute("SELECT COUNT(*) FROM event_rollup_value").fetchone()[0]
        out.append(f"{'event_rollup_value':<23}{rows:>10,} rows ({rows / events:.3f} per event)")
    conn.close()
    return out


def _digest(path: Path) -> str:
    """A digest of every rollup row in key order: equal digests, identical rollups."""
    h = hashlib.sha256()
    with sqlite3.connect(path) as conn:
        for table, key in (("event_rollup", "pixel_id, rollup, name, hour, dk"),
                           ("event_rollup_distinct",
                            "pixel_id, rollup, name, col, hour, gap, dk")):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {key}"):
                h.update(repr(row).encode())
        # A value's shapes are a set: stored in hash order, which varies between processes.
        for *key, shapes in conn.execute("SELECT pixel_id, col, value, shapes FROM "
                                         "event_rollup_value ORDER BY pixel_id, col, value"):
            h.update(repr((key, sorted(map(repr, json.loads(shapes))))).encode())
    conn.close()
    return h.hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="bench-fold.sqlite3")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--limit", type=int, default=20_000, help="events per fold_rollups call")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    source = Path(args.db).resolve()
    if not source.exists():
        asyncio.run(_generate(source, args.events))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "fold.sqlite3"
        _copy(source, copy)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        done, elapsed, behind = asyncio.run(_fold(copy, args.limit))
        if args.profile:
            profiler.disable()
        assert done == behind, (done, behind)
        print(f"folded {done:,} events in {elapsed:.2f} s: {done / elapsed:,.0f} events/s "
              f"(fold_rollups limit {args.limit:,})")
        for line in _sizes(copy, done):
            print(line)
        print(f"rollup content digest: {_digest(copy)}")
        if args.profile:
            buf = io.StringIO()
            stats = pstats.Stats(profiler, stream=buf)
            stats.sort_stats("tottime").print_stats(20)
            print(buf.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
