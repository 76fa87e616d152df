"""Serve the measures catalog three ways in one run and compare them under wrk.

    python benchmarks/catalog.py [--seconds 8] [--connections 32] [--rounds 3]

1. bare Starlette: the same JSON bytes, encoded once at start, no auth (baseline: the limit
   a cache reaches, so the ratios say what is left besides encoding)
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

from benchmarks._harness import WrkResult, bench_tenant, require_wrk, serve, wrk
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
    with serve("benchmarks._apps:bare_catalog_app", env) as bare, \
            serve("benchmarks._apps:gateway_app", env) as gw, \
            serve("benchmarks._apps:gateway_app",
                  {**env, "GATEWAY_GRAPHQL_RESULT_CACHE": "0"}) as raw:
        # Same payload everywhere, or the comparison means nothing (REST: the same bytes).
        baseline = httpx.get(f"{bare}/db-mgmt/api/measures")
        expected = baseline.json()["measures"]
        assert httpx.get(f"{gw}/db-mgmt/api/measures", headers=auth).content == baseline.content
        assert httpx.get(f"{gw}/bench/measures-operation",
                         headers=auth).json()["measures"] == expected
        gql = httpx.post(f"{gw}/graphql", content=QUERY, headers=gql_headers).json()
        assert [m["key"] for m in gql["data"]["measures"]] == [m["key"] for m in expected]
        variants = {
            "bare Starlette (baseline)": lambda: wrk(f"{bare}/db-mgmt/api/measures",
                                                     seconds=args.seconds,
                                                     connections=args.connections),
            "REST /db-mgmt/api/measures": lambda: wrk(f"{gw}/db-mgmt/api/measures",
                                                      seconds=args.seconds,
                                                      connections=args.connections,
                                                      headers=auth),
            "GraphQL { measures }": lambda: wrk(f"{gw}/graphql", seconds=args.seconds,
                                                connections=args.connections, method="POST",
                                                headers=gql_headers, body=QUERY),
            "GraphQL, result cache off": lambda: wrk(f"{raw}/graphql", seconds=args.seconds,
                                                     connections=args.connections,
                                                     method="POST", headers=gql_headers,
                                                     body=QUERY),
            "REST via stored operation": lambda: wrk(f"{gw}/bench/measures-operation",
                                                     seconds=args.seconds,
                                                     connections=args.connections,
                                                     headers=auth),
            "REST stored op, cache off": lambda: wrk(f"{raw}/bench/measures-operation",
                                                     seconds=args.seconds,
                                                     connections=args.connections,
                                                     headers=auth),
        }
        wrk(f"{gw}/db-mgmt/api/measures", seconds=1, connections=4, headers=auth)
        wrk(f"{gw}/graphql", seconds=1, connections=4, method="POST", headers=gql_headers,
            body=QUERY)
        for r in range(args.rounds):
            for name, run in variants.items():
                res = run()
                results.setdefault(name, []).append(res)
                print(f"round {r + 1}/{args.rounds}  {name:<28} {res.requests_per_s:>9.0f} req/s",
                      file=sys.stderr)

    base = statistics.median(r.requests_per_s for r in results["bare Starlette (baseline)"])
    print(f"\nmeasures catalog ({len(expected)} measures), {args.connections} connections, "
          f"{args.seconds}s x {args.rounds} rounds, medians\n")
    print(f"| {'variant':<28} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} "
          f"| {'vs bare':>7} | errors |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|--------|")
    for name, runs in results.items():
        rps = statistics.median(r.requests_per_s for r in runs)
        print(f"| {name:<28} | {rps:>8.0f} | {statistics.median(r.p50_ms for r in runs):>7.2f} | "
              f"{statistics.median(r.p99_ms for r in runs):>7.2f} | {rps / base:>6.3f}x | "
              f"{sum(r.errors for r in runs):>6} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
