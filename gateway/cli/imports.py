"""`gateway import events FILE` and `gateway import spend FILE`: bulk loads through the same
`track_events` service as the API (same rules, same duplicate handling, same writer).

- events: JSON Lines (one event object per line) or CSV (a header row of event field names;
  `properties` holds JSON text). The format follows the extension (.jsonl/.ndjson/.json vs
  .csv) unless `--format` says otherwise.
- spend: CSV with `date, platform, campaign, spend, impressions, clicks` (and optionally
  `currency`), one row per platform, campaign and day; stored as `ad_spend` events.

Idempotent on re-run: a row without `event_id` gets one derived from its content (events:
`import:` + SHA-256 of the row; spend: `ad_spend:<platform>:<campaign>:<date>`, the id the
demo data uses), so importing a file twice, or resuming after an interruption, stores every
row once and reports the rest as duplicates. Bad rows are reported by line number and never
stop the import; the exit status is 1 when there were any.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gateway.auth.principal import Principal, system_principal
from gateway.cli.admin import CommandError, run_db
from gateway.errors import InvalidInput
from gateway.services.event_rules import EVENT_FIELDS
from gateway.services.events import IngestLimits, track_events
from gateway.settings import Settings
from gateway.storage import Database
from gateway.storage.tenancy import find_pixel, list_organizations, list_pixels

__all__ = ["ImportReport", "import_events", "import_spend"]

SPEND_COLUMNS = ("date", "platform", "campaign", "spend", "impressions", "clicks")
_FLOATS = frozenset({"revenue", "value", "amount", "spend"})
_INTS = frozenset({"impressions", "clicks"})
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

# (line number, the event) or (line number, the reason it could not be read)
Parsed = tuple[int, dict[str, Any] | str]


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "accepted": self.accepted, "duplicates": self.duplicates,
                "bad_rows": [{"line": line, "reason": reason} for line, reason in self.bad]}


def _content_id(event: dict[str, Any]) -> str:
    digest = hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"import:{digest[:40]}"


def _cell(column: str, text: str) -> Any:
    """A CSV cell as the JSON value the API would have received."""
    if column in _FLOATS:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None
    if column in _INTS:
        if not text.isdigit():
            raise ValueError(f"not a whole number: {text!r}")
        return int(text)
    if column == "new_customer":
        if text.lower() not in _BOOLS:
            raise ValueError("must be true or false")
        return _BOOLS[text.lower()]
    if column == "properties":
        return orjson.loads(text)
    if column == "timestamp" and text.isdigit():
        return int(text)
    return text


def _csv_rows(path: Path, allowed: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = [h for h in header if h not in allowed]
        if not header or unknown:
            raise CommandError(f"{path}: unknown CSV column(s) {', '.join(unknown) or '(none)'}; "
                               f"expected some of: {', '.join(allowed)}")
        reader.fieldnames = header
        for raw in reader:
            line = reader.line_num
            if None in raw:
                yield line, "more cells than header columns"
                continue
            event: dict[str, Any] = {}
            try:
                for column, text in raw.items():
                    if text is not None and text.strip() != "":
                        event[column] = _cell(column, text.strip())
            except ValueError as exc:
                yield line, f"{column}: {exc}"
                continue
            yield line, event


def _jsonl_rows(path: Path) -> Iterator[Parsed]:
    with path.open("rb") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                event = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield line, f"malformed JSON: {exc}"
                continue
            yield line, event if isinstance(event, dict) else "not a JSON object"


def event_rows(path: Path, fmt: str) -> Iterator[Parsed]:
    if fmt == "auto":
        fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    source = _csv_rows(path, EVENT_FIELDS) if fmt == "csv" else _jsonl_rows(path)
    for line, event in source:
        if isinstance(event, dict) and event.get("event_id") in (None, ""):
            yield line, {**event, "event_id": _content_id(event)}
        else:
            yield line, event


def spend_rows(path: Path) -> Iterator[Parsed]:
    for line, row in _csv_rows(path, (*SPEND_COLUMNS, "currency")):
        if isinstance(row, str):
            yield line, row
            continue
        missing = [c for c in ("date", "platform", "spend") if c not in row]
        if missing:
            yield line, f"missing {', '.join(missing)}"
            continue
        event_id = (f"ad_spend:{str(row['platform']).lower()}:{row.get('campaign', '')}:"
                    f"{row['date']}")
        yield line, {"name": "ad_spend", "event_id": event_id, **row}


async def _principal(db: Database, pixel_id: str | None) -> Principal:
    async with db.session() as session:
        if pixel_id is not None:
            pixel = await find_pixel(session, pixel_id)
            if pixel is None:
                raise CommandError(f"no pixel {pixel_id}")
        else:
            pixels = [p for o in await list_organizations(session)
                      for p in await list_pixels(session, o.id)]
            if len(pixels) != 1:
                raise CommandError("pass --pixel ID (see `gateway pixels list`)" if pixels
                                   else "no pixel yet: `gateway pixels create --name …`")
            pixel = pixels[0]
    return replace(system_principal(pixel.organization_id), pixel_id=pixel.id)


async def _send(db: Database, principal: Principal, batch: list[tuple[int, dict[str, Any]]],
                limits: IngestLimits, report: ImportReport) -> None:
    lines = [line for line, _ in batch]
    try:
        result = await track_events(db, principal, [e for _, e in batch],
                                    now=datetime.now(UTC), limits=limits)
    except InvalidInput as exc:  # no row of the batch was usable
        report.bad.extend((lines[int(d.path[1])], d.message) for d in exc.details)
        return
    report.accepted += result.accepted
    report.duplicates += len(result.duplicates)
    report.bad.extend((lines[e.index], e.error.message) for e in result.errors)


def _run(settings: Settings, args: argparse.Namespace, rows: Iterator[Parsed]) -> ImportReport:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    with path.open("rb") as f:
        total = sum(1 for _ in f)
    limits = IngestLimits.from_settings(settings)
    report = ImportReport()
    console = Console(stderr=True)

    async def work(db: Database) -> ImportReport:
        principal = await _principal(db, args.pixel)
        batch: list[tuple[int, dict[str, Any]]] = []
        with Progress(TextColumn(f"[bold]importing {path.name}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("lines"), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("import", total=total)
            for line, item in rows:
                report.rows += 1
                if isinstance(item, str):
                    report.bad.append((line, item))
                else:
                    batch.append((line, item))
                if len(batch) >= limits.max_batch:
                    await _send(db, principal, batch, limits, report)
                    batch = []
                    bar.update(task, completed=line)
            if batch:
                await _send(db, principal, batch, limits, report)
            bar.update(task, completed=total)
        if report.accepted:
            await db.analyze()  # the planner's statistics include what was just loaded
        return report

    run_db(settings, work)
    report.bad.sort()
    return report


def _print(report: ImportReport, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(report.as_dict()))
        return 1 if report.bad else 0
    console = Console()
    console.print(f"{report.rows:,} rows: [green]{report.accepted:,} stored[/], "
                  f"{report.duplicates:,} already present (duplicates), "
                  f"[{'red' if report.bad else 'green'}]{len(report.bad):,} bad[/]")
    if report.bad:
        shown = report.bad[:50]
        table = Table("line", "reason", title="bad rows (not imported)")
        for line, reason in shown:
            table.add_row(str(line), reason)
        console.print(table)
        if len(report.bad) > len(shown):
            console.print(f"… and {len(report.bad) - len(shown):,} more (use --json for all)")
    return 1 if report.bad else 0


def import_events(settings: Settings, args: argparse.Namespace) -> int:
    return _print(_run(settings, args, event_rows(Path(args.file), args.format)), args)


def import_spend(settings: Settings, args: argparse.Namespace) -> int:
    return _print(_run(settings, args, spend_rows(Path(args.file))), args)
