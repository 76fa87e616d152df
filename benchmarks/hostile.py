"""Replay issue #10's hostile requests against a live gateway and time each answer.

    python benchmarks/hostile.py

One uvicorn worker on loopback (demo-sized store: one pixel, an analytics key). Each case is
sent once while a second client polls `GET /health` every 20 ms; the table shows the case's
status (and error code), its wall time, and the slowest `/health` answer meanwhile, against
the `/health` time of an idle server measured in the same run (the baseline: what a request
costs when nothing else runs). Before issue #10: the 20-level fan-out took 15.5 s and
`/health` timed out meanwhile; 200 wrong logins cost 41.5 CPU-seconds.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import bench_tenant, serve
from gateway.settings import Settings

Case = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]

def _fan_out(levels: int, *, alias: bool) -> str:
    leaf = "a: __typename" if alias else "__typename"
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "query { ...F0 } " + " ".join(fragments)


def _chain(n: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n)]
    fragments.append(f"fragment F{n} on Query {{ __typename }}")
    return "query { ...F0 } " + " ".join(fragments)


def _query_body(filters: Any) -> bytes:
    return json.dumps({"measures": ["core.revenue"], "granularity": "day",
                       "dateRange": {"start": "2026-11-01", "end": "2026-11-07"},
                       "filters": filters}).encode()


def _clauses(n: int) -> dict[str, Any]:
    return {"and": [{"field": "country", "op": "equals", "value": f"C{i}"} for i in range(n)]}


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"field": "country", "op": "equals", "value": "US"}
    for _ in range(depth):
        node = {"not": node}
    return node


def _cases(key: str, pixel: str) -> dict[str, Case]:
    auth = {"x-api-key": key, "x-pixel-id": pixel, "content-type": "application/json"}

    def gql(document: str, headers: dict[str, str] | None = None) -> Case:
        return lambda c: c.post("/graphql", json={"query": document}, headers=headers or {})

    def query(filters: Any) -> Case:
        return lambda c: c.post("/db-mgmt/api/query", content=_query_body(filters), headers=auth)

    async def logins(c: httpx.AsyncClient) -> httpx.Response:
        last = None
        for _ in range(200):
            last = await c.post("/accounts/api/auth/login", headers={
                "content-type": "application/json"},
                json={"email": "owner@bench.test", "password": "wrong password!"})
        assert last is not None
        return last

    async def chunked(c: httpx.AsyncClient) -> httpx.Response:
        async def body() -> Any:
            for _ in range(7):
                yield b" " * (1024 * 1024)
        return await c.post("/db-mgmt/api/query", content=body(), headers=auth)

    poison: list[dict[str, Any]] = [
        {"name": "page_view", "event_id": f"pv-{i}", "anonymous_id": "a",
         "url": f"https://shop.example/{i}"} for i in range(10)]
    poison.append({"name": "ad_spend", "platform": "meta", "spend": 1, "date": "2026-11-01",
                   "impressions": 2**63})
    return {
        "GraphQL fan-out, 20 levels, anonymous": gql(_fan_out(20, alias=False)),
        "GraphQL fan-out, 30 levels, aliased": gql(_fan_out(30, alias=True)),
        "GraphQL chain of 300 fragments": gql(_chain(300)),
        "GraphQL 3 MB document": gql("{ __typename }" + "#" * 3_000_000),
        "filter of 1,000 clauses": query(_clauses(1000)),
        "filter and x 40,000 (2.4 MB)": query(_clauses(40_000)),
        "filter nested 500 deep": query(_nested(500)),
        "10 events + impressions 2^63": lambda c: c.post(
            "/tr/api/events", content=json.dumps(poison).encode(), headers=auth),
        "webhook to 127.0.0.1": lambda c: c.post(
            "/api/v2/webhooks", json={"name": "x", "url": "http://127.0.0.1:6379/"},
            headers=auth),
        "7 MB chunked body": chunked,
        "200 wrong-password logins": logins,
    }


def _server_cpu(port: int) -> float:
    """CPU seconds (user + system, its threads included) of the uvicorn on `port`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"uvicorn" not in b" ".join(argv) or str(port).encode() not in argv:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks
    return float("nan")


async def _run(url: str, cases: dict[str, Case]) -> list[tuple[str, str, float, float, float]]:
    port = int(url.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=url, timeout=120) as client, \
            httpx.AsyncClient(base_url=url, timeout=120) as prober:
        idle = []
        for _ in range(50):
            started = time.perf_counter()
            await prober.get("/health")
            idle.append(time.perf_counter() - started)
        rows = [("idle server (baseline)", "200", 0.0, statistics.median(idle) * 1000, 0.0)]
        for name, case in cases.items():
            slowest = 0.0
            done = asyncio.Event()

            async def probe(done: asyncio.Event) -> None:
                nonlocal slowest
                while not done.is_set():
                    started = time.perf_counter()
                    await prober.get("/health")
                    slowest = max(slowest, time.perf_counter() - started)
                    await asyncio.sleep(0.02)

            poller = asyncio.create_task(probe(done))
            cpu = _server_cpu(port)
            started = time.perf_counter()
            response = await case(client)
            took = time.perf_counter() - started
            cpu = _server_cpu(port) - cpu
            done.set()
            await poller
            try:
                body = response.json()
            except ValueError:
                body = {}
            errors = body.get("errors") if isinstance(body, dict) else None
            code = (errors[0].get("extensions", {}).get("code") if isinstance(errors, list)
                    and errors and isinstance(errors[0], dict) else None) or (
                body.get("code") if isinstance(body, dict) else None)
            if isinstance(body, dict) and "accepted" in body:
                code = f"accepted {body['accepted']}, rejected {body['rejected']}"
            rows.append((name, f"{response.status_code} {code or ''}".strip(), took * 1000,
                         slowest * 1000, cpu))
            print(f"{name:<40} {rows[-1][1]:<24} {took * 1000:>9.1f} ms", file=sys.stderr)
    return rows


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}",
                        secret="bench-secret-" + "x" * 32)
    key, pixel = asyncio.run(bench_tenant(
        settings, ["analytics:read", "events:write", "alerts:write"],
        owner=("owner@bench.test", "correct horse battery")))
    env = {"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_SECRET": settings.secret,
           "GATEWAY_ALERTS": "0"}
    with serve("benchmarks._apps:gateway_app", env) as url:
        rows = asyncio.run(_run(url, _cases(key, pixel)))
    print("\nissue #10's hostile requests, one uvicorn worker on loopback\n")
    print(f"| {'request':<40} | {'answer':<26} | {'time ms':>9} | {'slowest /health ms':>18} "
          f"| {'server CPU s':>12} |")
    print(f"|{'-' * 42}|{'-' * 28}|{'-' * 11}|{'-' * 20}|{'-' * 14}|")
    for name, answer, took, health, cpu in rows:
        print(f"| {name:<40} | {answer:<26} | {took:>9.1f} | {health:>18.1f} | {cpu:>12.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
