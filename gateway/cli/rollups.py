"""`gateway rollups`: fold every stored event into the rollups now, with a progress bar.

The running gateway folds in the background (gateway/storage/rollups.py); this is for after
a large import or an upgrade, so dashboards read rollups at once. Safe while servers run:
folders take turns batch by batch (SQLite's write lock; PostgreSQL's watermark row lock).
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gateway.cli.admin import run_db
from gateway.settings import Settings
from gateway.storage import Database

__all__ = ["fold_backlog", "rollups"]


async def fold_backlog(db: Database, console: Console, label: str) -> tuple[int, int]:
    """Fold until none is left; returns (events behind at the start, events folded)."""
    behind = await db.rollup_lag()
    done = 0
    if not behind:
        return 0, 0
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("events"), TimeRemainingColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("fold", total=behind)
        # Waiting for a server's folder rather than skipping: the loop ends when all is done.
        while folded := await db.fold_rollups(wait=True):
            done += folded
            bar.update(task, completed=min(done, behind))
    await db.analyze()  # the rollup tables just grew by the whole backlog
    return behind, done


def rollups(settings: Settings, args: argparse.Namespace) -> int:
    console = Console(stderr=True)

    async def work(db: Database) -> tuple[int, int]:
        return await fold_backlog(db, console, "folding events into rollups")

    behind, done = run_db(settings, work)
    print(f"rollups hold every stored event (folded {done:,}; {behind:,} were behind)")
    return 0
