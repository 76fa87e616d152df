"""How `gateway client` prints: tables (rich), JSON, CSV, and terminal sparklines.

Tables go to the terminal's width; a sparkline gets one character per bucket when the
series fits in the room left beside the table's other columns, else adjacent buckets are
averaged down to that room (at least 8 characters, or no sparkline).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["emit_csv", "emit_json", "format_number", "sparkline", "table"]

_BARS = "▁▂▃▄▅▆▇█"
MIN_SPARK = 8


def _resample(values: Sequence[float | None], width: int) -> list[float | None]:
    if len(values) <= width:
        return list(values)
    out: list[float | None] = []
    for i in range(width):
        chunk = [v for v in values[i * len(values) // width:(i + 1) * len(values) // width]
                 if v is not None]
        out.append(sum(chunk) / len(chunk) if chunk else None)
    return out


def sparkline(values: Sequence[float | None], width: int) -> str:
    """`values` as bars in at most `width` characters ('' below MIN_SPARK or for fewer than
    two points); a missing value is a space, a flat series the lowest bar."""
    if width < MIN_SPARK or len(values) < 2:
        return ""
    series = _resample(values, width)
    known = [v for v in series if v is not None and math.isfinite(v)]
    if not known:
        return " " * len(series)
    low, high = min(known), max(known)
    span = high - low
    return "".join(
        " " if v is None or not math.isfinite(v)
        else _BARS[0] if span == 0 else _BARS[min(7, int((v - low) / span * 8))]
        for v in series)


def format_number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def table(console: Console, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
          title: str | None = None, numeric: Sequence[str] = (),
          whole: Sequence[str] = ("id", "key")) -> None:
    """`whole` columns are never wrapped (ids and keys are pasted into the next command);
    the others wrap to make room."""
    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, justify="right" if c in numeric else "left",
                     no_wrap=c in whole, overflow="ignore" if c in whole else "fold")
    for row in rows:
        t.add_row(*(v if isinstance(v, str) else format_number(v) for v in row))
    console.print(t)


def emit_json(console: Console, value: Any) -> None:
    # print, not rich: JSON is for pipes, and rich would wrap and colour it
    console.file.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def emit_csv(console: Console, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    console.file.write(out.getvalue())
