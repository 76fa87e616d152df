"""Calibrate the cost budget (gateway/cost.py): measured server time against the estimate.

    python benchmarks/cost.py [--db /tmp/bench-cost.sqlite3] [--days 365] [--runs 3] [--fit]

The demo store (gateway.demo: one pixel in America/New_York, ~1,300 events a day) over
`--days` days, its rollups folded, and 20 dashboard views of 30 widgets; the file is made
once and reused. Each case is a real request through the app in process (httpx over ASGI,
the budget lifted so nothing is refused), sent `--runs` times after a warm-up; its server
time is the CPU time the process spent on it (SQLite's threads included: on this shared
machine wall time swings 2-4x with other work, CPU time much less), wall time shown too;
the estimate is what the gateway charged it (`X-Query-Cost`). Ratios near 1 mean the
constants fit this machine; the budget's default is chosen from the same table (the issue's
two hostile requests are the last rows).

`--fit` also finds the constants that fit the table best: each request is sent again with
one constant set to 1,000 and the others to 0 under a budget of -1, so the gateway refuses it
before anything runs and reports that constant's share in `extensions.cost` /
`X-Query-Cost`; non-negative least squares on the relative errors then gives the constants.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from graphql import get_introspection_query

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway import cost
from gateway.app import create_app
from gateway.catalog import CATALOG
from gateway.demo import seed_demo
from gateway.settings import Settings
from gateway.storage import Database

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CONSTANTS = ("QUERY_MS", "ROLLUP_DAY_MS", "RAW_ROW_MS", "POINT_MS", "CELL_MS",
             "ATTRIBUTION_DAY_MS", "COHORT_DAY_MS", "FIELD_MS", "ROOT_FIELD_MS", "WIDGET_MS")
SERIES = ("primary { dt start end dimensions { dimension value } values { measure value } } "
          "compare { dt start end values { measure value } } totals { measure value } "
          "measureDetails { measure primaryTotal compareTotal percentDiff }")
THREE = ["core.revenue", "core.orders", "web.sessions"]
TEN = [m.key for m in CATALOG][:10]
PAGE = "{ dashboardViews { id widgets { id title data { total points { start value } } } } }"


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # "/graphql" or a REST path
    body: dict[str, Any]
    fit: bool = True  # False: shown, left out of --fit


def _gql(name: str, document: str, *, fit: bool = True) -> Case:
    return Case(name, "/graphql", {"query": document}, fit)


def _q(**body: Any) -> dict[str, Any]:
    return {"measures": ["core.revenue"], "granularity": "day",
            "dateRange": {"preset": "last_30_days"}, **body}


def _analytics(alias: str, granularity: str, preset: str, measures: list[str],
               zone: str | None = None) -> str:
    tz = f', timezone: "{zone}"' if zone else ""
    names = ", ".join(f'"{m}"' for m in measures)
    return (f'{alias}analytics(input: {{measures: [{names}], granularity: {granularity}, '
            f'dateRange: {{preset: "{preset}"}}{tz}}}) {{ {SERIES} }}')


CASES = [
    Case("REST daily 30 d, 1 measure", "/db-mgmt/api/query", _q()),
    Case("REST daily 30 d, 3 measures by utm_source", "/db-mgmt/api/query",
         _q(measures=THREE, dimensions=["utm_source"])),
    Case("REST daily 365 d, 10 measures", "/db-mgmt/api/query",
         _q(measures=TEN, dateRange={"preset": "last_365_days"})),
    Case("REST daily 365 d, 3 measures by device, country", "/db-mgmt/api/query",
         _q(measures=THREE, dimensions=["device", "country"],
            dateRange={"preset": "last_365_days"})),
    Case("REST hourly 30 d, 1 measure", "/db-mgmt/api/query", _q(granularity="hour")),
    Case("REST hourly 90 d, 3 measures", "/db-mgmt/api/query",
         _q(measures=THREE, granularity="hour", dateRange={"preset": "last_90_days"})),
    Case("REST hourly 365 d, 1 measure", "/db-mgmt/api/query",
         _q(granularity="hour", dateRange={"preset": "last_365_days"})),
    Case("REST hourly 90 d Asia/Kolkata (raw), 3 measures", "/db-mgmt/api/query",
         _q(measures=THREE, granularity="hour", timezone="Asia/Kolkata",
            dateRange={"preset": "last_90_days"})),
    Case("REST daily 365 d Asia/Kolkata (raw), 3 measures", "/db-mgmt/api/query",
         _q(measures=THREE, timezone="Asia/Kolkata", dateRange={"preset": "last_365_days"})),
    Case("REST daily 365 d Asia/Kolkata (raw), 1 measure", "/db-mgmt/api/query",
         _q(timezone="Asia/Kolkata", dateRange={"preset": "last_365_days"})),
    Case("REST daily 90 d Asia/Kolkata (raw), 10 measures", "/db-mgmt/api/query",
         _q(measures=TEN, timezone="Asia/Kolkata", dateRange={"preset": "last_90_days"})),
    Case("REST minute 5 d (raw), 1 measure", "/db-mgmt/api/query",
         _q(granularity="minute", dateRange={"start": "2026-11-15", "end": "2026-11-19"},
            compare=False)),
    Case("REST month 365 d, 30 measures", "/db-mgmt/api/query",
         _q(measures=[m.key for m in CATALOG][:30], granularity="month",
            dateRange={"preset": "last_365_days"})),
    Case("REST attribution 30 d", "/db-mgmt/api/query-attribution",
         {"dateRange": {"preset": "last_30_days"}}),
    Case("REST attribution 180 d, linear", "/db-mgmt/api/query-attribution",
         {"dateRange": {"start": "2026-05-24", "end": "2026-11-19"},
          "attributionModel": "linear"}),
    Case("REST cohorts monthly 365 d", "/db-mgmt/api/query-cohort-analysis",
         {"dateRange": {"preset": "last_365_days"}}),
    Case("REST cohorts weekly 90 d", "/db-mgmt/api/query-cohort-analysis",
         {"dateRange": {"preset": "last_90_days"}, "granularity": "week"}),
    _gql("GraphQL hourly 30 d, 1 measure",
         "{ " + _analytics("", "HOUR", "last_30_days", ["core.revenue"]) + " }"),
    _gql("GraphQL hourly 90 d, 3 measures",
         "{ " + _analytics("", "HOUR", "last_90_days", THREE) + " }"),
    _gql("GraphQL hourly 365 d, 1 measure",
         "{ " + _analytics("", "HOUR", "last_365_days", ["core.revenue"]) + " }"),
    _gql("GraphQL daily 90 d by utm_source, totals only",
         '{ analytics(input: {measures: ["core.revenue"], dimensions: ["utm_source"], '
         'dateRange: {preset: "last_90_days"}}) { totals { value } } }'),
    _gql("GraphQL widget page (20 views x 30 widgets)", PAGE),
    _gql("GraphQL catalog (55 measures, cached)",
         "{ measures { key title description category unit format synonyms } }"),
    # Left out of the fit: graphql-core's own introspection resolvers are cheaper per field
    # than ours, and the estimate cannot know where a type reference ends.
    _gql("GraphQL introspection (GraphiQL's query)", get_introspection_query(), fit=False),
    _gql("GraphQL viewer and pixels", "{ viewer { kind scopes pixel { name timezone } } }"),
    _gql("issue: 10 aliased hourly fields, 90 d",
         "{ " + " ".join(_analytics(f"a{i}: ", "HOUR", "last_90_days", ["core.revenue"])
                        for i in range(10)) + " }"),
    _gql("issue: 30 aliased fields, a year, Asia/Kolkata",
         "{ " + " ".join(_analytics(f"a{i}: ", "DAY", "last_365_days", ["core.revenue"],
                                    "Asia/Kolkata") for i in range(30)) + " }"),
]


async def _arrange(settings: Settings, days: int) -> tuple[str, str]:
    db = Database(settings.database_url)
    await db.migrate()
    demo = await seed_demo(db, settings, now=NOW, days=days)
    if demo.created:
        print(f"seeded {demo.events:,} events over {days} days", file=sys.stderr)
    while await db.fold_rollups(50_000):
        pass
    await db.dispose()
    return demo.key, demo.pixel_id


async def _views(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    found = (await client.get("/accounts/api/dashboard/views", headers=headers)).json()
    have = len(found["views"])
    measures = [m.key for m in CATALOG][:30]
    for _ in range(have, 20):
        r = await client.post("/accounts/api/dashboard/views", headers=headers, json={
            "name": "bench", "configuration": {"widgets": [{"measure": m} for m in measures],
                                               "dateRange": {"preset": "last_30_days"}}})
        assert r.status_code == 200, r.text


async def _send(client: httpx.AsyncClient, case: Case, headers: dict[str, str]
                ) -> tuple[float, float, httpx.Response]:
    """(CPU ms of this process, its SQLite threads included; wall ms; the response)."""
    cpu, wall = time.process_time(), time.perf_counter()
    response = await client.post(case.path, json=case.body, headers=headers)
    return ((time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000,
            response)


def _charged(response: httpx.Response) -> float:
    header = response.headers.get("x-query-cost")
    if header is not None:
        return float(header)
    body = response.json()
    for error in body.get("errors") or []:
        found = (error.get("extensions") or {}).get("cost")
        if found is not None:
            return float(found)
    return 0.0


def _nnls(rows: list[list[float]], targets: list[float], sweeps: int = 20_000) -> list[float]:
    """min sum(((row . c) - t) / t)^2 over c >= 0, by cyclic coordinate descent."""
    a = [[x / t for x in row] for row, t in zip(rows, targets, strict=True)]
    n = len(a[0])
    c = [0.0] * n
    for _ in range(sweeps):
        for j in range(n):
            col = [r[j] for r in a]
            norm = sum(x * x for x in col)
            if not norm:
                continue
            resid = [sum(r[k] * c[k] for k in range(n)) - 1.0 for r in a]
            c[j] = max(0.0, c[j] - sum(x * e for x, e in zip(col, resid, strict=True)) / norm)
    return c


async def main(db_path: Path, days: int, runs: int, fit: bool) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db_path}",
                        secret="bench-cost-" + "x" * 32, alerts_enabled=False,
                        query_cost_budget_ms=10**9)
    key, pixel = await _arrange(settings, days)
    headers = {"x-api-key": key, "x-pixel-id": pixel, "content-type": "application/json"}
    app = create_app(settings, clock=lambda: NOW)
    rows: list[tuple[Case, float, float, float, int]] = []
    async with app.router.lifespan_context(app):
        state = app.state.gateway
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     timeout=600) as client:
            await _views(client, headers)
            for case in CASES:
                *_, response = await _send(client, case, headers)  # warm-up
                assert response.status_code == 200, (case.name, response.text[:300])
                assert "errors" not in response.json(), (case.name, response.text[:300])
                sent = [await _send(client, case, headers) for _ in range(runs)]
                rows.append((case, statistics.median(s[0] for s in sent),
                             statistics.median(s[1] for s in sent), _charged(sent[-1][2]),
                             len(response.content)))
                print(f"  {case.name}: {rows[-1][1]:.1f} ms", file=sys.stderr)
            features: list[list[float]] = []
            if fit:
                saved = {name: getattr(cost, name) for name in CONSTANTS}
                state.settings = replace(settings, query_cost_budget_ms=-1)  # refuse all
                try:
                    for case in CASES:
                        shares = []
                        for name in CONSTANTS:
                            for other in CONSTANTS:
                                setattr(cost, other, 1000.0 if other == name else 0.0)
                            *_, response = await _send(client, case, headers)
                            shares.append(_charged(response) / 1000)
                        features.append(shares)
                finally:
                    for name, value in saved.items():
                        setattr(cost, name, value)
                    state.settings = settings
    print(f"\nserver time measured (CPU ms, median of {runs}; wall ms for reference) vs "
          f"estimated (X-Query-Cost), {days}-day demo store\n")
    print(f"| {'request':<48} | {'bytes':>9} | {'wall ms':>8} | {'CPU ms':>8} "
          f"| {'estimate ms':>11} | {'est/CPU':>7} |")
    print(f"|{'-' * 50}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 13}|{'-' * 9}|")
    for case, measured, wall, estimate, size in rows:
        ratio = f"{estimate / measured:>7.2f}" if estimate else "      -"
        print(f"| {case.name:<48} | {size:>9,} | {wall:>8.1f} | {measured:>8.1f} "
              f"| {estimate:>11,.0f} | {ratio} |")
    if fit:
        used = [i for i, f in enumerate(features)  # a cached answer costs 0
                if any(f) and rows[i][0].fit]
        fitted = _nnls([features[i] for i in used], [rows[i][1] for i in used])
        print("\nconstants fitted (non-negative least squares on relative error):\n")
        for name, value in zip(CONSTANTS, fitted, strict=True):
            print(f"    {name} = {value:.4g}    (now {getattr(cost, name)})")
        print(f"\n| {'request':<48} | {'CPU ms':>11} | {'fitted ms':>9} | {'ratio':>6} |")
        for (case, measured, *_), shares in zip(rows, features, strict=True):
            est = sum(s * c for s, c in zip(shares, fitted, strict=True))
            print(f"| {case.name:<48} | {measured:>11.1f} | {est:>9.1f} | "
                  f"{est / measured:>6.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path,
                        default=Path(tempfile.gettempdir()) / "bench-cost.sqlite3")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.db, args.days, args.runs, args.fit))
