"""Serve the measures catalog three ways in one run and compare them under wrk.

    python benchmarks/catalog.py [--seconds 8] [--connections 32] [--rounds 3]

1. bare Starlette: the same JSON bytes, encoded once at start, no auth (baseline: the limit
   a cache reaches, so the ratios say what is left besides encoding)
1b. the floor: bare Starlette plus the least any handler that authenticates and audits must
   do (the key's HMAC, one dict look-up, one audit row written by the real AuditLog;
   benchmarks/_apps.py `floor_catalog_app`): the second reference, what 0.6x is up against
2. REST: GET /db-mgmt/api/measures on the gateway (key verification, audit, resolver, and
   the body encoded once per catalog version)
3. GraphQL: the equivalent query on /graphql (pure-field result cache on, the default)
4. GraphQL with the result cache off (GATEWAY_GRAPHQL_RESULT_CACHE=0): full execution
5. REST as a stored GraphQL operation (the REST mechanism not taken, for the record:
   gateway/rest/base.py), with the result cache on and off (off: what every non-pure route
   would cost)

Each server is one uvicorn worker; wrk uses one thread, so server and load generator each get
a core. Variants are interleaved for `--rounds` rounds; the table shows medians and the ratio
of requests/s to bare Starlette. Goals (issues #2, #11): GraphQL >= 0.25x, REST >= 0.6x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import WrkResult, bench_tenant, cpu_seconds, require_wrk, serve, wrk
from gateway.settings import Settings

FIELDS = ("key title description category unit format isAverage isPercentage isAdditive "
          "hasPacing preferredTrendDirection synonyms formula aggregation")
QUERY = json.dumps({"query": "{ measures { " + FIELDS + " } }"})
UNREACHED_LIMITS = "upstack=1000000/1,graphql=1000000/1"

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rest-only", action="store_true",
                        help="only the baseline, the floor and the REST route")
    args = parser.parse_args()
    require_wrk()

    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}",
                        secret="bench-secret-" + "x" * 32)
    key, pixel = asyncio.run(bench_tenant(settings, ["events:write"]))
    # The rate limiter runs on every request (its cost is part of the figures), with limits
    # no run reaches, so every variant measures the admitted path (issue #12).
    env = {"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_SECRET": settings.secret,
           "GATEWAY_RATE_LIMITS": UNREACHED_LIMITS}
    auth = {"x-api-key": key, "x-pixel-id": pixel}
    gql_headers = {**auth, "content-type": "application/json"}

    results: dict[str, list[WrkResult]] = {}
    cpu_us: dict[str, list[float]] = {}  # server CPU per request, per round
    with serve("benchmarks._apps:bare_catalog_app", env) as bare, \
            serve("benchmarks._apps:floor_catalog_app", env) as floor, \
            serve("benchmarks._apps:gateway_app", env) as gw, \
            serve("benchmarks._apps:gateway_app",
                  {**env, "GATEWAY_GRAPHQL_RESULT_CACHE": "0"}) as raw:
        # Same payload everywhere, or the comparison means nothing (REST: the same bytes).
        baseline = httpx.get(f"{bare}/db-mgmt/api/measures")
        expected = baseline.json()["measures"]
        assert httpx.get(f"{gw}/db-mgmt/api/measures", headers=auth).content == baseline.content
        assert httpx.get(f"{floor}/db-mgmt/api/measures",
                         headers=auth).content == baseline.content
        assert httpx.get(f"{gw}/bench/measures-operation",
                         headers=auth).json()["measures"] == expected
        gql = httpx.post(f"{gw}/graphql", content=QUERY, headers=gql_headers).json()
        assert [m["key"] for m in gql["data"]["measures"]] == [m["key"] for m in expected]
        # name -> (server, path, method, headers, body)
        variants: dict[str, tuple[str, str, str, dict[str, str], str | None]] = {
            "bare Starlette (baseline)": (bare, "/db-mgmt/api/measures", "GET", {}, None),
            "floor: HMAC, dict, audit row": (floor, "/db-mgmt/api/measures", "GET", auth, None),
            "REST /db-mgmt/api/measures": (gw, "/db-mgmt/api/measures", "GET", auth, None),
            "GraphQL { measures }": (gw, "/graphql", "POST", gql_headers, QUERY),
            "GraphQL, result cache off": (raw, "/graphql", "POST", gql_headers, QUERY),
            "REST via stored operation": (gw, "/bench/measures-operation", "GET", auth, None),
            "REST stored op, cache off": (raw, "/bench/measures-operation", "GET", auth, None),
        }
        if args.rest_only:
            variants = dict(list(variants.items())[:3])
        wrk(f"{gw}/db-mgmt/api/measures", seconds=1, connections=4, headers=auth)
        wrk(f"{floor}/db-mgmt/api/measures", seconds=1, connections=4, headers=auth)
        wrk(f"{gw}/graphql", seconds=1, connections=4, method="POST", headers=gql_headers,
            body=QUERY)
        for r in range(args.rounds):
            for name, (server, path, method, headers, body) in variants.items():
                before = cpu_seconds(server)
                res = wrk(server + path, seconds=args.seconds, connections=args.connections,
                          method=method, headers=headers, body=body)
                after = cpu_seconds(server)
                results.setdefault(name, []).append(res)
                if before is not None and after is not None and res.requests:
                    cpu_us.setdefault(name, []).append((after - before) / res.requests * 1e6)
                print(f"round {r + 1}/{args.rounds}  {name:<28} {res.requests_per_s:>9.0f} req/s",
                      file=sys.stderr)

    bare_runs = results["bare Starlette (baseline)"]
    base = statistics.median(r.requests_per_s for r in bare_runs)
    base_cpu = statistics.median(cpu_us.get("bare Starlette (baseline)", [0.0]))
    print(f"\nmeasures catalog ({len(expected)} measures), {args.connections} connections, "
          f"{args.seconds}s x {args.rounds} rounds, medians. per round: each round's ratio to "
          "that round's baseline, lowest-highest. cpu: the server's CPU time per request (all "
          "threads), and the baseline's divided by it\n")
    print(f"| {'variant':<28} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} "
          f"| {'vs bare':>7} | {'per round':>11} | {'cpu µs':>6} | {'cpu vs':>6} | errors |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 13}|{'-' * 8}"
          f"|{'-' * 8}|--------|")
    for name, runs in results.items():
        rps = statistics.median(r.requests_per_s for r in runs)
        rounds = [r.requests_per_s / b.requests_per_s for r, b in zip(runs, bare_runs, strict=True)]
        cpu = statistics.median(cpu_us.get(name, [0.0]))
        print(f"| {name:<28} | {rps:>8.0f} | {statistics.median(r.p50_ms for r in runs):>7.2f} | "
              f"{statistics.median(r.p99_ms for r in runs):>7.2f} | {rps / base:>6.3f}x | "
              f"{min(rounds):.2f}-{max(rounds):.2f}x | {cpu:>6.1f} | "
              f"{base_cpu / cpu if cpu else 0:>5.2f}x | {sum(r.errors for r in runs):>6} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
