"""What the access log and the metrics cost: the catalog benchmark's REST route with them
on and off (issue #17).

    python benchmarks/operations.py [--seconds 4] [--connections 32] [--rounds 3]

Each variant is `gateway.asgi:app_factory` (what `gateway serve` runs, so the access log is
written: to the server's log file) under one uvicorn worker, interleaved for `--rounds`:

1. bare Starlette serving the same bytes (the baseline of benchmarks/catalog.py)
2. access log and metrics on (the defaults)
3. access log off (GATEWAY_ACCESS_LOG=0), metrics on
4. both off (GATEWAY_METRICS=0 too): only the request-id middleware is left

then, in process, the CPU microseconds one request's recording costs (CPU time, not wall
time: steady on a shared machine, where wrk's figures swing by 20 %): the metrics, and the
metrics plus the access line written through a stream handler.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import WrkResult, bench_tenant, require_wrk, serve, wrk
from gateway.metrics import Metrics
from gateway.observe import ObserveMiddleware, access_log
from gateway.settings import Settings

PATH = "/db-mgmt/api/measures"


def recording_cost(n: int = 50_000) -> dict[str, float]:
    """CPU µs per request of `ObserveMiddleware._record`: metrics only, and with the line."""
    from starlette.routing import Route

    scope = {"type": "http", "method": "GET", "path": PATH, "raw_path": PATH.encode(),
             "headers": [(b"host", b"x"), (b"x-api-key", b"upstack_" + b"a" * 40),
                         (b"x-pixel-id", b"p")], "client": ("127.0.0.1", 1),
             "route": Route(PATH, lambda r: None), "gateway.request_id": "0" * 24}
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115  # closed below
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    out = {}
    for name, log_on in (("metrics", False), ("metrics + access line", True)):
        mw = ObserveMiddleware(None, metrics=Metrics(), access_log=log_on,  # type: ignore[arg-type]  # _record never calls the app
                               key_prefix="upstack_")
        started = time.process_time()
        for _ in range(n):
            mw._record(scope, 200, 0.001)
        out[name] = (time.process_time() - started) / n * 1e6
    access_log.removeHandler(handler)
    handler.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}",
                        secret="bench-secret-" + "x" * 32)
    key, pixel = asyncio.run(bench_tenant(settings, ["events:write"]))
    env = {"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_SECRET": settings.secret,
           "GATEWAY_ALERTS": "0"}
    auth = {"x-api-key": key, "x-pixel-id": pixel}
    factory = "gateway.asgi:app_factory"
    results: dict[str, list[WrkResult]] = {}
    with serve("benchmarks._apps:bare_catalog_app", env) as bare, \
            serve(factory, env) as both, \
            serve(factory, {**env, "GATEWAY_ACCESS_LOG": "0"}) as metrics_only, \
            serve(factory, {**env, "GATEWAY_ACCESS_LOG": "0", "GATEWAY_METRICS": "0"}) as off:
        baseline = httpx.get(f"{bare}{PATH}").content
        for url in (both, metrics_only, off):
            assert httpx.get(f"{url}{PATH}", headers=auth).content == baseline
        variants = {"bare Starlette (baseline)": (bare, {}),
                    "access log + metrics (default)": (both, auth),
                    "metrics only": (metrics_only, auth),
                    "both off": (off, auth)}
        for url, headers in variants.values():
            wrk(f"{url}{PATH}", seconds=1, connections=4, headers=headers)
        for r in range(args.rounds):
            for name, (url, headers) in variants.items():
                res = wrk(f"{url}{PATH}", seconds=args.seconds, connections=args.connections,
                          headers=headers)
                results.setdefault(name, []).append(res)
                print(f"round {r + 1}/{args.rounds}  {name:<32} {res.requests_per_s:>9.0f} "
                      "req/s", file=sys.stderr)
    base = statistics.median(r.requests_per_s for r in results["bare Starlette (baseline)"])
    off_rps = statistics.median(r.requests_per_s for r in results["both off"])
    print(f"\nREST {PATH}, {args.connections} connections, {args.seconds}s x {args.rounds} "
          "rounds, medians\n")
    print(f"| {'variant':<32} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs bare':>7} "
          f"| {'vs off':>7} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, runs in results.items():
        rps = statistics.median(r.requests_per_s for r in runs)
        print(f"| {name:<32} | {rps:>8.0f} | {statistics.median(r.p50_ms for r in runs):>7.2f} "
              f"| {statistics.median(r.p99_ms for r in runs):>7.2f} | {rps / base:>6.3f}x "
              f"| {rps / off_rps:>6.3f}x |")
    print("\nin process, CPU per request:", ", ".join(
        f"{name} {us:.1f} µs" for name, us in recording_cost().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
