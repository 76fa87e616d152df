"""`gateway serve` and `gateway demo`.

`serve` does the start-up work that must happen once before any worker exists: the secret
(generated into its file on SQLite, else required), the migrations, the demo's seeding and
its rollups. Each uvicorn worker then only opens its own pool and background tasks (its
migration check finds nothing to do). Workers are spawned processes that import the gateway
before answering uvicorn's health check, so their start-up budget is a setting
(`GATEWAY_WORKER_STARTUP_SECONDS`), not uvicorn's 5 s.
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from gateway.cli.admin import run_db
from gateway.cli.rollups import fold_backlog
from gateway.demo import DemoResult, seed_demo
from gateway.settings import Settings
from gateway.storage import Database

__all__ = ["demo", "serve"]


def _seed(settings: Settings, days: int, console: Console) -> DemoResult:
    with Progress(TextColumn("[bold]seeding demo data"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} days"), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("seed", total=days)

        async def work(db: Database) -> DemoResult:
            return await seed_demo(db, settings, days=days,
                                   progress=lambda done, _total: bar.update(task, completed=done))

        result = run_db(settings, work)

    async def fold(db: Database) -> None:  # the demo's dashboards read rollups at once
        await fold_backlog(db, console, "building rollups")

    run_db(settings, fold)
    return result


def _banner(console: Console, settings: Settings, host: str, port: int, result: DemoResult) -> None:
    base = f"http://{host}:{port}"
    what = (f"seeded {result.events:,} events" if result.created
            else "demo data already present, kept as is")
    console.print(f"[green]demo:[/] {what}; pixel {result.pixel_id}")
    console.print(f"[green]API key[/] (shown once; a new one is minted each start): "
                  f"[bold]{result.key}[/]")
    console.print(f"GraphiQL:  {base}/graphql")
    console.print("Try:\n"
                  f"  curl -s {base}/db-mgmt/api/measures -H 'x-api-key: {result.key}' "
                  f"-H 'x-pixel-id: {result.pixel_id}'")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    console = Console(stderr=True)
    run_db(settings, lambda db: _noop())  # create and migrate before any worker starts
    if args.demo:
        _banner(console, settings, host, port, _seed(settings, 90, console))
    else:
        console.print(f"gateway on http://{host}:{port}  (GraphiQL at /graphql); "
                      f"database {settings.database_url}")
    uvicorn.run("gateway.asgi:app_factory", factory=True, host=host, port=port,
                workers=args.workers if not args.reload else None, reload=args.reload,
                log_level=settings.log_level, access_log=False,
                timeout_worker_healthcheck=settings.worker_startup_seconds)
    return 0


async def _noop() -> None:
    return None


def demo(settings: Settings, args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    result = _seed(settings, args.days, console)
    if args.json:
        print(json.dumps({"organization_id": result.organization_id, "pixel_id": result.pixel_id,
                          "key": result.key, "created": result.created,
                          "events": result.events}))
    else:
        _banner(console, settings, settings.host, settings.port, result)
    return 0
