"""`gateway serve` and `gateway demo`.

`serve` checks that it can listen on the port before it touches anything (no demo key is
minted for a server that cannot start), then runs uvicorn on `gateway.asgi:app_factory`
(which sets up the access log: gateway/observe.py; uvicorn's own access log stays off, as
ours carries the request id and the key's prefix). With `--workers N` (N > 1) it points
prometheus_client's multiprocess mode at a fresh directory, so `/metrics` answers the sum
over the workers whichever one a scrape reaches (gateway/metrics.py).

The demo banner is printed without wrapping: its `export` and `curl` lines are one line
each, to paste as they are.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from gateway.cli.admin import CommandError, run_db
from gateway.cli.rollups import fold_backlog
from gateway.demo import DemoResult, seed_demo
from gateway.settings import Settings
from gateway.storage import Database

__all__ = ["banner_lines", "demo", "serve"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


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


def banner_lines(host: str, port: int, result: DemoResult) -> list[str]:
    """The demo banner, line by line (each pastes as it is: nothing in it is wrapped)."""
    base = f"http://{host}:{port}"
    what = (f"seeded {result.events:,} events" if result.created
            else "demo data already present, kept as is")
    return [
        f"demo: {what}; pixel {result.pixel_id}",
        "API key (shown once; any earlier demo key is now revoked):",
        f"  {result.key}",
        f"GraphiQL: {base}/graphql",
        "Set up your shell (paste this line):",
        f"export GATEWAY_URL={base} KEY={result.key} PIXEL={result.pixel_id}",
        "Then try:",
        ('curl -s "$GATEWAY_URL/db-mgmt/api/measures" -H "x-api-key: $KEY" '
         '-H "x-pixel-id: $PIXEL"'),
        f"{_program()} client measures --search roas",
    ]


def _program() -> str:
    """How this command was invoked (`.venv/bin/gateway`), so the line runs as pasted."""
    invoked = sys.argv[0] if sys.argv else ""
    return invoked if Path(invoked).name == "gateway" else "gateway"


def _banner(host: str, port: int, result: DemoResult) -> None:
    # Plain print, not rich: rich wraps at the terminal's width, and a key cut in two does
    # not paste.
    print("\n".join(banner_lines(host, port, result)), file=sys.stderr, flush=True)


def _check_port(host: str, port: int) -> None:
    """Raise CommandError unless this process could listen on host:port now (as uvicorn
    will: SO_REUSEADDR, so a port in TIME_WAIT is not taken)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"--host {host}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            reason = "already in use (another gateway?)" if taken else exc.strerror
            raise CommandError(f"cannot listen on {host}:{port}: {reason}; pick another "
                               "with --port or GATEWAY_PORT") from exc


@contextmanager
def _metrics_across_workers(settings: Settings, workers: int) -> Iterator[None]:
    """Several workers: prometheus_client's multiprocess mode in a clean directory (the
    operator's PROMETHEUS_MULTIPROC_DIR, emptied of the last run's files, or a temporary
    one removed on exit). Set in the environment because the workers read it there, and
    before they start, since prometheus_client chooses its mode when first imported."""
    if workers <= 1 or not settings.metrics:
        yield
        return
    given = settings.metrics_multiprocess_dir
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    if given:
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(path, ignore_errors=True)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    _check_port(host, port)
    console = Console(stderr=True)
    run_db(settings, lambda db: _noop())  # create and migrate before any worker starts
    if args.demo:
        _banner(host, port, _seed(settings, args.days, console))
    else:
        console.print(f"gateway on http://{host}:{port}  (GraphiQL at /graphql); "
                      f"database {settings.database_url}", soft_wrap=True)
    workers = 1 if args.reload else args.workers
    with _metrics_across_workers(settings, workers):
        uvicorn.run("gateway.asgi:app_factory", factory=True, host=host, port=port,
                    workers=None if args.reload else workers, reload=args.reload,
                    log_level=settings.log_level, access_log=False)
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
        _banner(settings.host, settings.port, result)
    return 0
