"""Fairness: light requests while one pixel runs eight heavy analytics queries (issue #12).

    BENCH_PORTS=9200-9249 python benchmarks/fairness.py [--events 300000] [--seconds 10]
        [--baseline-checkout /path/to/an/older/checkout]

One uvicorn worker on loopback per variant, all on one SQLite file: pixel A (Asia/Kolkata,
~300,000 demo events over two years) and pixel B (a few days of events, a webhook and five
alerts). Three probes run back to back (20 ms apart) on their own connections: `GET
/health`, B's catalog read (`GET /db-mgmt/api/measures`) and B's alerts list (`GET
/api/v2/alerts`); first for `--seconds` on the idle server (the baseline, measured in the
same run), then for `--seconds` while eight clients of pixel A send the heavy query
(benchmarks/_harness.py HEAVY_QUERY: a year against the year before in a half-hour zone,
so raw events, by source and country; ~1.5 s alone) back to back. Variants:

- `defaults`: the gateway's settings (4 queries per process, 2 per pixel, 3 connections
  each, 5 s limit, 5 s queue);
- `no caps`: the caps raised out of reach (64 / 64 / 12 connections, 120 s limits): what
  one tenant does to the others when nothing bounds it;
- `baseline checkout` (with `--baseline-checkout`): `gateway.asgi:app_factory` served from
  another checkout, e.g. the commit before issue #12.

Prints p50/p99 per probe (ms) idle and loaded, the non-200 probe answers, and what the heavy
queries got (status counts, p50). Bounded: setup plus about (2 x seconds + 15 s) a variant.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    HEAVY_QUERY,
    Latencies,
    bench_tenant,
    heavy_load,
    heavy_tenant,
    serve,
)
from gateway.settings import Settings

PROBES = ("health", "catalog (pixel B)", "alerts (pixel B)")
NO_CAPS = {"GATEWAY_QUERY_CONCURRENCY": "64", "GATEWAY_QUERY_PIXEL_CONCURRENCY": "64",
           "GATEWAY_QUERY_CONNECTIONS": "12", "GATEWAY_QUERY_TIMEOUT_SECONDS": "120",
           "GATEWAY_QUERY_QUEUE_SECONDS": "120"}


async def _arrange_alerts(url: str, key: str) -> None:
    """Pixel B's webhook and five alerts (once: later variants find them)."""
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        listed = await client.get("/api/v2/alerts", headers=auth)
        listed.raise_for_status()
        if listed.json()["data"]:
            return
        hook = await client.post("/api/v2/webhooks", headers=auth, json={
            "name": "ops", "url": "https://1.1.1.1/hook"})  # public: never called (alerts off)
        hook.raise_for_status()
        for i in range(5):
            created = await client.post("/api/v2/alerts", headers=auth, json={
                "source": "measure", "measure": "core.revenue", "threshold": 100 + i,
                "thresholdType": "above", "interval": "1h", "name": f"alert {i}",
                "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]}})
            created.raise_for_status()


async def _probe(url: str, kind: str, headers: dict[str, str], path: str, seconds: float,
                 record: Latencies) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = await client.get(path, headers=headers)
            record.add(kind, time.monotonic() - started, response.status_code)
            await asyncio.sleep(0.02)


async def _probes(url: str, other: dict[str, str], seconds: float, record: Latencies) -> None:
    catalog = {"x-api-key": other["key"], "x-pixel-id": other["pixel"]}
    alerts = {"Authorization": f"Bearer {other['key']}"}
    await asyncio.gather(
        _probe(url, "health", {}, "/health", seconds, record),
        _probe(url, "catalog (pixel B)", catalog, "/db-mgmt/api/measures", seconds, record),
        _probe(url, "alerts (pixel B)", alerts, "/api/v2/alerts", seconds, record))


async def _variant(url: str, heavy: tuple[str, str], other: dict[str, str], seconds: float,
                   clients: int) -> tuple[Latencies, Latencies, float]:
    await _arrange_alerts(url, other["key"])
    alone = Latencies()  # the heavy query by itself, three times (the first warms caches)
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        for _ in range(3):
            started = time.monotonic()
            answer = await client.post("/db-mgmt/api/query", json=HEAVY_QUERY, headers={
                "x-api-key": heavy[0], "x-pixel-id": heavy[1]})
            answer.raise_for_status()
            alone.add("alone", time.monotonic() - started, answer.status_code)
    idle = Latencies()
    await _probes(url, other, seconds, idle)
    loaded = Latencies()
    await asyncio.gather(_probes(url, other, seconds, loaded),
                         heavy_load(url, *heavy, clients=clients, seconds=seconds,
                                    record=loaded))
    await asyncio.sleep(1.0)  # abandoned queries stop (or not: the baseline) before the next
    return idle, loaded, alone.p("alone", 0.5)


def _statuses(record: Latencies, kind: str) -> str:
    counts = record.statuses(kind)
    names = {0: "abandoned"}
    return ", ".join(f"{names.get(s, s)}: {n}" for s, n in sorted(counts.items())) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--baseline-checkout", type=Path, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
    try:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}",
                            secret="bench-secret-" + "x" * 32)
        print(f"seeding pixel A with ~{args.events:,} events ...", file=sys.stderr)
        heavy = asyncio.run(heavy_tenant(settings, events=args.events))
        key, pixel = asyncio.run(bench_tenant(settings, ["alerts:write", "analytics:read"]))
        other = {"key": key, "pixel": pixel}
        env = {"GATEWAY_DATABASE_URL": settings.database_url,
               "GATEWAY_SECRET": settings.secret, "GATEWAY_ALERTS": "0"}
        variants: list[tuple[str, dict[str, str], Path | None]] = [
            ("defaults", {}, None), ("no caps", NO_CAPS, None)]
        if args.baseline_checkout is not None:
            variants.append(("baseline checkout", {}, args.baseline_checkout.resolve()))
        results: list[tuple[str, Latencies, Latencies, float]] = []
        for name, extra, checkout in variants:
            print(f"variant {name} ...", file=sys.stderr)
            with serve("gateway.asgi:app_factory", {**env, **extra},
                       checkout=checkout) as url:
                idle, loaded, solo = asyncio.run(
                    _variant(url, heavy, other, args.seconds, args.clients))
            results.append((name, idle, loaded, solo))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _print(results, args)
    return 0


def _print(results: list[tuple[str, Latencies, Latencies, float]], args: Any) -> None:
    print(f"\n{args.clients} heavy queries of pixel A in flight for {args.seconds:g} s, "
          f"one uvicorn worker on loopback (a year against the year before in "
          f"{HEAVY_QUERY['timezone']}, ~{args.events:,} events)\n")
    print("| variant | probe | idle p50 | idle p99 | loaded p50 | loaded p99 | "
          "loaded non-200 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, idle, loaded, _ in results:
        for kind in PROBES:
            bad = sum(n for s, n in loaded.statuses(kind).items() if s != 200)
            print(f"| {name} | {kind} | {idle.p(kind, 0.5):.1f} | {idle.p(kind, 0.99):.1f} | "
                  f"{loaded.p(kind, 0.5):.1f} | {loaded.p(kind, 0.99):.1f} | {bad} |")
    print("\n| variant | heavy query alone ms (median of 3) | heavy answers while loaded | "
          "p50 of the 200s ms |")
    print("| --- | ---: | --- | ---: |")
    for name, _, loaded, solo in results:
        print(f"| {name} | {solo:.0f} | {_statuses(loaded, 'heavy')} | "
              f"{loaded.p('heavy', 0.5, status=200):.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
